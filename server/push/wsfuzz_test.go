package push

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"unicode/utf8"
)

// FuzzWSDecoder feeds arbitrary bytes: the decoder never panics, never holds
// more than the message limit plus one control payload, decodes the same
// whatever the read boundaries, and yields only messages within the rules.
func FuzzWSDecoder(f *testing.F) {
	for _, c := range wsDecodeCases() {
		if len(c.in) < 1024 {
			f.Add(c.in, uint16(c.max), c.binary, uint64(len(c.in)))
		}
	}
	// Partial frames: a header cut short, a payload cut short.
	f.Add([]byte{0x81, 0xFE, 0x01}, uint16(0), false, uint64(1))
	f.Add(wsC(0x01, "Hel")[:6], uint16(8), false, uint64(2))
	f.Add(wsCat(wsC(0x01, "Hel"), wsC(0x89, "ping")[:4]), uint16(8), false, uint64(3))
	f.Fuzz(func(t *testing.T, in []byte, max uint16, binary bool, seed uint64) {
		c := wsCase{in: in, max: int(max), binary: binary}
		limit := c.max
		if limit == 0 {
			limit = WSDefaultMaxMessage
		}
		whole, code := wsDecode(t, c, [][]byte{bytes.Clone(in)})
		for way, chunks := range wsSplits(in, 1+int(seed%3)) {
			got, code2 := wsDecode(t, c, wsCopy(chunks))
			if fmt.Sprint(got) != fmt.Sprint(whole) || code2 != code {
				t.Fatalf("%s: %v, close %d; whole: %v, close %d", way, got, code2, whole, code)
			}
		}
		for i, m := range whole {
			switch m.op {
			case WSText, WSBinary:
				if len(m.payload) > limit || m.op == WSText && !utf8.ValidString(m.payload) || m.op == WSBinary && !binary {
					t.Fatalf("message %d breaks the rules: %v", i, m)
				}
			case WSPing, WSPong:
				if len(m.payload) > wsMaxControl {
					t.Fatalf("control frame %d: %v", i, m)
				}
			case WSClose:
				if i != len(whole)-1 || !(m.code == WSCloseNoStatus || WSValidCloseCode(m.code)) || !utf8.ValidString(m.payload) {
					t.Fatalf("close %d of %d: %v", i, len(whole), m)
				}
			default:
				t.Fatalf("opcode %d", m.op)
			}
		}
		switch code {
		case 0, 1002, 1003, 1007, 1009:
		default:
			t.Fatalf("close code %d", code)
		}
	})
}

// FuzzWSRoundTrip: what the encoder produces, masked and cut into fragments
// as a browser may send it, with pings between the fragments, decodes to the
// same message; a close frame keeps its code and reason.
func FuzzWSRoundTrip(f *testing.F) {
	f.Add([]byte("Hello"), []byte{3}, uint32(0x3d21fa37), uint16(1000), "bye")
	f.Add([]byte("κόσμε"), []byte{1, 2, 0, 7}, uint32(1), uint16(4000), "κόσμε")
	f.Add(bytes.Repeat([]byte("x"), 300), []byte{200, 0, 1}, uint32(0xffffffff), uint16(1005), "")
	f.Add([]byte{0xff, 0x00}, []byte{}, uint32(7), uint16(3000), "r")
	f.Fuzz(func(t *testing.T, payload, cuts []byte, key uint32, code uint16, reason string) {
		var k [4]byte
		binary.LittleEndian.PutUint32(k[:], key)
		op := WSText
		if !utf8.Valid(payload) {
			op = WSBinary
		}
		// Cut the payload where cuts says; an odd cut puts a ping after the piece.
		var in []byte
		var want []wsGot
		rest := payload
		for i := 0; ; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(n, int(cuts[i]))
			}
			last := n == len(rest)
			in = append(in, wsMaskFrames(AppendWSFrame(nil, op, rest[:n]), k, true, i == 0, last)...)
			rest = rest[n:]
			if last {
				break
			}
			if cuts[i]%2 == 1 {
				ping := fmt.Sprint(i)
				in = append(in, wsMaskFrames(AppendWSFrame(nil, WSPing, []byte(ping)), k, false, false, false)...)
				want = append(want, wsGot{op: WSPing, payload: ping})
			}
		}
		want = append(want, wsGot{op: op, payload: string(payload)})
		if !WSValidCloseCode(code) {
			code = WSCloseNoStatus
		}
		if !utf8.ValidString(reason) {
			reason = "not UTF-8"
		}
		closeFrame := AppendWSClose(nil, code, reason)
		wantReason := string(closeFrame[min(len(closeFrame), 4):])
		if !bytes.HasPrefix([]byte(reason), []byte(wantReason)) || code != WSCloseNoStatus && len(reason) <= 123 && wantReason != reason {
			t.Fatalf("close reason %q cut to %q", reason, wantReason)
		}
		in = append(in, wsMaskFrames(closeFrame, k, false, false, false)...)
		want = append(want, wsGot{op: WSClose, code: code, payload: wantReason})
		c := wsCase{in: in, max: len(payload), binary: op == WSBinary}
		for way, chunks := range wsSplits(in, 2) {
			got, code := wsDecode(t, c, wsCopy(chunks))
			if fmt.Sprint(got) != fmt.Sprint(want) || code != 0 {
				t.Fatalf("%s: got %v, close %d; want %v", way, got, code, want)
			}
		}
	})
}

// FuzzWSUTF8: the incremental validator agrees with utf8.Valid however the
// text is cut.
func FuzzWSUTF8(f *testing.F) {
	f.Add([]byte("κόσμε"), []byte{1, 2})
	f.Add([]byte("\xed\xa0\x80"), []byte{1})
	f.Add([]byte("ascii then \xf4\x90\x80\x80"), []byte{13, 1, 1})
	f.Fuzz(func(t *testing.T, s, cuts []byte) {
		var u wsUTF8
		ok, rest := true, s
		for _, c := range cuts {
			n := min(int(c), len(rest))
			ok = ok && u.feed(rest[:n])
			rest = rest[n:]
		}
		ok = ok && u.feed(rest) && u.complete()
		if ok != utf8.Valid(s) {
			t.Fatalf("%q cut at %v: valid %v", s, cuts, ok)
		}
	})
}

// FuzzWSAck feeds arbitrary messages to the acknowledgement parser: it never
// panics, takes every message that does not start with '{' as not an ack,
// and whatever it accepts is a JSON object {"last": N} that encoding/json
// reads as the same N.
func FuzzWSAck(f *testing.F) {
	for _, s := range []string{`{"last":7}`, ` {"last" : 0 } `, `{"last":18446744073709551615}`, `{"last":-1}`, `{"last":1e2}`, `[]`, `{`, `{"last":7}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		last, isAck, err := parseWSAck(in)
		trimmed := bytes.TrimLeft(in, " \t\r\n")
		if isAck != (len(trimmed) > 0 && trimmed[0] == '{') {
			t.Fatalf("parseWSAck(%q): isAck %v", in, isAck)
		}
		if !isAck || err != nil {
			return
		}
		var v map[string]uint64
		if jerr := json.Unmarshal(in, &v); jerr != nil || len(v) != 1 || v["last"] != last {
			t.Fatalf("parseWSAck(%q) = %d, but encoding/json reads %v (%v)", in, last, v, jerr)
		}
	})
}
