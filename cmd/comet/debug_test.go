package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDebugAddrServesProfilerOffThePublicAddress(t *testing.T) {
	m := NewMain()
	if err := m.ParseFlags("serve", []string{"--addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0",
		"--db", filepath.Join(t.TempDir(), "comet.db")}); err != nil {
		t.Fatal(err)
	}
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	debugURL := "http://" + m.debug.ln.Addr().String()

	resp, body := get(t, debugURL+"/debug/pprof/heap?debug=1")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "heap profile") {
		t.Fatalf("heap profile = %d %.80q", resp.StatusCode, body)
	}
	resp, _ = get(t, m.URL()+"/debug/pprof/heap")
	if resp.StatusCode != 404 {
		t.Fatalf("public address serves the profiler: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown took over 15 s")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(debugURL, "http://"), time.Second); err == nil {
		c.Close()
		t.Fatal("profiler still listening after shutdown")
	}
}

func TestDebugAddrInUseIsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	m := NewMain()
	m.Addr, m.DebugAddr = "127.0.0.1:0", ln.Addr().String()
	m.DBPath = filepath.Join(t.TempDir(), "comet.db")
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	err = m.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--debug-addr") {
		m.Close()
		t.Fatalf("Open with a busy debug address = %v", err)
	}
}

// TestMetricsAddrServesMetricsOnlyThere: with --metrics-addr, /metrics is on
// that address and answers 404 on the public one; a busy address is an error.
func TestMetricsAddrServesMetricsOnlyThere(t *testing.T) {
	m := NewMain()
	if err := m.ParseFlags("serve", []string{"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--db", filepath.Join(t.TempDir(), "comet.db")}); err != nil {
		t.Fatal(err)
	}
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	metricsURL := "http://" + m.metrics.ln.Addr().String()

	get(t, m.URL()+"/healthz") // counted, so the private scrape shows a public request
	resp, body := get(t, metricsURL+"/metrics")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `comet_http_requests_total{method="GET",route="/healthz"`) {
		t.Fatalf("private /metrics = %d %.300q", resp.StatusCode, body)
	}
	resp, body = get(t, m.URL()+"/metrics")
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"code":"not_found"`) {
		t.Fatalf("public /metrics with --metrics-addr = %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, metricsURL+"/debug/pprof/"); resp.StatusCode != 404 {
		t.Fatalf("the metrics address serves more than /metrics: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown took over 15 s")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(metricsURL, "http://"), time.Second); err == nil {
		c.Close()
		t.Fatal("metrics still listening after shutdown")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	m2 := NewMain()
	m2.Addr, m2.MetricsAddr = "127.0.0.1:0", busy.Addr().String()
	m2.DBPath = filepath.Join(t.TempDir(), "comet.db")
	m2.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := m2.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		m2.Close()
		t.Fatalf("Open with a busy metrics address = %v", err)
	}
}
