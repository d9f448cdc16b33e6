package push

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"comet"
)

// wsKey is the masking key of RFC 6455 §5.7's masked examples.
var wsKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// wsRaw builds a client frame: b0 is FIN, RSV and opcode; form forces the
// length encoding (0 minimal, 126 or 127); masked false leaves out the key.
func wsRaw(b0 byte, masked bool, form int, payload []byte) []byte {
	n := len(payload)
	if form == 0 {
		form = n
		if n > 125 {
			form = 126
		}
		if n > 0xFFFF {
			form = 127
		}
	}
	var m byte
	if masked {
		m = 0x80
	}
	b := []byte{b0}
	switch form {
	case 126:
		b = binary.BigEndian.AppendUint16(append(b, m|126), uint16(n))
	case 127:
		b = binary.BigEndian.AppendUint64(append(b, m|127), uint64(n))
	default:
		b = append(b, m|byte(n))
	}
	if !masked {
		return append(b, payload...)
	}
	b = append(b, wsKey[:]...)
	for i, c := range payload {
		b = append(b, c^wsKey[i&3])
	}
	return b
}

// wsC is a masked client frame with a minimal length.
func wsC(b0 byte, payload string) []byte { return wsRaw(b0, true, 0, []byte(payload)) }

// wsCloseBody is a close frame's payload: code then reason.
func wsCloseBody(code uint16, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, code)) + reason
}

func wsCat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// wsGot is one decoded message as the tests compare it.
type wsGot struct {
	op      WSOpcode
	payload string
	code    uint16
}

func (g wsGot) String() string {
	p := g.payload
	if len(p) > 40 {
		p = fmt.Sprintf("%.20q…(%d bytes)", p, len(p))
	}
	return fmt.Sprintf("{op %d %q code %d}", g.op, p, g.code)
}

type wsCase struct {
	name   string
	in     []byte
	max    int
	binary bool
	want   []wsGot
	code   uint16 // the decoder's close code, 0 when the input is all valid
}

