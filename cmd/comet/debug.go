package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// privateServer serves one handler on its own listener, kept off the public
// address: the profiler (profiles reveal internals and cost CPU) and, with
// --metrics-addr, the metrics.
type privateServer struct {
	what string // what it serves, for the log
	ln   net.Listener
	srv  *http.Server
}

// listenPrivate opens a listener on addr for h; a port already in use is an
// error naming flag, not a silent skip, so a host never scrapes or profiles
// the wrong process.
func listenPrivate(what, flag, addr string, h http.Handler) (*privateServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s %s: %w", flag, addr, err)
	}
	return &privateServer{what: what, ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// listenDebug opens the profiler's listener (/debug/pprof/) on addr.
func listenDebug(addr string) (*privateServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return listenPrivate("profiler", "--debug-addr", addr, mux)
}

// listenMetrics opens the metrics' listener (/metrics only) on addr.
func listenMetrics(addr string, metrics http.Handler) (*privateServer, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	return listenPrivate("metrics", "--metrics-addr", addr, mux)
}

// serve runs until close; its errors are logged, never fatal to the game server.
func (d *privateServer) serve(log *slog.Logger) {
	log.Info(d.what+" listening", "addr", d.ln.Addr().String())
	if err := d.srv.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn(d.what+" stopped", "err", err)
	}
}

func (d *privateServer) close(ctx context.Context) { _ = d.srv.Shutdown(ctx) }
