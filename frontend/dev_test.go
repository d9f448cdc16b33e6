package frontend

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, data string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestDevRebuildsOnlyOnChange(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().Add(-time.Hour)
	writeFile(t, dir, "app/main.ts", "import './style.css';\ndocument.title = 'one';\n", t0)
	writeFile(t, dir, "app/style.css", "body{margin:0}\n", t0)
	d := NewDev(dir, nil)
	ctx := context.Background()

	b1, err := d.Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.Bundle(ctx)
	if err != nil || again != b1 || d.builds != 1 {
		t.Fatalf("unchanged tree: bundle %p (first %p), builds %d, err %v; want the same bundle and 1 build", again, b1, d.builds, err)
	}

	// Same size, new content and mtime.
	writeFile(t, dir, "app/main.ts", "import './style.css';\ndocument.title = 'two';\n", t0.Add(time.Minute))
	b2, err := d.Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b2 == b1 || b2.Script == b1.Script || d.builds != 2 {
		t.Fatalf("after an edit: script %s (was %s), builds %d; want a rebuild", b2.Script, b1.Script, d.builds)
	}
	if b2.Style != b1.Style {
		t.Errorf("style changed (%s → %s) though style.css did not", b1.Style, b2.Style)
	}

	// A new file counts as a change too.
	writeFile(t, dir, "app/extra.ts", "export const x = 1;\n", t0)
	if _, err := d.Bundle(ctx); err != nil || d.builds != 3 {
		t.Fatalf("after adding a file: builds %d, err %v; want 3 builds", d.builds, err)
	}

	// A broken edit keeps serving the last good bundle, with the error.
	writeFile(t, dir, "app/main.ts", "import './style.css';\ndocument.title = (;\n", t0.Add(2*time.Minute))
	b4, err := d.Bundle(ctx)
	if err == nil {
		t.Fatal("broken source: no error")
	}
	wantLoc := filepath.ToSlash(filepath.Join(dir, "app/main.ts")) + ":2:"
	if !strings.Contains(err.Error(), wantLoc) {
		t.Errorf("error %q does not name %s", err, wantLoc)
	}
	if b4 != d.last || b4 == nil || b4.Script == "" {
		t.Errorf("broken source: got bundle %v, want the last good one", b4)
	}
	builds := d.builds
	if _, err2 := d.Bundle(ctx); err2 == nil || d.builds != builds {
		t.Errorf("unchanged broken tree: builds %d → %d, err %v; want no rebuild and the same error", builds, d.builds, err2)
	}

	// Fixing it builds again.
	writeFile(t, dir, "app/main.ts", "import './style.css';\ndocument.title = 'three';\n", t0.Add(3*time.Minute))
	b5, err := d.Bundle(ctx)
	if err != nil || b5 == b4 {
		t.Fatalf("after the fix: err %v, bundle unchanged %v", err, b5 == b4)
	}
}

func TestDevMissingDir(t *testing.T) {
	d := NewDev(filepath.Join(t.TempDir(), "nope"), nil)
	b, err := d.Bundle(context.Background())
	if err == nil || b != nil {
		t.Errorf("missing dir: bundle %v, err %v; want nil and an error", b, err)
	}
}

func TestDevCancelledDoesNotStick(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "app/main.ts", "document.title = 'x';\n", time.Now())
	d := NewDev(dir, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Bundle(ctx); err == nil {
		t.Fatal("cancelled: no error")
	}
	if _, err := d.Bundle(context.Background()); err != nil {
		t.Errorf("after a cancelled build the next one must run: %v", err)
	}
}