func wsDecodeCases() []wsCase {
	x256 := strings.Repeat("x", 256)
	x64k := strings.Repeat("y", 65536)
	x16k := strings.Repeat("z", 16<<10)
	kosme := "κόσμε" // 0xce 0xba 0xe1 0xbd 0xb9 0xcf 0x83 0xce 0xbc 0xce 0xb5
	return []wsCase{
		// RFC 6455 §5.7, byte for byte.
		{name: "rfc masked Hello", in: []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
			want: []wsGot{{op: WSText, payload: "Hello"}}},
		{name: "rfc unmasked Hello is refused", in: []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, code: 1002},
		{name: "rfc fragmented Hel lo", in: wsCat(wsC(0x01, "Hel"), wsC(0x80, "lo")),
			want: []wsGot{{op: WSText, payload: "Hello"}}},
		{name: "rfc unmasked fragments refused", in: []byte{0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}, code: 1002},
		{name: "rfc masked pong", in: []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
			want: []wsGot{{op: WSPong, payload: "Hello"}}},
		{name: "ping Hello", in: wsC(0x89, "Hello"), want: []wsGot{{op: WSPing, payload: "Hello"}}},
		{name: "rfc unmasked ping refused", in: []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, code: 1002},
		{name: "256 bytes binary, 16-bit length", binary: true, in: wsRaw(0x82, true, 0, []byte(x256)),
			want: []wsGot{{op: WSBinary, payload: x256}}},
		{name: "64 KiB binary, 64-bit length", binary: true, max: 65536, in: wsRaw(0x82, true, 0, []byte(x64k)),
			want: []wsGot{{op: WSBinary, payload: x64k}}},
		{name: "64 KiB over the default limit", binary: true, in: wsRaw(0x82, true, 0, []byte(x64k)), code: 1009},

		// Messages, fragments and control frames between them.
		{name: "empty text", in: wsC(0x81, ""), want: []wsGot{{op: WSText}}},
		{name: "empty ping", in: wsC(0x89, ""), want: []wsGot{{op: WSPing}}},
		{name: "several in one read", in: wsCat(wsC(0x81, "a"), wsC(0x89, "p"), wsC(0x81, "bc")),
			want: []wsGot{{op: WSText, payload: "a"}, {op: WSPing, payload: "p"}, {op: WSText, payload: "bc"}}},
		{name: "ping between fragments", in: wsCat(wsC(0x01, "Hel"), wsC(0x89, "mid"), wsC(0x00, "l"), wsC(0x8a, ""), wsC(0x80, "o")),
			want: []wsGot{{op: WSPing, payload: "mid"}, {op: WSPong}, {op: WSText, payload: "Hello"}}},
		{name: "close between fragments", in: wsCat(wsC(0x01, "Hel"), wsC(0x88, wsCloseBody(1001, "away")), wsC(0x80, "lo")),
			want: []wsGot{{op: WSClose, payload: "away", code: 1001}}},
		{name: "empty fragments", in: wsCat(wsC(0x01, ""), wsC(0x00, ""), wsC(0x80, "")), want: []wsGot{{op: WSText}}},
		{name: "UTF-8 split across fragments", in: wsCat(wsC(0x01, kosme[:1]), wsC(0x00, kosme[1:4]), wsC(0x80, kosme[4:])),
			want: []wsGot{{op: WSText, payload: kosme}}},
		{name: "binary fragments", binary: true, in: wsCat(wsC(0x02, "\xff"), wsC(0x80, "\x00")),
			want: []wsGot{{op: WSBinary, payload: "\xff\x00"}}},
		{name: "non-minimal 16-bit length accepted", in: wsRaw(0x81, true, 126, []byte("Hi")), want: []wsGot{{op: WSText, payload: "Hi"}}},
		{name: "non-minimal 64-bit length accepted", in: wsRaw(0x81, true, 127, []byte("Hi")), want: []wsGot{{op: WSText, payload: "Hi"}}},
		{name: "exactly the limit", in: wsC(0x81, x16k), want: []wsGot{{op: WSText, payload: x16k}}},
		{name: "limit summed over fragments", in: wsCat(wsC(0x01, x16k[:10000]), wsC(0x80, x16k[:6385])), code: 1009},
		{name: "a small limit", max: 4, in: wsCat(wsC(0x81, "four"), wsC(0x81, "five!")),
			want: []wsGot{{op: WSText, payload: "four"}}, code: 1009},

		// Frame rules: 1002.
		{name: "RSV1", in: wsC(0xC1, "a"), code: 1002},
		{name: "RSV2", in: wsC(0xA1, "a"), code: 1002},
		{name: "RSV3", in: wsC(0x91, "a"), code: 1002},
		{name: "opcode 3", in: wsC(0x83, "a"), code: 1002},
		{name: "opcode 7", in: wsC(0x87, "a"), code: 1002},
		{name: "opcode 0xB", in: wsC(0x8B, "a"), code: 1002},
		{name: "opcode 0xF", in: wsC(0x8F, ""), code: 1002},
		{name: "fragmented ping", in: wsC(0x09, "a"), code: 1002},
		{name: "fragmented close", in: wsC(0x08, ""), code: 1002},
		{name: "ping of 126 bytes", in: wsC(0x89, x256[:126]), code: 1002},
		{name: "ping with a 16-bit length", in: wsRaw(0x89, true, 126, []byte("a")), code: 1002},
		{name: "continuation without a start", in: wsC(0x80, "a"), code: 1002},
		{name: "text inside a fragmented message", in: wsCat(wsC(0x01, "a"), wsC(0x81, "b")), code: 1002},
		{name: "binary inside a fragmented message", binary: true, in: wsCat(wsC(0x01, "a"), wsC(0x82, "b")), code: 1002},
		{name: "64-bit length with the high bit", in: []byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 'a'}, code: 1002},
		{name: "unmasked after a good frame", in: wsCat(wsC(0x81, "ok"), wsRaw(0x81, false, 0, []byte("no"))),
			want: []wsGot{{op: WSText, payload: "ok"}}, code: 1002},

		// Payload rules.
		{name: "binary where text is expected", in: wsC(0x82, "a"), code: 1003},
		{name: "invalid UTF-8", in: wsC(0x81, "a\xffb"), code: 1007},
		{name: "surrogate in UTF-8", in: wsC(0x81, "\xed\xa0\x80"), code: 1007},
		{name: "overlong UTF-8", in: wsC(0x81, "\xc0\xaf"), code: 1007},
		{name: "UTF-8 cut at the end", in: wsC(0x81, kosme[:3]), code: 1007},
		{name: "UTF-8 cut at the last fragment", in: wsCat(wsC(0x01, kosme), wsC(0x80, "\xce")), code: 1007},
		{name: "invalid UTF-8 fails before the end", in: wsCat(wsC(0x01, "ok\xff"), wsC(0x80, "never")), code: 1007},

		// Close frames (RFC 6455 §5.5.1, §7.4).
		{name: "close without a code", in: wsC(0x88, ""), want: []wsGot{{op: WSClose, code: 1005}}},
		{name: "close 1000", in: wsC(0x88, wsCloseBody(1000, "")), want: []wsGot{{op: WSClose, code: 1000}}},
		{name: "close 1000 with a reason", in: wsC(0x88, wsCloseBody(1000, "bye "+kosme)), want: []wsGot{{op: WSClose, code: 1000, payload: "bye " + kosme}}},
		{name: "close 1003", in: wsC(0x88, wsCloseBody(1003, "")), want: []wsGot{{op: WSClose, code: 1003}}},
		{name: "close 1007", in: wsC(0x88, wsCloseBody(1007, "")), want: []wsGot{{op: WSClose, code: 1007}}},
		{name: "close 1011", in: wsC(0x88, wsCloseBody(1011, "")), want: []wsGot{{op: WSClose, code: 1011}}},
		{name: "close 3000", in: wsC(0x88, wsCloseBody(3000, "")), want: []wsGot{{op: WSClose, code: 3000}}},
		{name: "close 4999", in: wsC(0x88, wsCloseBody(4999, "")), want: []wsGot{{op: WSClose, code: 4999}}},
		{name: "close with one byte", in: wsC(0x88, "\x03"), code: 1002},
		{name: "close 999", in: wsC(0x88, wsCloseBody(999, "")), code: 1002},
		{name: "close 1004", in: wsC(0x88, wsCloseBody(1004, "")), code: 1002},
		{name: "close 1005 on the wire", in: wsC(0x88, wsCloseBody(1005, "")), code: 1002},
		{name: "close 1006 on the wire", in: wsC(0x88, wsCloseBody(1006, "")), code: 1002},
		{name: "close 1015 on the wire", in: wsC(0x88, wsCloseBody(1015, "")), code: 1002},
		{name: "close 2999", in: wsC(0x88, wsCloseBody(2999, "")), code: 1002},
		{name: "close 5000", in: wsC(0x88, wsCloseBody(5000, "")), code: 1002},
		{name: "close reason not UTF-8", in: wsC(0x88, wsCloseBody(1000, "\xff")), code: 1007},
		{name: "input after close is ignored", in: wsCat(wsC(0x88, ""), wsC(0x81, "late"), []byte{0xFF, 0xFF}),
			want: []wsGot{{op: WSClose, code: 1005}}},
	}
}

