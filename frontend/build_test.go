package frontend

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

var hashedName = regexp.MustCompile(`^app-[A-Z0-9]{8}\.(js|css)$`)

func TestBuildEmbeddedSources(t *testing.T) {
	b, err := Build(context.Background(), Sources())
	if err != nil {
		t.Fatal(err)
	}
	if !hashedName.MatchString(b.Script) || !strings.HasSuffix(b.Script, ".js") {
		t.Errorf("Script = %q, want app-<hash>.js", b.Script)
	}
	if !hashedName.MatchString(b.Style) || !strings.HasSuffix(b.Style, ".css") {
		t.Errorf("Style = %q, want app-<hash>.css", b.Style)
	}
	js := b.Files[b.Script]
	if len(js) == 0 {
		t.Fatalf("Files lacks the script %s (have %v)", b.Script, names(b))
	}
	if want := "//# sourceMappingURL=" + b.Script + ".map"; !bytes.Contains(js, []byte(want)) {
		t.Errorf("script does not link its map (%s)", want)
	}
	if _, ok := b.Files[b.Script+".map"]; !ok {
		t.Errorf("Files lacks %s.map", b.Script)
	}
	if len(b.Files[b.Style]) == 0 {
		t.Errorf("Files lacks the stylesheet %s", b.Style)
	}
	// Minified: no line of the script is indented.
	if bytes.Contains(js, []byte("\n  ")) {
		t.Error("script does not look minified")
	}
	// Only the page is bundled; the test entries stay out.
	for name := range b.Files {
		if strings.HasPrefix(name, "unit-") || strings.HasPrefix(name, "e2e-") {
			t.Errorf("test output %s in the page bundle", name)
		}
	}
}

func TestBuildNamesAreContentHashes(t *testing.T) {
	base := func() fstest.MapFS {
		return fstest.MapFS{
			"app/main.ts":   {Data: []byte("import './style.css';\nimport { greet } from './greet';\ndocument.title = greet('x');\n")},
			"app/greet.ts":  {Data: []byte("export function greet(n: string): string { return 'hi ' + n; }\n")},
			"app/style.css": {Data: []byte("body { margin: 0 }\n")},
		}
	}
	ref := mustBuild(t, base())
	tests := []struct {
		name                  string
		change                func(fstest.MapFS)
		sameScript, sameStyle bool
	}{
		{"same content", func(fstest.MapFS) {}, true, true},
		{"script changed", func(m fstest.MapFS) {
			m["app/greet.ts"] = &fstest.MapFile{Data: []byte("export function greet(n: string): string { return 'hello ' + n; }\n")}
		}, false, true},
		{"style changed", func(m fstest.MapFS) {
			m["app/style.css"] = &fstest.MapFile{Data: []byte("body { margin: 1px }\n")}
		}, true, false},
		// A comment changes no code, but does change the source map the script links to.
		{"comment changed", func(m fstest.MapFS) {
			m["app/greet.ts"] = &fstest.MapFile{Data: []byte("// greeting\nexport function greet(n: string): string { return 'hi ' + n; }\n")}
		}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.change(m)
			b := mustBuild(t, m)
			if got := b.Script == ref.Script; got != tt.sameScript {
				t.Errorf("script %s vs %s: same = %v, want %v", b.Script, ref.Script, got, tt.sameScript)
			}
			if got := b.Style == ref.Style; got != tt.sameStyle {
				t.Errorf("style %s vs %s: same = %v, want %v", b.Style, ref.Style, got, tt.sameStyle)
			}
			if tt.sameScript && !bytes.Equal(b.Files[b.Script], ref.Files[ref.Script]) {
				t.Error("same script name, different contents")
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  []string // substrings of the error
	}{
		{"syntax error", fstest.MapFS{
			"app/main.ts": {Data: []byte("const a = 1;\nconst b = (a +;\n")},
		}, []string{"app/main.ts:2:", "Unexpected"}},
		{"syntax error in an imported file", fstest.MapFS{
			"app/main.ts": {Data: []byte("import { f } from './lib';\nf();\n")},
			"app/lib.ts":  {Data: []byte("export function f( {\n}\n")},
		}, []string{"app/lib.ts:3:1: ", "Expected"}},
		{"missing module", fstest.MapFS{
			"app/main.ts": {Data: []byte("import './nope';\n")},
		}, []string{"app/main.ts:1:", `cannot find "app/nope"`}},
		{"bare import", fstest.MapFS{
			"app/main.ts": {Data: []byte("import 'react';\n")},
		}, []string{"app/main.ts:1:", "only relative imports"}},
		{"import outside the tree", fstest.MapFS{
			"app/main.ts": {Data: []byte("import '../../etc/passwd';\n")},
		}, []string{"app/main.ts:1:", "outside the source tree"}},
		{"invalid UTF-8", fstest.MapFS{
			"app/main.ts": {Data: []byte("const s = \"\xe4\xe4\xe4\";\n")},
		}, []string{"app/main.ts is not valid UTF-8 (at byte 11)"}},
		{"no entry", fstest.MapFS{
			"app/other.ts": {Data: []byte("export {};\n")},
		}, []string{`cannot find "app/main.ts"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(context.Background(), tt.files)
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			var be *BuildError
			if !errors.As(err, &be) {
				t.Errorf("error %T is not a *BuildError: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestBuildCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, Sources()); !errors.Is(err, context.Canceled) {
		t.Errorf("Build with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestBuildEntryName(t *testing.T) {
	src := fstest.MapFS{"t/run.ts": {Data: []byte("console.log(1);\n")}}
	b, err := BuildEntry(context.Background(), src, "t/run.ts", "unit")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^unit-[A-Z0-9]{8}\.js$`).MatchString(b.Script) || b.Style != "" {
		t.Errorf("Script, Style = %q, %q; want unit-<hash>.js and none", b.Script, b.Style)
	}
	for _, bad := range []string{"", "a/b", "x[name]"} {
		if _, err := BuildEntry(context.Background(), src, "t/run.ts", bad); err == nil {
			t.Errorf("output name %q accepted", bad)
		}
	}
}

func mustBuild(t *testing.T, src fstest.MapFS) *Bundle {
	t.Helper()
	b, err := Build(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(b *Bundle) []string {
	var n []string
	for k := range b.Files {
		n = append(n, k)
	}
	return n
}

func BenchmarkBuildEmbedded(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(context.Background(), Sources()); err != nil {
			b.Fatal(err)
		}
	}
}
