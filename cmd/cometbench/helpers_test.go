package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/server"
	"comet/server/bus"
	"comet/server/push"
	"comet/server/sqlite"
)

// TestMain lets the tests start this test binary as one of the bench's
// children (an agent, the naive server, the raw writer), as the real binary
// starts itself.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startCometT runs the real server in this process on a fresh database, with
// a short heartbeat and quick game rooms, and returns it as a target (its
// process figures are this test process's).
func startCometT(t testing.TB, tune ...func(*server.Config)) *target {
	t.Helper()
	tg, err := startCometInProcess(context.Background(), t.TempDir(), tune...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	return tg
}

func startCometInProcess(ctx context.Context, dir string, tune ...func(*server.Config)) (*target, error) {
	db, err := sqlite.Open(ctx, filepath.Join(dir, "comet.db"), quietLog())
	if err != nil {
		return nil, err
	}
	cfg := server.Config{
		Store: db, Bus: bus.New(), Logger: quietLog(),
		Hub:    push.Config{Heartbeat: 300 * time.Millisecond},
		Limits: server.Limits{SessionsPerMinute: -1, StreamsPerIP: -1, SessionsPerIP: -1, RoomsPerMinute: -1},
		Abuse:  server.AbuseLimits{ChatPerIPPerMinute: -1},
		Game: gameloop.ManagerConfig{Modes: modes.All(), BotFillDelay: 100 * time.Millisecond, Settings: map[string]gameloop.Settings{
			"arena": {Countdown: 100 * time.Millisecond},
		}},
	}
	for _, fn := range tune {
		fn(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		_ = db.Close()
		return nil, err
	}
	go func() { _ = srv.Serve(ln) }()
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		_ = db.Close()
		return err
	}
	return newTarget("comet", "http://"+ln.Addr().String(), os.Getpid(), stop), nil
}

// startHelperT runs the naive server or the raw writer in this process.
func startHelperT(t testing.TB, mode string, heartbeat time.Duration) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if mode == "naive-server" {
			_ = serveNaive(ctx, ln, heartbeat)
		} else {
			_ = serveRaw(ctx, ln)
		}
	}()
	tg := newTarget(mode, "http://"+ln.Addr().String(), os.Getpid(), func() error {
		cancel()
		select {
		case <-done:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the test server did not stop within 10 s")
		}
	})
	t.Cleanup(func() { _ = tg.Close() })
	return tg
}

// fleetT builds an in-process fleet of n agents against tg.
func fleetT(t testing.TB, tg *target, agents int, token string) *fleet {
	t.Helper()
	f, err := newFleet(context.Background(), tg.Base, fleetOpts{Agents: agents, InProcess: true, Token: token, Raw: tg.Name == "raw-writer", PollWait: 1}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.close() })
	return f
}

func playerT(t testing.TB, tg *target) string {
	t.Helper()
	tok, err := newPlayer(context.Background(), tg.Base)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func testConfig(t testing.TB) Config {
	return Config{InProcess: true, Work: t.TempDir(), Out: io.Discard, Stderr: io.Discard, Log: quietLog()}
}
