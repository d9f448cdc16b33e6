package push

import "encoding/binary"

// wsUTF8 validates UTF-8 incrementally, so a text message split across reads
// and fragments is checked as it arrives (RFC 6455 §8.1) and fails at the
// first byte that cannot begin or continue a valid sequence. The zero value is
// at a character boundary.
type wsUTF8 struct {
	need   uint8 // continuation bytes still expected
	lo, hi uint8 // the range the next continuation byte must fall in
}

// feed checks b as the next bytes of the text; false means b holds a byte
// that makes the text invalid whatever follows.
func (u *wsUTF8) feed(b []byte) bool {
	need, lo, hi := u.need, u.lo, u.hi
	for i := 0; i < len(b); {
		if need == 0 {
			// Skip ASCII eight bytes at a time.
			for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
				i += 8
			}
			if i == len(b) {
				break
			}
			c := b[i]
			i++
			switch {
			case c < 0x80:
			case c >= 0xC2 && c <= 0xDF:
				need, lo, hi = 1, 0x80, 0xBF
			case c == 0xE0: // no overlong three-byte forms
				need, lo, hi = 2, 0xA0, 0xBF
			case c == 0xED: // no surrogates U+D800..U+DFFF
				need, lo, hi = 2, 0x80, 0x9F
			case c >= 0xE1 && c <= 0xEF:
				need, lo, hi = 2, 0x80, 0xBF
			case c == 0xF0: // no overlong four-byte forms
				need, lo, hi = 3, 0x90, 0xBF
			case c >= 0xF1 && c <= 0xF3:
				need, lo, hi = 3, 0x80, 0xBF
			case c == 0xF4: // nothing above U+10FFFF
				need, lo, hi = 3, 0x80, 0x8F
			default:
				u.need = 0
				return false
			}
			continue
		}
		c := b[i]
		i++
		if c < lo || c > hi {
			u.need = 0
			return false
		}
		need, lo, hi = need-1, 0x80, 0xBF
	}
	u.need, u.lo, u.hi = need, lo, hi
	return true
}

// complete reports whether the text fed so far ends at a character boundary.
func (u *wsUTF8) complete() bool { return u.need == 0 }
