package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// startMain runs the real program on a loopback port with a fresh database.
func startMain(t *testing.T) (*Main, string) {
	t.Helper()
	m := NewMain()
	m.Addr = "127.0.0.1:0"
	m.DBPath = filepath.Join(t.TempDir(), "data", "comet.db")
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m.Stdout, m.Stderr = io.Discard, io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		t.Fatalf("open: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("graceful shutdown took over 15 s")
		}
	})
	return m, m.URL()
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestServesPageHealthMetricsAndJSONErrors(t *testing.T) {
	m, url := startMain(t)

	resp, body := get(t, url+"/")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `data-testid="game-canvas"`) {
		t.Fatalf("GET / = %d, page without the game canvas", resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Fatalf("page Cache-Control = %q, want no-cache", cc)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("page CSP = %q", csp)
	}
	// The page's script is a hashed bundle file with a long cache lifetime.
	i := strings.Index(string(body), "/static/")
	if i < 0 {
		t.Fatal("page links no /static/ bundle")
	}
	name := string(body[i:])
	name = name[:strings.IndexAny(name, `"'`)]
	resp, js := get(t, url+name)
	if resp.StatusCode != 200 || len(js) == 0 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("GET %s = %d, %d bytes, Cache-Control %q", name, resp.StatusCode, len(js), resp.Header.Get("Cache-Control"))
	}

	resp, body = get(t, url+"/healthz")
	var h struct{ Status, Version, Database string }
	if err := json.Unmarshal(body, &h); err != nil || resp.StatusCode != 200 || h.Status != "ok" || h.Database != "ok" {
		t.Fatalf("healthz = %d %s", resp.StatusCode, body)
	}

	resp, body = get(t, url+"/metrics")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "go_goroutines") ||
		!strings.Contains(string(body), "process_resident_memory_bytes") || !strings.Contains(string(body), "go_gc_heap_live_bytes") || !strings.Contains(string(body), "comet_http_requests_total") {
		t.Fatalf("metrics = %d, missing collectors", resp.StatusCode)
	}

	resp, body = get(t, url+"/no/such/route")
	if resp.StatusCode != 404 || strings.TrimSpace(string(body)) != `{"error":"not found","code":"not_found"}` {
		t.Fatalf("unknown route = %d %s", resp.StatusCode, body)
	}

	big := bytes.Repeat([]byte("x"), 100<<10)
	r, err := http.Post(url+"/comet/session", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 413 || !strings.Contains(string(body), `"code":"too_large"`) {
		t.Fatalf("oversized body = %d %s", r.StatusCode, body)
	}

	var n int
	if err := m.DB.DB().Get(&n, "SELECT count(*) FROM schema_migrations"); err != nil || n == 0 {
		t.Fatalf("schema_migrations rows = %d, %v", n, err)
	}
}

func TestBadDatabasePathsFailCleanly(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte("not a database "), 400), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"unwritable": filepath.Join(file, "sub", "comet.db"),
		"corrupt":    corrupt,
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			m := NewMain()
			m.Stdout, m.Stderr = io.Discard, &stderr
			m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			err := m.Run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", path})
			if err == nil {
				m.Close()
				t.Fatal("serve started on a bad database")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, path) {
				t.Fatalf("error %q: want one line naming %s", msg, path)
			}
		})
	}
}

func TestMigrateCommand(t *testing.T) {
	var out bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = &out, io.Discard
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	db := filepath.Join(t.TempDir(), "m", "comet.db")
	if err := m.Run(context.Background(), []string{"migrate", "--db", db}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied 0001_init.sql") || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("migrate printed %q", out.String())
	}
	out.Reset()
	if err := m.Run(context.Background(), []string{"migrate", "--db", db}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "applied") {
		t.Fatalf("second migrate applied again: %q", out.String())
	}
}

func TestFlagsFallBackToEnvironment(t *testing.T) {
	t.Setenv("COMET_ADDR", "127.0.0.1:9999")
	t.Setenv("COMET_DB", "/tmp/x.db")
	m := NewMain()
	m.Stderr = io.Discard
	if err := m.ParseFlags("serve", nil); err != nil {
		t.Fatal(err)
	}
	if m.Addr != "127.0.0.1:9999" || m.DBPath != "/tmp/x.db" {
		t.Fatalf("addr %q db %q", m.Addr, m.DBPath)
	}
	if err := m.ParseFlags("serve", []string{"--addr", ":1"}); err != nil || m.Addr != ":1" {
		t.Fatalf("flag did not win over env: %q %v", m.Addr, err)
	}
	if err := m.Run(context.Background(), []string{"bogus"}); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// TestGCPercentUnlessGOGCIsSet: --gc-percent sets the collector's target, but
// an operator's GOGC is left alone.
func TestGCPercentUnlessGOGCIsSet(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	gogc, had := os.LookupEnv("GOGC")
	os.Unsetenv("GOGC")
	defer func() {
		if had {
			os.Setenv("GOGC", gogc)
		}
	}()

	m := NewMain()
	if err := m.ParseFlags("serve", []string{"--gc-percent", "37"}); err != nil {
		t.Fatal(err)
	}
	m.tuneGC()
	if got := debug.SetGCPercent(100); got != 37 {
		t.Fatalf("GC percent = %d after --gc-percent 37", got)
	}

	t.Setenv("GOGC", "200")
	m.tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent = %d: --gc-percent overrode GOGC", got)
	}
}
