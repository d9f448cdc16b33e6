package comet

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestCleanChat: visible text is kept as typed; bidi controls, zero-width
// and other invisible characters go; marks stack at most MaxMarks high.
func TestCleanChat(t *testing.T) {
	zalgo := "e" + strings.Repeat("\u0301", 500)
	tests := []struct {
		name, in, want string // want "" means refused
	}{
		{"plain", "hello there", "hello there"},
		{"trimmed", "  hi  ", "hi"},
		{"newlines and tabs become spaces", "a\nb\tc\r", "a b c"},
		{"controls removed", "a\x00b\x07c\u0085", "abc"},
		{"invalid UTF-8 removed", "a\xffb", "ab"},
		{"right-to-left override", "abc\u202Eevil.exe", "abcevil.exe"},
		{"every bidi embedding and isolate", "\u202Aa\u202Bb\u202Cc\u202Dd\u2066e\u2067f\u2068g\u2069h", "abcdefgh"},
		{"bidi marks", "a\u200Eb\u200Fc\u061Cd", "abcd"},
		{"zero-width space and word joiner", "b\u200Bad w\u2060ord", "bad word"},
		{"byte order mark", "\uFEFFhi", "hi"},
		{"zero-width joiner between letters", "b\u200Dad", "bad"},
		{"soft hyphen", "in\u00ADvisible", "invisible"},
		{"Hangul filler", "\u3164hi\u3164", "hi"},
		{"only invisible", "\u200B\u202E\u3164\uFEFF", ""},
		{"empty", "", ""},
		{"only spaces", " \n\t ", ""},
		{"zalgo capped", zalgo, "e\u0301\u0301\u0301"},
		{"marks on each letter capped", "a\u0300\u0301\u0302\u0303b\u0300\u0301\u0302\u0303", "a\u0300\u0301\u0302b\u0300\u0301\u0302"},
		{"three marks kept", "x\u0301\u0302\u0303", "x\u0301\u0302\u0303"},
		{"Vietnamese", "Tiếng Việt", "Tiếng Việt"},
		{"Hebrew with points", "שָׁלוֹם", "שָׁלוֹם"},
		{"Devanagari", "नमस्ते दुनिया", "नमस्ते दुनिया"},
		{"Arabic", "مرحبا", "مرحبا"},
		{"emoji", "gg 😀👍🏽", "gg 😀👍🏽"},
		{"emoji ZWJ sequence kept", "👩\u200D💻 and 👨\u200D👩\u200D👧", "👩\u200D💻 and 👨\u200D👩\u200D👧"},
		{"ZWJ after skin tone and VS16", "🏃🏽\u200D♀\uFE0F ❤\uFE0F\u200D🔥", "🏃🏽\u200D♀\uFE0F ❤\uFE0F\u200D🔥"},
		{"ZWJ at an emoji's edge", "😀\u200Da \u200D😀", "😀a 😀"},
		{"keycap", "1\uFE0F\u20E3", "1\uFE0F\u20E3"},
		{"flag", "🇫🇷", "🇫🇷"},
		{"tag flag (Scotland)", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"},
		{"stray tags", "a\U000E0067\U000E0062b", "ab"},
		{"ZWNJ in Persian kept", "می\u200Cخواهم", "می\u200Cخواهم"},
		{"ZWNJ in Latin removed", "a\u200Cb", "ab"},
		{"longest", strings.Repeat("x", MaxChatLen), strings.Repeat("x", MaxChatLen)},
		{"too long", strings.Repeat("x", MaxChatLen+1), ""},
		{"too long counts after cleaning", strings.Repeat("x\u200B", MaxChatLen), strings.Repeat("x", MaxChatLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CleanChat(tt.in)
			if tt.want == "" {
				if ErrorCode(err) != EINVALID {
					t.Fatalf("CleanChat(%q) = %q, %v; want EINVALID", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CleanChat(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzCleanChat: cleaned text is valid UTF-8 within the length rule, holds no
// control or bidi character, no stack of more than MaxMarks marks, keeps
// invisible format characters only where they join, and is a fixed point.
func FuzzCleanChat(f *testing.F) {
	for _, s := range []string{"hi", "a\u202Eb", "e\u0301\u0301\u0301\u0301", "👩\u200D💻", "🏴\U000E0067\U000E007F", "می\u200Cخواهم", "\xff\x00", "\u200B", "😀\u200D\u200B😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CleanChat(in)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("CleanChat(%q) error %v is not EINVALID", in, err)
			}
			return
		}
		if !utf8.ValidString(out) || out != strings.TrimSpace(out) {
			t.Fatalf("CleanChat(%q) = %q", in, out)
		}
		if n := utf8.RuneCountInString(out); n < 1 || n > MaxChatLen {
			t.Fatalf("CleanChat(%q) = %q: %d characters", in, out, n)
		}
		rs := []rune(out)
		marks := 0
		for i, r := range rs {
			switch {
			case unicode.IsControl(r) || hangulFiller(r):
				t.Fatalf("CleanChat(%q) = %q keeps %U", in, out, r)
			case unicode.Is(unicode.Cf, r) && !keepFormat(rs[:i], r, nextRune(rs, i)):
				t.Fatalf("CleanChat(%q) = %q keeps format character %U", in, out, r)
			case unicode.In(r, unicode.Mn, unicode.Me):
				if marks++; marks > MaxMarks {
					t.Fatalf("CleanChat(%q) = %q stacks more than %d marks", in, out, MaxMarks)
				}
			case !unicode.Is(unicode.Cf, r):
				marks = 0
			}
		}
		if again, err := CleanChat(out); err != nil || again != out {
			t.Fatalf("CleanChat(%q) = %q, but CleanChat(%q) = %q, %v", in, out, out, again, err)
		}
	})
}

func nextRune(rs []rune, i int) rune {
	if i+1 < len(rs) {
		return rs[i+1]
	}
	return -1
}
