package gameloop_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEngineNamesNoMode keeps the engine and its kit mode-agnostic: no file
// of gameloop/ or gameloop/modetest (tests included) names a mode of
// gameloop/modes/ as a string or imports one; tests that must run every mode
// iterate modes.All(). bench_test.go measures arena on purpose
// (make bench runs it from here).
func TestEngineNamesNoMode(t *testing.T) {
	dirs, err := os.ReadDir("modes")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		if d.IsDir() && d.Name() != "testdata" {
			names = append(names, d.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no mode folders found in gameloop/modes")
	}
	files, _ := filepath.Glob("*.go")
	kit, _ := filepath.Glob("modetest/*.go")
	for _, f := range append(files, kit...) {
		if f == "bench_test.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			for _, bad := range []string{`"` + n + `"`, `modes/` + n + `"`, `"` + n + ` `} {
				if strings.Contains(string(src), bad) {
					t.Errorf("%s names mode %s (%s): use a test mode or iterate modes.All()", f, n, bad)
				}
			}
		}
	}
}