// wsDecode feeds chunks to a fresh decoder and returns what it decoded and
// its close code, checking the memory bounds after every call.
func wsDecode(t *testing.T, c wsCase, chunks [][]byte) ([]wsGot, uint16) {
	t.Helper()
	d := &WSDecoder{MaxMessage: c.max, AcceptBinary: c.binary}
	limit := c.max
	if limit == 0 {
		limit = WSDefaultMaxMessage
	}
	var got []wsGot
	for _, p := range chunks {
		for len(p) > 0 {
			m, n, err := d.Next(p)
			if n < 0 || n > len(p) || n == 0 && m.Op == 0 && err == nil {
				t.Fatalf("Next consumed %d of %d bytes and returned no message", n, len(p))
			}
			p = p[n:]
			if b := d.Buffered(); b > limit+wsMaxControl || cap(d.buf) > limit+wsMaxControl {
				t.Fatalf("holds %d bytes (cap %d), limit %d + %d", b, cap(d.buf), limit, wsMaxControl)
			}
			if !d.inFrame && !d.inMsg && d.nhdr == 0 && d.buf != nil {
				t.Fatalf("holds a %d-byte buffer between messages", cap(d.buf))
			}
			if err != nil {
				var ce *WSCloseError
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not a *WSCloseError", err)
				}
				if _, _, again := d.Next([]byte{0x81}); again != err {
					t.Fatalf("after %v, Next returned %v", err, again)
				}
				if d.Buffered() != 0 {
					t.Fatalf("a failed decoder holds %d bytes", d.Buffered())
				}
				return got, ce.Code
			}
			if m.Op == 0 {
				if len(p) != 0 {
					t.Fatalf("no message but %d bytes left unconsumed", len(p))
				}
				continue
			}
			got = append(got, wsGot{op: m.Op, payload: string(m.Payload), code: m.Code})
		}
	}
	return got, 0
}

