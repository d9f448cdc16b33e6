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

// debugServer serves Go's profiler (/debug/pprof/) on its own listener, kept
// off the public address because profiles reveal internals and cost CPU.
type debugServer struct {
	ln  net.Listener
	srv *http.Server
}

// listenDebug opens the profiler's listener on addr; a port already in use is
// an error, not a silent skip, so a host never profiles the wrong process.
func listenDebug(addr string) (*debugServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for --debug-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &debugServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// serve runs until close; its errors are logged, never fatal to the game server.
func (d *debugServer) serve(log *slog.Logger) {
	log.Info("profiler listening", "addr", d.ln.Addr().String())
	if err := d.srv.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("profiler stopped", "err", err)
	}
}

func (d *debugServer) close(ctx context.Context) { _ = d.srv.Shutdown(ctx) }
