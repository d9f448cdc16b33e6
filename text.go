package comet

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxChatLen is the most characters (runes, after cleaning) a chat line holds.
const MaxChatLen = 500

// CleanChat cleans a chat line and checks its length, returning EINVALID when
// nothing is left or it is over MaxChatLen characters. Tabs and newlines
// become spaces; control characters, invalid UTF-8, bidi controls, zero-width
// and other invisible format characters are removed, and at most MaxMarks
// combining marks stay on each base character. Text meant to be seen is kept
// (docs/PROTOCOL.md "Chat text" lists the exceptions: a zero-width joiner
// inside an emoji sequence, a zero-width non-joiner between letters of
// scripts that join, and tag characters of a flag).
func CleanChat(s string) (string, error) {
	rs := []rune(s)
	out := make([]rune, 0, len(rs))
	marks := 0
	for i, r := range rs {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			out = append(out, ' ')
			marks = 0
			continue
		case r == utf8.RuneError, unicode.IsControl(r):
			continue
		case unicode.In(r, unicode.Mn, unicode.Me):
			if marks++; marks > MaxMarks {
				continue
			}
		case unicode.Is(unicode.Cf, r) || hangulFiller(r):
			next := rune(-1)
			if i+1 < len(rs) {
				next = rs[i+1]
			}
			if !keepFormat(out, r, next) {
				continue
			}
		default:
			marks = 0
		}
		out = append(out, r)
	}
	t := strings.TrimSpace(string(out))
	if n := utf8.RuneCountInString(t); n == 0 || n > MaxChatLen {
		return "", Errorf(EINVALID, "a chat line is 1 to %d characters (invisible ones not counted)", MaxChatLen)
	}
	return t, nil
}

// hangulFiller reports the Hangul fillers, letters that render as nothing.
func hangulFiller(r rune) bool {
	return r == '\u3164' || r == '\uFFA0' || r == '\u115F' || r == '\u1160'
}

// keepFormat reports whether the invisible format character r, after the
// text kept so far and before next, does visible work: a zero-width joiner
// between two emoji (👩‍💻), a zero-width non-joiner between letters of a
// script that joins (Persian, Indic), or a tag character continuing a flag's
// tag sequence (🏴 + tags).
func keepFormat(kept []rune, r, next rune) bool {
	prev, last := rune(-1), rune(-1)
	if len(kept) > 0 {
		last = kept[len(kept)-1]
	}
	// Skip a variation selector or skin-tone modifier back to the emoji.
	for j := len(kept) - 1; j >= 0; j-- {
		if !unicode.Is(unicode.Variation_Selector, kept[j]) && !skinTone(kept[j]) {
			prev = kept[j]
			break
		}
	}
	switch {
	case r == '\u200D':
		return emoji(prev) && emoji(next)
	case r == '\u200C':
		return joiningLetter(prev) && joiningLetter(next)
	case r >= 0xE0020 && r <= 0xE007F: // tag characters
		return last == 0x1F3F4 || last >= 0xE0020 && last <= 0xE007E
	}
	return false
}

// emoji reports whether r is a pictograph a zero-width joiner may join.
func emoji(r rune) bool {
	return r >= 0x1F000 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF || r == 0x2B50 || r == 0x2B55 ||
		r == 0x2640 || r == 0x2642 || r == 0x2695 || r == 0x2696 || r == 0x2708 || r == 0x2764
}

// skinTone reports the emoji modifiers Fitzpatrick 1-2 to 6.
func skinTone(r rune) bool { return r >= 0x1F3FB && r <= 0x1F3FF }

// joiningLetter reports a letter or mark of a script other than Latin, Greek,
// Cyrillic or Common, where a zero-width non-joiner changes how text renders.
func joiningLetter(r rune) bool {
	return r >= 0 && (unicode.IsLetter(r) || unicode.IsMark(r)) &&
		!unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Common)
}