// wsSplits cuts in into the ways a non-blocking read can return it: whole,
// byte by byte, and at random places.
func wsSplits(in []byte, seeds int) map[string][][]byte {
	ways := map[string][][]byte{"whole": {in}}
	var bytewise [][]byte
	for i := range in {
		bytewise = append(bytewise, in[i:i+1])
	}
	ways["byte by byte"] = bytewise
	for s := range seeds {
		r := rand.New(rand.NewPCG(uint64(s), 14))
		var chunks [][]byte
		for rest := in; len(rest) > 0; {
			n := 1 + r.IntN(min(len(rest), 1+r.IntN(40)))
			if r.IntN(8) == 0 {
				n = 1 + r.IntN(len(rest))
			}
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		ways[fmt.Sprintf("random %d", s)] = chunks
	}
	return ways
}

// wsCopy copies chunks, since Next unmasks in place.
func wsCopy(chunks [][]byte) [][]byte {
	out := make([][]byte, len(chunks))
	for i, c := range chunks {
		out[i] = bytes.Clone(c)
	}
	return out
}

// TestWSDecoder checks every framing rule on exact bytes, each stream fed
// whole, byte by byte and in random splits.
func TestWSDecoder(t *testing.T) {
	for _, c := range wsDecodeCases() {
		t.Run(c.name, func(t *testing.T) {
			seeds := 8
			if len(c.in) > 4096 {
				seeds = 2
			}
			for way, chunks := range wsSplits(c.in, seeds) {
				got, code := wsDecode(t, c, wsCopy(chunks))
				if fmt.Sprint(got) != fmt.Sprint(c.want) || code != c.code {
					t.Errorf("%s: got %v, close %d; want %v, close %d", way, got, code, c.want, c.code)
				}
			}
		})
	}
}

// TestWSDecoderReasons pins the close reasons the server sends.
func TestWSDecoderReasons(t *testing.T) {
	for _, c := range []struct {
		in     []byte
		reason string
	}{
		{wsC(0xC1, ""), "reserved bits set"},
		{wsC(0x83, ""), "unknown opcode"},
		{wsC(0x09, ""), "fragmented control frame"},
		{wsRaw(0x89, true, 126, nil), "control frame over 125 bytes"},
		{wsRaw(0x81, false, 0, nil), "unmasked client frame"},
		{wsC(0x80, ""), "continuation without a start"},
		{wsCat(wsC(0x01, ""), wsC(0x81, "")), "new message inside a fragmented message"},
		{[]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, "64-bit length with the high bit set"},
		{wsC(0x88, "\x03"), "close frame with a 1-byte payload"},
		{wsC(0x88, wsCloseBody(1005, "")), "invalid close code"},
		{wsC(0x82, ""), "binary message, text expected"},
		{wsC(0x81, "\xff"), "text is not UTF-8"},
		{wsC(0x88, wsCloseBody(1000, "\xff")), "close reason is not UTF-8"},
		{wsRaw(0x81, true, 127, make([]byte, 16<<10+1)), "message too big"},
	} {
		var d WSDecoder
		_, _, err := d.Next(c.in)
		var ce *WSCloseError
		if !errors.As(err, &ce) || ce.Reason != c.reason {
			t.Errorf("% x: got %v, want reason %q", c.in[:min(len(c.in), 12)], err, c.reason)
		}
	}
	e := &WSCloseError{Code: 1009, Reason: "message too big"}
	if got := e.Error(); got != "websocket: message too big (close 1009)" {
		t.Errorf("Error() = %q", got)
	}
}

// TestWSDecoderFailsEarly: a bad header is refused as soon as the bytes that
// decide it are in, before the payload (or the rest of the header) arrives.
func TestWSDecoderFailsEarly(t *testing.T) {
	for _, c := range []struct {
		name string
		head []byte
		code uint16
	}{
		{"unmasked, two bytes", []byte{0x81, 0x7E}, 1002},
		{"RSV, two bytes", []byte{0xC1, 0x80}, 1002},
		{"binary, two bytes", []byte{0x82, 0x85}, 1003},
		{"too big, length without key", []byte{0x81, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0}, 1009},
		{"too big, 16-bit length", []byte{0x81, 0xFE, 0x40, 0x01}, 1009},
		{"high bit, length without key", []byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1}, 1002},
	} {
		var d WSDecoder
		_, n, err := d.Next(bytes.Clone(c.head))
		var ce *WSCloseError
		if !errors.As(err, &ce) || ce.Code != c.code || n != len(c.head) {
			t.Errorf("%s: got %v after %d bytes, want close %d after %d", c.name, err, n, c.code, len(c.head))
		}
	}
}

