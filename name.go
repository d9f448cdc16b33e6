package comet

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// NameKey is the key under which a claimed name is unique: each rune replaced
// by the smallest rune of its simple case-folding orbit (unicode.SimpleFold),
// so NameKey(a) == NameKey(b) exactly when strings.EqualFold(a, b).
// Stores index claimed names by it; no normalization is applied.
func NameKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		if r == utf8.RuneError {
			b.WriteRune(r)
			continue
		}
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
