package comet

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestValidName: names are normalised (spaces, width, NFC) and refused with
// EINVALID when they hold invisible, control or symbol characters, stack
// marks, look like an id, or are empty or too long.
func TestValidName(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"Ada", "Ada"},
		{"  Ada  ", "Ada"},
		{"bob hey", "bob hey"},
		{"bob  hey", "bob hey"},           // repeated spaces collapse
		{"bob\u00a0\u3000hey", "bob hey"}, // NBSP, ideographic space
		{"Ａｄａ", "Ada"},                    // full-width letters
		{"Émile", "Émile"},
		{"E\u0301mile", "Émile"}, // NFC
		{"Guest-1234", "Guest-1234"},
		{"under_score-dash", "under_score-dash"},
		{"李小龍", "李小龍"},
		{"नमस्ते", "नमस्ते"},
		{"Ödön", "Ödön"},
		{"Аda", "Аda"}, // Cyrillic А alone is a valid name; its key is Ada's
		{strings.Repeat("x", MaxNameLen), strings.Repeat("x", MaxNameLen)},
		{"x\u0301\u0302\u0303", "x\u0301\u0302\u0303"}, // three marks

		{"", ""},
		{"   ", ""},
		{strings.Repeat("x", MaxNameLen+1), ""},
		{strings.Repeat("x ", 200), ""},
		{"\u3164", ""},    // HANGUL FILLER
		{"Ada\u3164", ""}, // HANGUL FILLER after a name
		{"A\u200bda", ""}, // zero-width space
		{"A\u200dda", ""}, // zero-width joiner
		{"\u202eadA", ""}, // right-to-left override
		{"Ada\u2066", ""}, // bidi isolate
		{"bob\they", ""},  // tab inside
		{"bob\nhey", ""},  // newline inside
		{"<script>", ""},  // symbols
		{"a.b", ""},       // punctuation
		{"Ⅸ", ""},         // compatibility character
		{"ﬁsh", ""},       // ligature
		{"\u0301a", ""},   // leading mark
		{"x\u0301\u0302\u0303\u0304", ""},
		{"x\xffy", ""},
		{"p_AbCdEfGhIjKl", ""}, // a player id
		{"P_whatever", ""},
		{"s_session", ""},
		{"р_AbCdEfGhIjKl", ""}, // Cyrillic р: still an id's shape
		{"😀", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ValidName(tt.in)
			if tt.want == "" {
				if ErrorCode(err) != EINVALID {
					t.Fatalf("ValidName(%q) = %q, %v; want EINVALID", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ValidName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNameKey(t *testing.T) {
	same := []struct{ a, b string }{
		{"Émile", "émile"}, {"ÉMILE", "émile"}, {"Straße", "STRASSE"}, {"ΣΊΣΥΦΟΣ", "σίσυφος"},
		{"Kelvin", "\u212aelvin"}, {"Ödön", "öDÖN"}, {"李小龍", "李小龍"},
		{"é", "e\u0301"},         // normalisation
		{"Ada", "\u0410da"},      // Cyrillic А
		{"Ada", "\uff21da"},      // full-width A
		{"Ada", "A\u200bda"},     // zero-width space (a stored old name)
		{"Ada", "Ada\u3164"},     // Hangul filler
		{"bob hey", "bob  hey"},  // repeated spaces
		{"bob hey", " bob hey "}, // outer spaces
		{"Bob", "B0b"},           // zero and O
		{"Bill", "Bi11"},         // one and l
		{"paypal", "pаypаl"},     // Cyrillic а
		{"modem", "rnodern"},     // m and rn
		{"Kim", "\u041a\u0456m"}, // Cyrillic К and і
		{"Ian", "lan"},           // capital I and small L
	}
	for _, tt := range same {
		if NameKey(tt.a) != NameKey(tt.b) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want equal", tt.a, NameKey(tt.a), tt.b, NameKey(tt.b))
		}
	}
	for _, pair := range [][2]string{{"Émile", "Emile"}, {"ann", "anne"}, {"bob hey", "bobhey"}, {"Ada", "Ida"}, {"Guest-0001", "Guest-0002"}} {
		if NameKey(pair[0]) == NameKey(pair[1]) {
			t.Errorf("NameKey(%q) == NameKey(%q) = %q", pair[0], pair[1], NameKey(pair[0]))
		}
	}
}

func TestLooksLikeID(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"p_AbCdEfGhIjKl", true}, {"P_x", true}, {"s_x", true}, {"\u0440_x", true},
		{"p", false}, {"pete", false}, {"p-x", false}, {"Guest-1234", false}, {"sp_x", false},
	} {
		if got := LooksLikeID(tt.name); got != tt.want {
			t.Errorf("LooksLikeID(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzValidName: a name ValidName accepts is accepted again unchanged, keeps
// the length rule, holds no invisible character, and has a stable key.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"Ada", " bob  hey ", "Ａｄａ", "\u3164", "E\u0301mile", "p_x", "a\u0301\u0302\u0303", "\xff", "李 小龍", "नमस्ते"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := ValidName(in)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ValidName(%q) error %v is not EINVALID", in, err)
			}
			return
		}
		if again, err := ValidName(n); err != nil || again != n {
			t.Fatalf("ValidName(%q) = %q, but ValidName(%q) = %q, %v", in, n, n, again, err)
		}
		if c := utf8.RuneCountInString(n); c < 1 || c > MaxNameLen {
			t.Fatalf("ValidName(%q) = %q: %d characters", in, n, c)
		}
		if strings.ContainsFunc(n, invisible) || strings.Contains(n, "  ") || LooksLikeID(n) {
			t.Fatalf("ValidName(%q) = %q", in, n)
		}
		if NameKey(n) != NameKey(in) {
			t.Fatalf("NameKey(%q) = %q but NameKey(%q) = %q", in, NameKey(in), n, NameKey(n))
		}
	})
}

// FuzzNameKey: keys are valid UTF-8, case-blind and a fixed point.
func FuzzNameKey(f *testing.F) {
	for _, s := range []string{"Émile", "ß", "\u212a", "ς", "\xff", "", "B0b", "rn", "Ａ", "a\u200bb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := NameKey(s)
		if !utf8.ValidString(k) {
			t.Fatalf("NameKey(%q) = %q is not UTF-8", s, k)
		}
		if NameKey(k) != k {
			t.Fatalf("NameKey(%q) = %q but NameKey(%q) = %q", s, k, k, NameKey(k))
		}
		if utf8.ValidString(s) && NameKey(strings.ToUpper(s)) != NameKey(strings.ToLower(s)) && strings.ToLower(strings.ToUpper(s)) == strings.ToLower(s) {
			t.Fatalf("NameKey(upper %q) = %q, NameKey(lower) = %q", s, NameKey(strings.ToUpper(s)), NameKey(strings.ToLower(s)))
		}
	})
}