// TestWSDecoderNoCopy: a frame wholly inside the read buffer is returned
// from it, unmasked in place, without allocating.
func TestWSDecoderNoCopy(t *testing.T) {
	frame := wsCat(wsC(0x81, strings.Repeat("batch ", 100)), wsC(0x89, "t"))
	buf := make([]byte, len(frame))
	var d WSDecoder
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, frame)
		m, n, err := d.Next(buf)
		if err != nil || m.Op != WSText || len(m.Payload) != 600 || &m.Payload[0] != &buf[n-600] {
			t.Fatalf("text: %v %d %v", m.Op, n, err)
		}
		m, _, err = d.Next(buf[n:])
		if err != nil || m.Op != WSPing || string(m.Payload) != "t" {
			t.Fatalf("ping: %v %v", m.Op, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per frame pair, want 0", allocs)
	}
}

// TestWSDecoderGrowsToTheFrame: a partial frame is kept in a buffer no larger
// than the bytes its header declared, and dropped when the message ends.
func TestWSDecoderGrowsToTheFrame(t *testing.T) {
	frame := wsC(0x81, strings.Repeat("a", 300))
	var d WSDecoder
	if _, n, err := d.Next(bytes.Clone(frame[:100])); err != nil || n != 100 {
		t.Fatal(n, err)
	}
	if cap(d.buf) != 300 || d.Buffered() != 100-8 {
		t.Errorf("holds %d bytes in a %d-byte buffer, want 92 in 300", d.Buffered(), cap(d.buf))
	}
	m, _, err := d.Next(bytes.Clone(frame[100:]))
	if err != nil || len(m.Payload) != 300 || d.buf != nil || d.Buffered() != 0 {
		t.Errorf("message %d bytes, err %v, still holds %d", len(m.Payload), err, d.Buffered())
	}
}

