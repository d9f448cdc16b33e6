package frontend

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// modeNames lists every game mode there is: the Go modes (gameloop/modes/<name>/)
// and the browser renderers (src/modes/<name>/).
func modeNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, dir := range []string{"../gameloop/modes", "src/modes"} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() && !slices.Contains(names, e.Name()) {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) < 3 {
		t.Fatalf("found only modes %v", names)
	}
	return names
}

// TestAppNamesNoMode keeps the browser application generic: everything
// mode-specific lives in the mode's renderer (src/modes/<name>/), so the app,
// the Comet client, the game core, their tests and the page shell never name
// a mode — not as a string ("arena", "Arena"), not as an identifier (an
// import of arena, case arena:). Comments may.
func TestAppNamesNoMode(t *testing.T) {
	names := modeNames(t)
	scanned := 0
	for _, root := range []string{"src/app", "src/comet", "src/game", "src/test"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			scanned++
			var hits []string
			switch filepath.Ext(path) {
			case ".ts":
				hits = tsMentions(string(src), names)
			default: // CSS and the like: any whole word
				hits = wordMentions(string(src), names)
			}
			for _, h := range hits {
				t.Errorf("%s names a mode: %s", path, h)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	shell, err := os.ReadFile("../assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range wordMentions(string(shell), names) {
		t.Errorf("assets/index.html names a mode: %s", h)
	}
	if scanned < 30 {
		t.Fatalf("scanned only %d files", scanned)
	}
}

// The checker itself: what it must catch and what it must let pass.
func TestAppNamesNoModeChecker(t *testing.T) {
	names := []string{"arena", "tag", "pong"}
	for _, tc := range []struct {
		src  string
		want int
	}{
		{`if (mode === "arena") x();`, 1},
		{`const label = m === 'Tag' ? 1 : 2;`, 1},
		{"case `pong`: break;", 1},
		{`import { arena } from "../modes/arena";`, 1}, // the identifier; the path is a path
		{`switch (m) { case "arena": case "tag": }`, 2},
		{"const s = `${a}arena${b}`;", 1},
		{"const s = `${a} in the arena ${b}`;", 0},
		{"const s = `x ${\"arena\"} y`;", 1},
		{`el(tagName, {}); client.on("sys.pong", f); // arena and tag, in a comment`, 0},
		{"/* the arena mode */ const x = 1;", 0},
		{`const re = /"arena"/; x = a / b;`, 0},
		{`const s = "it's \"tag\" time";`, 0},
	} {
		if got := tsMentions(tc.src, names); len(got) != tc.want {
			t.Errorf("%s: found %v, want %d", tc.src, got, tc.want)
		}
	}
}

var identRe = regexp.MustCompile(`[A-Za-z_$][A-Za-z0-9_$]*`)

// tsMentions finds the names as identifiers or as whole string literals in
// TypeScript source, outside comments. Regular expression literals are
// skipped roughly (a / after an identifier, number or closing bracket divides).
func tsMentions(src string, names []string) []string {
	var hits []string
	is := func(s string) bool {
		return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, strings.TrimSpace(s)) })
	}
	var code strings.Builder // the source with comments, strings and regexps blanked
	var prev byte            // the last significant code character
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return hits
			}
			i += end + 4
		case c == '"' || c == '\'' || c == '`':
			var lit strings.Builder
			var parts []string
			j := i + 1
			for j < len(src) && src[j] != c {
				switch {
				case src[j] == '\\' && j+1 < len(src):
					lit.WriteByte(src[j+1])
					j += 2
				case c == '`' && strings.HasPrefix(src[j:], "${"):
					// A template's expression: scan it as code, recursively.
					depth, k := 1, j+2
					for k < len(src) && depth > 0 {
						switch src[k] {
						case '{':
							depth++
						case '}':
							depth--
						}
						k++
					}
					hits = append(hits, tsMentions(src[j+2:k-1], names)...)
					parts = append(parts, lit.String())
					lit.Reset()
					j = k
				default:
					lit.WriteByte(src[j])
					j++
				}
			}
			parts = append(parts, lit.String())
			for _, p := range parts {
				if is(p) {
					hits = append(hits, string(c)+p+string(c))
				}
			}
			i = j + 1
			code.WriteByte(' ')
			prev = 'x'
		case c == '/' && !(isIdent(prev) || prev == ')' || prev == ']'):
			j := i + 1
			for j < len(src) && src[j] != '/' && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
			code.WriteByte(' ')
			prev = 'x'
		default:
			code.WriteByte(c)
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				prev = c
			}
			i++
		}
	}
	for _, id := range identRe.FindAllString(code.String(), -1) {
		if is(id) {
			hits = append(hits, id)
		}
	}
	return hits
}

func isIdent(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// wordMentions finds the names as whole words, in any case.
func wordMentions(src string, names []string) []string {
	var hits []string
	for _, n := range names {
		re := regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(n) + `\b`)
		for _, m := range re.FindAllString(src, -1) {
			hits = append(hits, m)
		}
	}
	return hits
}
