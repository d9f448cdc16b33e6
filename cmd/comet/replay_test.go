package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"comet/internal/check"
)

// TestRecordThenReplay: `comet serve --record DIR` writes each finished
// match of the real binary to DIR, and `comet replay FILE` re-runs it to the
// same final digest; a damaged file fails with a clear error.
func TestRecordThenReplay(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	p := startProc(t, filepath.Join(dir, "comet.db"), "--match-length", "1s", "--record", rec)
	a := join(t, p.url)
	a.send("room.join", map[string]string{"mode": "tag"})
	a.waitFor(t, "match.result", 20*time.Second)
	var files []string
	check.For(t, 10*time.Second, func() error { // the server writes the file after the result
		if files, _ = filepath.Glob(filepath.Join(rec, "*.jsonl")); len(files) == 0 {
			return fmt.Errorf("no recording in %s after a finished match\n%s", rec, p.log())
		}
		return nil
	})

	var out bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = &out, &out
	if err := m.Run(context.Background(), []string{"replay", files[0]}); err != nil {
		t.Fatalf("replay: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "tag") {
		t.Fatalf("replay report does not name the mode:\n%s", out.String())
	}

	broken := filepath.Join(dir, "broken.jsonl")
	if err := os.WriteFile(broken, []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := m.Run(context.Background(), []string{"replay", broken}); err == nil || !strings.Contains(err.Error(), "broken.jsonl") {
		t.Fatalf("a broken recording replayed: %v", err)
	}
}
