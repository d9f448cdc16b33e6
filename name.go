package comet

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// MaxNameLen is the most characters (runes, after normalisation) a name holds.
const MaxNameLen = 24

// MaxMarks is the most combining marks a name or chat line may stack on one
// base character: enough for Vietnamese, Indic and Hebrew pointing, not for
// the tall "Zalgo" stacks that spill over neighbouring lines.
const MaxMarks = 3

// ValidName normalises a display name and checks it, returning EINVALID with
// the reason when it is refused (the rule is docs/PROTOCOL.md's "Names").
//
// Outer white space is trimmed and every run of spaces (any Unicode space
// separator) inside becomes one ASCII space. Each space-separated part is
// then enforced with the PRECIS UsernameCasePreserved profile (RFC 8265, which
// treats a space-separated username as separate userparts): full-width forms
// map to their ASCII letters, text is NFC, and invisible, control, symbol and
// compatibility characters are refused. On top of PRECIS a name holds only
// letters, digits, combining marks (at most MaxMarks on a letter), '_' and '-';
// it is 1 to MaxNameLen characters long and never looks like a player or
// session id (see LooksLikeID).
func ValidName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", Errorf(EINVALID, "a name must be valid UTF-8")
	}
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > 4*MaxNameLen { // no normalisation shrinks a name that much
		return "", Errorf(EINVALID, "a name is 1 to %d characters", MaxNameLen)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return "", Errorf(EINVALID, "a name may hold letters, digits, spaces, _ and - only")
	}
	parts := strings.FieldsFunc(name, func(r rune) bool { return unicode.Is(unicode.Zs, r) })
	if len(parts) == 0 {
		return "", Errorf(EINVALID, "a name is 1 to %d characters", MaxNameLen)
	}
	for i, part := range parts {
		p, err := precis.UsernameCasePreserved.String(part)
		if err != nil {
			return "", Errorf(EINVALID, "a name may hold letters, digits, spaces, _ and - only (%q is not allowed)", part)
		}
		if err := checkNameRunes(p); err != nil {
			return "", err
		}
		parts[i] = p
	}
	name = strings.Join(parts, " ")
	if n := utf8.RuneCountInString(name); n > MaxNameLen {
		return "", Errorf(EINVALID, "a name is 1 to %d characters", MaxNameLen)
	}
	if LooksLikeID(name) {
		return "", Errorf(EINVALID, "a name may not start with p_ or s_, the shape of player and session ids")
	}
	return name, nil
}

// checkNameRunes applies Comet's character rule to one PRECIS-enforced part.
func checkNameRunes(part string) error {
	marks := 0
	for i, r := range part {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-':
			marks = 0
		case unicode.In(r, unicode.Mn, unicode.Mc) && i > 0:
			if marks++; marks > MaxMarks {
				return Errorf(EINVALID, "a name may stack at most %d combining marks on a letter", MaxMarks)
			}
		default:
			return Errorf(EINVALID, "a name may hold letters, digits, spaces, _ and - only (%q is not allowed)", r)
		}
	}
	return nil
}

// idPrefixes are the key prefixes of ids: player ids are "p_" and session
// ids "s_" followed by base64url.
var idPrefixes = [...]string{NameKey("p_"), NameKey("s_")}

// LooksLikeID reports whether name could be read as a player or session id:
// its NameKey starts like one, so "p_x", "P_x" and a Cyrillic "р_x" all do.
// A moderator reading chat can then never take a name for an id.
func LooksLikeID(name string) bool {
	k := NameKey(name)
	for _, p := range idPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// NameKey is the key under which a name is unique, online and when claimed:
// names that look alike share it. It is the UTS #39 confusable skeleton
// (Unicode 13.0.0 data, github.com/mtibben/confusables) of the name in
// capitals and then case-folded, after NFKC, without invisible characters
// and with spaces collapsed: "Ada", "ADA", "Аda" (Cyrillic), "Ａda",
// "A\u200bda", "B0b" and "Bob", "Kim" and "Кіm", "Ian" and "lan" pair up.
func NameKey(name string) string {
	k := strings.ToValidUTF8(name, "\uFFFD")
	// The skeleton can map to capitals ('0' → 'O') and to compatibility
	// characters ('%' → "º/₀"), which the next round folds and normalises:
	// repeat until nothing changes. The bound only guards against a
	// pathological table; fuzzing finds a fixed point within three rounds.
	for range 8 {
		next := nameKeyRound(k)
		if next == k {
			break
		}
		k = next
	}
	return k
}

// nameKeyRound is one step towards NameKey's fixed point.
func nameKeyRound(s string) string {
	s = norm.NFKC.String(s)
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r)
	}), " ")
	s = strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, s)
	// Capitals first, so a letter whose small form looks unlike the Latin
	// one (Cyrillic к, в, м) still meets it as a capital (К, В, М = K, B, M);
	// then the small forms, so "rn" meets "m" and "1" meets "l".
	s = confusables.Skeleton(cases.Upper(language.Und).String(s))
	fold := cases.Fold()
	return norm.NFD.String(fold.String(confusables.Skeleton(fold.String(s))))
}

// invisible reports whether r is a default-ignorable code point: format
// characters (zero-width spaces and joiners, bidi controls), variation
// selectors and the Hangul fillers, which render as nothing.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) ||
		r == '\u3164' || r == '\uFFA0' || r == '\u115F' || r == '\u1160'
}
