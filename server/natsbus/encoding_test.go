package natsbus

import (
	"bytes"
	"testing"

	"comet"
)

// FuzzDecode: no payload makes the decoder panic, and whatever it accepts
// is a frame a transport may write, that survives encoding again.
func FuzzDecode(f *testing.F) {
	good := appendMessage(nil, 7, comet.MustMessage("chat.msg", map[string]string{"text": "<hi>"}).WithFlags(comet.Filtered))
	f.Add(good)
	f.Add(good[:11])
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, `"type":"x","data":1}`...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d decoder
		origin, m, err := d.decode(data)
		if err != nil {
			return
		}
		if !d.wellFormed(m.Frame) {
			t.Fatalf("accepted a frame that is not well formed: %q", m.Frame)
		}
		o2, m2, err := d.decode(appendMessage(nil, origin, m))
		if err != nil || o2 != origin || m2.Type != m.Type || m2.From != m.From || m2.Flags != m.Flags || !bytes.Equal(m2.Frame, m.Frame) {
			t.Fatalf("%q did not survive encoding again: %v", data, err)
		}
	})
}

func TestWellFormed(t *testing.T) {
	for frame, want := range map[string]bool{
		`"type":"x","data":{"a":1}}`:          true,
		`"type":"x","data":"\u003cb\u003e"}`:  true,
		`"type":"x","data":"<b>"}`:            false,
		`"type":"x","data":"a&b"}`:            false,
		"\"type\":\"x\",\"data\":\"\u2028\"}": false,
		`"type":"x","data":{"a":1}`:           false,
		`"type":"x","data":{"a":1}}}`:         false,
		`"tipe":"x","data":1}`:                false,
		``:                                    false,
	} {
		var d decoder
		if got := d.wellFormed([]byte(frame)); got != want {
			t.Errorf("wellFormed(%q) = %v, want %v", frame, got, want)
		}
	}
}
