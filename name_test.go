package comet

import (
	"strings"
	"testing"
)

func TestNameKey(t *testing.T) {
	tests := []struct{ a, b string }{
		{"Émile", "émile"}, {"ÉMILE", "émile"}, {"Straße", "STRAßE"}, {"ΣΊΣΥΦΟΣ", "σίσυφος"},
		{"Kelvin", "\u212aelvin"}, {"Ödön", "öDÖN"}, {"李小龍", "李小龍"},
	}
	for _, tt := range tests {
		if NameKey(tt.a) != NameKey(tt.b) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want equal", tt.a, NameKey(tt.a), tt.b, NameKey(tt.b))
		}
	}
	for _, pair := range [][2]string{{"Émile", "Emile"}, {"ann", "anne"}, {"é", "e\u0301"}} {
		if NameKey(pair[0]) == NameKey(pair[1]) {
			t.Errorf("NameKey(%q) == NameKey(%q)", pair[0], pair[1])
		}
	}
}

// FuzzNameKey: keys are equal exactly when strings.EqualFold says the names
// are, the rule the server applies to names online.
func FuzzNameKey(f *testing.F) {
	for _, s := range [][2]string{{"Émile", "émile"}, {"ß", "SS"}, {"K", "\u212a"}, {"ς", "Σ"}, {"\xff", "\xfe"}, {"a", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := NameKey(a) == NameKey(b), strings.EqualFold(a, b); got != want {
			t.Errorf("NameKey(%q) == NameKey(%q) is %v; EqualFold says %v", a, b, got, want)
		}
	})
}
