package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The naive baseline: what a Comet endpoint usually looks like in Go. An
// Echo handler writes the headers and prelude, flushes, and then holds the
// stream in its own goroutine (with net/http's per-connection buffers) on
// ctx.Done and a heartbeat ticker. It speaks the same framing as the real
// server so the same client measures both. Its WebSocket is gorilla/websocket
// (naive_ws.go).

// naivePrelude is the real server's 2 KiB of padding.
var naivePrelude = strings.Repeat(" ", 2048)

// serveNaive serves the baseline on ln until ctx ends.
func serveNaive(ctx context.Context, ln net.Listener, heartbeat time.Duration) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var ids atomic.Uint64
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	e.POST("/comet/session", func(c echo.Context) error {
		return c.JSON(http.StatusCreated, map[string]any{
			"sid": "n" + strconv.FormatUint(ids.Add(1), 10), "token": "naive",
			"heartbeat_ms": heartbeat.Milliseconds(),
		})
	})
	gh := newGorillaHub(heartbeat)
	e.GET("/comet/:sid/ws", gh.serve) // naive_ws.go: gorilla/websocket
	e.POST("/publish", gh.handlePublish)
	e.GET("/comet/:sid/:transport", func(c echo.Context) error {
		return naiveStream(c, heartbeat)
	})
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("naive server: %w", err)
	}
	return nil
}

// naiveStream holds one stream in the handler's goroutine.
func naiveStream(c echo.Context, heartbeat time.Duration) error {
	sid := c.Param("sid")
	var prelude, beat string
	h := c.Response().Header()
	switch c.Param("transport") {
	case "multipart":
		const boundary = "comet-0123456789abcdef"
		h.Set("Content-Type", `multipart/x-mixed-replace; boundary="`+boundary+`"`)
		prelude = naivePrelude + "\r\n"
		beat = "--" + boundary + "\r\nContent-Type: application/json\r\n\r\n[]\r\n"
	case "sse":
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		prelude = ":" + naivePrelude + "\nretry: 1000\n\n"
		beat = "data: []\n\n"
	case "iframe":
		h.Set("Content-Type", "text/html; charset=utf-8")
		prelude = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>comet</title></head><body>` + "\n<!-- " + naivePrelude[:1024] + " -->\n"
		beat = `<script nonce="n">parent.__comet("` + sid + `",[])</script>` + "\n"
	case "poll":
		wait, _ := strconv.Atoi(c.QueryParam("wait"))
		select {
		case <-c.Request().Context().Done():
		case <-time.After(time.Duration(min(max(wait, 0), 30)) * time.Second):
		}
		return c.Blob(http.StatusOK, "application/json", []byte("[]"))
	default:
		return echo.ErrNotFound
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w := c.Response()
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte(prelude)); err != nil {
		return nil
	}
	w.Flush()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	ctx := c.Request().Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := w.Write([]byte(beat)); err != nil {
				return nil
			}
			w.Flush()
		}
	}
}
