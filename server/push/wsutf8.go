package push

import "unicode/utf8"

// wsUTF8 validates UTF-8 incrementally, so a text message split across reads
// and fragments is checked as it arrives (RFC 6455 §8.1) and fails as soon
// as a chunk holds a byte that cannot begin or continue a valid sequence. The
// zero value is at a character boundary.
type wsUTF8 struct {
	need   uint8 // continuation bytes still expected
	lo, hi uint8 // the range the next continuation byte must fall in
}

// feed checks b as the next bytes of the text; false means b holds a byte
// that makes the text invalid whatever follows. The whole characters go to
// utf8.Valid; only those cut by a chunk's ends go byte by byte.
func (u *wsUTF8) feed(b []byte) bool {
	for u.need > 0 && len(b) > 0 {
		if !u.step(b[0]) {
			return false
		}
		b = b[1:]
	}
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if c := b[i]; c < 0x80 {
			break
		} else if c >= 0xC0 {
			if n := len(b) - i; c >= 0xF0 && n < 4 || c >= 0xE0 && n < 3 || n < 2 {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(b[:cut]) {
		return false
	}
	for _, c := range b[cut:] {
		if !u.step(c) {
			return false
		}
	}
	return true
}

// step takes one byte: a leading byte sets the range of the first
// continuation byte, which excludes overlong forms, surrogates and code
// points above U+10FFFF (RFC 3629 §4).
func (u *wsUTF8) step(c byte) bool {
	if u.need > 0 {
		if c < u.lo || c > u.hi {
			return false
		}
		u.need, u.lo, u.hi = u.need-1, 0x80, 0xBF
		return true
	}
	switch {
	case c < 0x80:
	case c >= 0xC2 && c <= 0xDF:
		u.need, u.lo, u.hi = 1, 0x80, 0xBF
	case c == 0xE0:
		u.need, u.lo, u.hi = 2, 0xA0, 0xBF
	case c == 0xED:
		u.need, u.lo, u.hi = 2, 0x80, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		u.need, u.lo, u.hi = 2, 0x80, 0xBF
	case c == 0xF0:
		u.need, u.lo, u.hi = 3, 0x90, 0xBF
	case c >= 0xF1 && c <= 0xF3:
		u.need, u.lo, u.hi = 3, 0x80, 0xBF
	case c == 0xF4:
		u.need, u.lo, u.hi = 3, 0x80, 0x8F
	default:
		return false
	}
	return true
}

// complete reports whether the text fed so far ends at a character boundary.
func (u *wsUTF8) complete() bool { return u.need == 0 }
