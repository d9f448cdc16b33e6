package push

import (
	"strings"
	"testing"
	"unsafe"

	"comet"
)

// BenchmarkWSDecode is the cost of decoding one upstream text message of
// 1 KiB as one read returns it: whole (unmasked in place, no copy), cut in
// two reads (kept until the frame ends), and in four fragments.
func BenchmarkWSDecode(b *testing.B) {
	text := `[{"seq":1,"type":"in","data":{"k":"` + strings.Repeat("κx", 336) + `"}}]`
	whole := wsC(0x81, text)
	frags := wsCat(wsC(0x01, text[:256]), wsC(0x00, text[256:512]), wsC(0x00, text[512:768]), wsC(0x80, text[768:]))
	for _, c := range []struct {
		name   string
		in     []byte
		splits []int
	}{
		{"whole", whole, nil},
		{"two reads", whole, []int{len(whole) / 2}},
		{"four fragments", frags, nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, len(c.in))
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, c.in)
				var d WSDecoder
				var got int
				from := 0
				for _, to := range append(c.splits, len(buf)) {
					for p := buf[from:to]; len(p) > 0; {
						m, n, err := d.Next(p)
						if err != nil {
							b.Fatal(err)
						}
						p = p[n:]
						got += len(m.Payload)
					}
					from = to
				}
				if got != len(text) {
					b.Fatalf("decoded %d bytes", got)
				}
			}
		})
	}
}

// BenchmarkWSEncodeBatch is one flush's framing of a 16-event batch as one
// text message, into a reused buffer.
func BenchmarkWSEncodeBatch(b *testing.B) {
	evs := make([]event, 16)
	for i := range evs {
		evs[i] = event{seq: uint64(1000 + i), msg: comet.MustMessage("x.y", map[string]any{"t": i, "c": [][]int{{1, 0, 23, 1, 45}}})}
	}
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		buf = WrapWSFrame(appendJSONBatch(buf[:0], evs), 0, WSText)
	}
	b.SetBytes(int64(len(buf)))
}

// TestWSDecoderSize keeps the per-connection state small: it is what an idle
// WebSocket costs beyond an idle stream.
func TestWSDecoderSize(t *testing.T) {
	if s := unsafe.Sizeof(WSDecoder{}); s > 128 {
		t.Errorf("WSDecoder is %d bytes, over 128", s)
	}
}
