package gameloop

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"

	"comet"
)

func decodeAll(data []byte) (map[string]any, error) {
	got := map[string]any{}
	err := DecodeFlat("test", data, func(key []byte, v FlatValue) error {
		switch v.Kind {
		case FlatNumber:
			got[string(key)] = v.Num
		case FlatBool:
			got[string(key)] = v.Bool
		default:
			got[string(key)] = nil
		}
		return nil
	})
	return got, err
}

func TestDecodeFlat(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]any // nil: an error
	}{
		{`{"m":3,"a":-12.5,"f":true}`, map[string]any{"m": 3.0, "a": -12.5, "f": true}},
		{" {\n\t\"x\" : 1e2 , \"y\":null } ", map[string]any{"x": 100.0, "y": nil}},
		{`{}`, map[string]any{}},
		{`{"m":-0}`, map[string]any{"m": 0.0}},
		{`{"m":1,"m":2}`, nil},  // duplicate key
		{`{"m":"3"}`, nil},      // string value
		{`{"m":[3]}`, nil},      // array
		{`{"m":{"x":1}}`, nil},  // nested
		{`{"m":NaN}`, nil},      // not JSON
		{`{"m":Infinity}`, nil}, // not JSON
		{`{"m":1e999}`, nil},    // overflows float64
		{`{"m":01}`, nil},       // leading zero
		{`{"m":+1}`, nil},       // plus sign
		{`{"m":1.}`, nil},       // no fraction digits
		{`{"m":.5}`, nil},       // no integer part
		{`{"m":0x10}`, nil},     // hex
		{`{"m":1}x`, nil},       // trailing data
		{`{"m":1}{}`, nil},      // two values
		{`{"m\u0041":1}`, nil},  // escaped key
		{`{"m":1,}`, nil},       // trailing comma
		{`[1]`, nil},            // not an object
		{``, nil},               // empty
		{`{"m":tru}`, nil},      // bad literal
		{`{"m":1`, nil},         // unterminated
	}
	for _, c := range cases {
		got, err := decodeAll([]byte(c.in))
		switch {
		case c.want == nil && err == nil:
			t.Errorf("%s: accepted as %v, want an error", c.in, got)
		case c.want == nil && comet.ErrorCode(err) != comet.EINVALID:
			t.Errorf("%s: error %v is not EINVALID", c.in, err)
		case c.want != nil && err != nil:
			t.Errorf("%s: %v", c.in, err)
		case c.want != nil && !maps.Equal(got, c.want):
			t.Errorf("%s: got %v, want %v", c.in, got, c.want)
		}
	}
	big := append([]byte(`{"m":1`), bytes.Repeat([]byte(" "), MaxInputBytes)...)
	if _, err := decodeAll(append(big, '}')); err == nil {
		t.Error("oversized input accepted")
	}
}

func TestDecodeFlatAllocatesNothing(t *testing.T) {
	data := []byte(`{"m":3,"a":127.25,"f":true}`)
	n := testing.AllocsPerRun(100, func() {
		_ = DecodeFlat("test", data, func([]byte, FlatValue) error { return nil })
	})
	if n != 0 {
		t.Errorf("DecodeFlat allocates %.0f times per input", n)
	}
}

// FuzzDecodeFlat checks DecodeFlat against encoding/json: whatever it
// accepts, encoding/json accepts with the same values; and a flat object of
// plain keys that encoding/json accepts is accepted too.
func FuzzDecodeFlat(f *testing.F) {
	for _, s := range []string{`{"m":3,"a":-12.5,"f":true}`, `{"d":1}`, `{"x":null}`, `{"m":1e308}`, `{"m":-0.0e-5}`, `{"a":1,"a":2}`, `{"k":"v"}`, ` { } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeAll(data)
		var want map[string]any
		jerr := json.Unmarshal(data, &want)
		if err == nil {
			if jerr != nil {
				t.Fatalf("DecodeFlat accepted %q, encoding/json: %v", data, jerr)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("%q: DecodeFlat %v, encoding/json %v", data, got, want)
			}
			return
		}
		if comet.ErrorCode(err) != comet.EINVALID {
			t.Fatalf("%q: error %v is not EINVALID", data, err)
		}
		if jerr == nil && len(data) <= MaxInputBytes && flatPlain(data, want) {
			t.Fatalf("DecodeFlat rejected %q (%v), a flat object encoding/json reads as %v", data, err, want)
		}
	})
}

// flatPlain reports whether a JSON object that decoded to m is within what
// DecodeFlat promises to read: ≤16 distinct plain-ASCII keys written without
// escapes, values numbers, booleans or null, no key given twice.
func flatPlain(data []byte, m map[string]any) bool {
	if m == nil || len(m) > 16 || bytes.Contains(data, []byte(`\`)) {
		return false
	}
	for k, v := range m {
		for _, c := range []byte(k) {
			if c < 0x20 || c >= 0x7f {
				return false
			}
		}
		switch v.(type) {
		case float64, bool, nil:
		default:
			return false
		}
	}
	// A duplicate key decodes to fewer members than it has colons outside
	// strings; with no strings as values, counting ':' is exact.
	return bytes.Count(data, []byte(":")) == len(m)
}
