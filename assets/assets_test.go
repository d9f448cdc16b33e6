package assets

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestPageGolden(t *testing.T) {
	tests := []struct {
		name string
		data PageData
	}{
		{"with-style", PageData{Script: "app-3F2A9C1B.js", Style: "app-7D4E2A10.css", Version: "v1.2.3"}},
		{"no-style", PageData{Script: "app-3F2A9C1B.js", Version: "dev"}},
		{"escaped", PageData{Script: `a"><script>x</script>.js`, Version: `"><b>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Page(&buf, tt.data); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".html")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("page differs from %s:\n%s", golden, buf.String())
			}
		})
	}
}

// The shell must run under script-src 'self': no inline script, no inline
// handlers, and the elements the client and tests look up must exist.
func TestPageShellContract(t *testing.T) {
	var buf bytes.Buffer
	if err := Page(&buf, PageData{Script: "app-X.js", Style: "app-Y.css"}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{
		`<script type="module" src="/static/app-X.js"></script>`,
		`<link rel="stylesheet" href="/static/app-Y.css">`,
		`<canvas class="stage" data-testid="game-canvas"`,
		`data-testid="hud-transport"`,
		`data-testid="hud-ping"`,
		`data-testid="reconnect-banner" role="status" hidden`,
		`href="/assets/favicon.svg"`,
		// The browser tests' hooks (frontend/browsertest) that live in the shell.
		`data-testid="name-input"`, `data-testid="name-save"`, `data-testid="online-count"`,
		`data-testid="room-list"`, `data-testid="create-room"`, `data-testid="join-code"`,
		`data-testid="leave-room"`, `data-testid="scoreboard"`, `data-testid="match-result"`,
		`data-testid="chat-input"`, `data-testid="chat-log"`, `data-testid="leaderboard"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if n := strings.Count(html, "<script"); n != 1 {
		t.Errorf("page has %d <script> elements, want only the bundle", n)
	}
	for _, bad := range []string{" onload=", " onclick=", " onerror=", " style=", "javascript:"} {
		if strings.Contains(html, bad) {
			t.Errorf("page contains %q, which the CSP forbids", bad)
		}
	}
}

func TestPageErrors(t *testing.T) {
	if err := Page(&bytes.Buffer{}, PageData{}); err == nil {
		t.Error("Page without a script: want an error")
	}
	w := failWriter{}
	if err := Page(w, PageData{Script: "a.js"}); !errors.Is(err, errWrite) {
		t.Errorf("Page to a failing writer: err = %v, want %v", err, errWrite)
	}
}

var errWrite = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestFiles(t *testing.T) {
	svg, err := fs.ReadFile(Files(), "favicon.svg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(svg, []byte("<svg ")) {
		t.Errorf("favicon.svg does not start with <svg: %.40q", svg)
	}
	if _, err := fs.Stat(Files(), "index.html"); err == nil {
		t.Error("the page template is served under /assets/; it must only be rendered by Page")
	}
}
