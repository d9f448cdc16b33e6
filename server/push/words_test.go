package push

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoApplicationWords keeps the push core free of the application: it
// knows messages, seqs, sinks and streams, so none of its code or comments
// may speak of rooms, chat, players, the lobby, mutes or games (a socket
// with "room" to write is fine).
func TestNoApplicationWords(t *testing.T) {
	words := regexp.MustCompile(`(?i)\b(chat|players?|lobby|mutes?|muted|games?|gameloop|diffs?)\b|\broom[.:]|\brooms\b|game rooms?`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := words.FindString(line); m != "" {
				t.Errorf("%s:%d speaks of %q: %s", f, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}