// TestWSEncoder checks the server frames byte for byte: unmasked, final,
// the shortest length encoding.
func TestWSEncoder(t *testing.T) {
	hdr := func(b ...byte) string { return string(b) }
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"rfc unmasked Hello", AppendWSFrame(nil, WSText, []byte("Hello")), "\x81\x05Hello"},
		{"empty text", AppendWSFrame(nil, WSText, nil), "\x81\x00"},
		{"125 bytes", AppendWSFrame(nil, WSText, bytes.Repeat([]byte("a"), 125)), "\x81\x7d" + strings.Repeat("a", 125)},
		{"126 bytes", AppendWSFrame(nil, WSText, bytes.Repeat([]byte("a"), 126)), hdr(0x81, 0x7e, 0x00, 0x7e) + strings.Repeat("a", 126)},
		{"rfc 256 bytes binary", AppendWSFrame(nil, WSBinary, bytes.Repeat([]byte("b"), 256)), hdr(0x82, 0x7e, 0x01, 0x00) + strings.Repeat("b", 256)},
		{"65535 bytes", AppendWSFrame(nil, WSText, bytes.Repeat([]byte("c"), 65535)), hdr(0x81, 0x7e, 0xff, 0xff) + strings.Repeat("c", 65535)},
		{"rfc 64 KiB binary", AppendWSFrame(nil, WSBinary, bytes.Repeat([]byte("d"), 65536)), hdr(0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0) + strings.Repeat("d", 65536)},
		{"rfc ping Hello", AppendWSFrame(nil, WSPing, []byte("Hello")), "\x89\x05Hello"},
		{"pong Hello", AppendWSFrame(nil, WSPong, []byte("Hello")), "\x8a\x05Hello"},
		{"ping cut to 125", AppendWSFrame(nil, WSPing, bytes.Repeat([]byte("p"), 200)), "\x89\x7d" + strings.Repeat("p", 125)},
		{"close 1000", AppendWSClose(nil, 1000, ""), "\x88\x02\x03\xe8"},
		{"close 1009 with reason", AppendWSClose(nil, 1009, "message too big"), "\x88\x11\x03\xf1message too big"},
		{"close without a code", AppendWSClose(nil, 0, "ignored"), "\x88\x00"},
		{"close echoing 1005", AppendWSClose(nil, 1005, ""), "\x88\x00"},
		{"close reason cut to 123", AppendWSClose(nil, 1001, strings.Repeat("r", 200)), "\x88\x7d\x03\xe9" + strings.Repeat("r", 123)},
		{"close reason cut at a character", AppendWSClose(nil, 1001, strings.Repeat("r", 122)+"é"), "\x88\x7c\x03\xe9" + strings.Repeat("r", 122)},
		{"appends", AppendWSFrame([]byte("pre"), WSText, []byte("x")), "pre\x81\x01x"},
	} {
		if string(c.got) != c.want {
			g, w := c.got[:min(len(c.got), 16)], c.want[:min(len(c.want), 16)]
			t.Errorf("%s: got % x… (%d bytes), want % x… (%d bytes)", c.name, g, len(c.got), w, len(c.want))
		}
	}
}

