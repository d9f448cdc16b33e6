// Package natstest runs an embedded nats-server for tests, in process and
// with no listener (clients connect with nats.InProcessServer), as
// nats-server's own test/test.go does, and natsbus nodes on it.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"comet/server/bus"
	"comet/server/natsbus"
)

// Run starts an embedded nats-server with opts (nil: none beyond the
// defaults) and shuts it down at the end of the test; it fails the test if
// the server does not start within 10 s.
func Run(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	o := server.Options{}
	if opts != nil {
		o = *opts
	}
	o.DontListen, o.NoLog, o.NoSigs = true, true, true
	s, err := server.NewServer(&o)
	if err != nil {
		t.Fatalf("embedded nats-server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("embedded nats-server not ready in 10 s")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Bus starts a natsbus on nc with cfg (an in-process bus as Local when cfg
// has none) and closes it at the end of the test.
func Bus(t testing.TB, nc *nats.Conn, cfg natsbus.Config) *natsbus.Bus {
	t.Helper()
	cfg.Conn = nc
	if cfg.Local == nil {
		cfg.Local = bus.New()
	}
	b, err := natsbus.New(cfg)
	if err != nil {
		t.Fatalf("natsbus: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	return b
}
