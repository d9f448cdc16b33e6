package frontend

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzBuild feeds arbitrary entry sources (and an importable sibling) to the
// bundler: it must never panic, and every failure must be a *BuildError whose
// messages name a file of the tree.
func FuzzBuild(f *testing.F) {
	for _, seed := range []string{
		"document.title = 'x';\n",
		"import './lib';\nimport './style.css';\n",
		"import '../x';\n",
		"import 'bare';\n",
		"import './lib.js';\nexport {};\n",
		"const a = (;\n",
		"import x from './style.css?inline';\n",
		"import('./lib').then(m => m.f());\n",
		"\x00\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		fsys := fstest.MapFS{
			"app/main.ts":   {Data: []byte(src)},
			"app/lib.ts":    {Data: []byte("export function f(): number { return 1; }\n")},
			"app/style.css": {Data: []byte("body{margin:0}\n")},
		}
		b, err := Build(context.Background(), fsys)
		if err != nil {
			var be *BuildError
			if !errors.As(err, &be) {
				t.Fatalf("error %T is not a *BuildError: %v", err, err)
			}
			if !strings.Contains(err.Error(), "app/") {
				t.Fatalf("error names no file: %v", err)
			}
			return
		}
		if b.Files[b.Script] == nil {
			t.Fatalf("bundle without its script: %+v", b)
		}
	})
}