// TestWSWrapFrame: wrapping a payload already appended gives the same bytes
// as AppendWSFrame, and with room in the buffer allocates nothing.
func TestWSWrapFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 1000, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'j'}, n)
		b := append([]byte("prefix"), payload...)
		got := WrapWSFrame(b, 6, WSText)
		want := AppendWSFrame([]byte("prefix"), WSText, payload)
		if !bytes.Equal(got, want) {
			t.Errorf("%d bytes: WrapWSFrame differs from AppendWSFrame", n)
		}
	}
	buf := make([]byte, 0, 4096)
	payload := bytes.Repeat([]byte{'k'}, 1000)
	allocs := testing.AllocsPerRun(100, func() {
		b := append(buf[:0], payload...)
		b = WrapWSFrame(b, 0, WSText)
		b = AppendWSFrame(b, WSPing, []byte("t"))
		b = AppendWSClose(b, 1000, "done")
		if len(b) != 4+1000+3+8 {
			t.Fatalf("len %d", len(b))
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations, want 0", allocs)
	}
}

// TestWSValidCloseCode walks every code's validity once.
func TestWSValidCloseCode(t *testing.T) {
	var valid []string
	start := -1
	for c := 0; c <= 65536; c++ {
		ok := c < 65536 && WSValidCloseCode(uint16(c))
		if ok && start < 0 {
			start = c
		}
		if !ok && start >= 0 {
			valid = append(valid, fmt.Sprintf("%d-%d", start, c-1))
			start = -1
		}
	}
	if got := strings.Join(valid, " "); got != "1000-1003 1007-1014 3000-4999" {
		t.Errorf("valid codes %s", got)
	}
}

// TestWSFramesGolden pins the server's frames byte for byte, as hex; run with
// -update after a deliberate change and update docs/PROTOCOL.md with it.
func TestWSFramesGolden(t *testing.T) {
	batch := []event{
		{seq: 1, msg: comet.MustMessage("sys.pong", map[string]float64{"t": 1.5})},
		{seq: 2, msg: comet.MustMessage("sys.hello", map[string]string{"text": "</script> & \u2028 é"})},
	}
	frames := []struct {
		name  string
		frame []byte
	}{ // frames over 128 bytes but the batch are shown by header only
		{"batch of two events", WrapWSFrame(appendJSONBatch(nil, batch), 0, WSText)},
		{"heartbeat, an empty batch", WrapWSFrame(appendJSONBatch(nil, nil), 0, WSText)},
		{"text Hello (RFC 6455 §5.7)", AppendWSFrame(nil, WSText, []byte("Hello"))},
		{"text of 126 bytes", AppendWSFrame(nil, WSText, bytes.Repeat([]byte("a"), 126))},
		{"text of 65536 bytes", AppendWSFrame(nil, WSText, bytes.Repeat([]byte("a"), 65536))},
		{"ping", AppendWSFrame(nil, WSPing, []byte("1"))},
		{"pong echoing Hello", AppendWSFrame(nil, WSPong, []byte("Hello"))},
		{"close 1000", AppendWSClose(nil, WSCloseNormal, "")},
		{"close 1001 going away", AppendWSClose(nil, WSCloseGoingAway, "server shutting down")},
		{"close 1002", AppendWSClose(nil, WSCloseProtocolError, errWSUnmasked.Reason)},
		{"close 1003", AppendWSClose(nil, WSCloseUnsupportedData, errWSBinary.Reason)},
		{"close 1007", AppendWSClose(nil, WSCloseInvalidPayload, errWSUTF8.Reason)},
		{"close 1009", AppendWSClose(nil, WSCloseTooBig, errWSTooBig.Reason)},
		{"close echoing one without a code", AppendWSClose(nil, WSCloseNoStatus, "")},
	}
	var out strings.Builder
	for _, f := range frames {
		fmt.Fprintf(&out, "# %s\n", f.name)
		b := f.frame
		if len(b) > 128 && f.name != "batch of two events" {
			h := map[byte]int{126: 4, 127: 10}[b[1]]
			fmt.Fprintf(&out, "% x\n… %d payload bytes\n", b[:h], len(b)-h)
			continue
		}
		for len(b) > 0 {
			line := b[:min(len(b), 16)]
			b = b[len(line):]
			fmt.Fprintf(&out, "% -47x  %s\n", line, bytes.Map(func(r rune) rune {
				if r < 0x20 || r > 0x7e {
					return '.'
				}
				return r
			}, line))
		}
	}
	path := filepath.Join("testdata", "ws_frames.golden")
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if out.String() != string(want) {
		t.Errorf("server frames changed:\n%s", out.String())
	}
}

// wsMaskFrames turns server frames (final, unmasked) into the client frames a
// browser would send: masked with key, and as fragments when frag is set.
func wsMaskFrames(frame []byte, key [4]byte, frag, first, last bool) []byte {
	b0 := frame[0]
	if frag {
		b0 &^= 0x80
		if last {
			b0 |= 0x80
		}
		if !first {
			b0 &^= 0x0F
		}
	}
	h := 2
	switch frame[1] {
	case 126:
		h = 4
	case 127:
		h = 10
	}
	out := append([]byte{b0, frame[1] | 0x80}, frame[2:h]...)
	out = append(out, key[:]...)
	for i, c := range frame[h:] {
		out = append(out, c^key[i&3])
	}
	return out
}

// TestWSUTF8 checks the incremental validator against utf8.Valid on edge
// sequences cut at every byte.
func TestWSUTF8(t *testing.T) {
	for _, s := range []string{
		"", "ascii only, more than eight bytes", "κόσμε", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff",
		"\xed\x9f\xbf", "\xee\x80\x80", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xc1\xbf",
		"\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\x80", "\xbf", "\xfe", "\xff", "\xce", "a\xce\xbaz\xe1\xbd", "12345678\xe2\x82\xac12345678",
	} {
		for cut := 0; cut <= len(s); cut++ {
			var u wsUTF8
			ok := u.feed([]byte(s[:cut])) && u.feed([]byte(s[cut:])) && u.complete()
			if ok != utf8.ValidString(s) {
				t.Errorf("%q cut at %d: valid %v, want %v", s, cut, ok, !ok)
			}
		}
	}
}
