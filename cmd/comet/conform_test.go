package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConformCommand: `comet conform --base` against the real binary's
// server passes the session checks and prints the summary line; against a
// server that answers 500 to everything it fails with status 1.
func TestConformCommand(t *testing.T) {
	_, url := startMain(t)
	var out, errb bytes.Buffer
	ctx := context.Background()
	if code := runConform(ctx, []string{"--base", url, "--run", `^session\.(create|version|auth)$`}, &out, &errb); code != 0 {
		t.Fatalf("against the real server: status %d\n%s%s", code, out.String(), errb.String())
	}
	if !regexp.MustCompile(`(?m)^3 passed, 0 failed$`).MatchString(out.String()) {
		t.Errorf("output lacks `3 passed, 0 failed`:\n%s", out.String())
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "oops", http.StatusInternalServerError)
	}))
	defer broken.Close()
	out.Reset()
	if code := runConform(ctx, []string{"--base", broken.URL, "--run", `^session\.create$`, "--timeout", "5s"}, &out, &errb); code != 1 {
		t.Fatalf("against a broken server: status %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "FAIL session.create — ") || !strings.HasSuffix(out.String(), "\n0 passed, 1 failed\n") {
		t.Errorf("against a broken server:\n%s", out.String())
	}
	if code := runConform(ctx, nil, io.Discard, io.Discard); code != 2 {
		t.Errorf("no --base or --serve: status %d, want 2", code)
	}
}

// TestConformServeCommand: `comet conform --serve` prints its address, serves
// the mock's report, and stops with its context.
func TestConformServeCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- runConform(ctx, []string{"--serve", "127.0.0.1:0"}, pw, io.Discard); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := regexp.MustCompile(`http://[0-9.]+:[0-9]+`).FindString(line)
	resp, err := http.Get(addr + "/conform/report")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || rep.Findings == nil {
		t.Errorf("GET /conform/report: %v %+v", err, rep)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("status %d after the context ended", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--serve did not stop with its context")
	}
}
