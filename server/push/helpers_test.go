package push

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"comet/internal/check"
	"comet/server/bus"
)

func quietLogger() *slog.Logger {
	if os.Getenv("COMET_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTestHub starts a hub on an in-process bus, closed when the test ends.
func newTestHub(t testing.TB, cfg Config) *Hub {
	t.Helper()
	if cfg.Bus == nil {
		cfg.Bus = bus.New()
	}
	cfg.Logger = quietLogger()
	h := NewHub(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return h
}

// checkFor polls fn until it returns nil or timeout passes: the one polling
// helper, internal/check's For.
var checkFor = check.For

// recv waits for one value from c, failing the test after timeout.
func recv[T any](t testing.TB, c <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(timeout):
		t.Fatalf("no %s within %v", what, timeout)
		panic("unreachable")
	}
}

// wireEvent is one event as a client reads it.
type wireEvent struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// sseClient is the client end of an SSE stream held by the hub over a real
// loopback TCP connection (no HTTP server: the test plays the handler).
type sseClient struct {
	conn    net.Conn
	r       *bufio.Reader
	pending []wireEvent // read in a batch, not yet returned
}

// holdSSE attaches an SSE stream to s resuming after last. rcvbuf > 0 makes
// the client's receive buffer that small (a client that will stall).
func holdSSE(t testing.TB, h *Hub, s *Session, last uint64, rcvbuf int) *sseClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf <= 0 {
			return nil
		}
		var serr error
		_ = rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
		})
		return serr
	}}
	cli, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Hold(Hold{Conn: srv, Session: s, Transport: sse{}, Last: last}); err != nil {
		t.Fatalf("hold: %v", err)
	}
	c := &sseClient{conn: cli, r: bufio.NewReaderSize(cli, 64<<10)}
	if rcvbuf <= 0 {
		_ = cli.SetReadDeadline(time.Now().Add(5 * time.Second))
		for { // the response head
			line, err := c.r.ReadString('\n')
			if err != nil {
				t.Fatalf("read stream head: %v", err)
			}
			if line == "\r\n" {
				break
			}
		}
	}
	return c
}

// next returns the next event, skipping heartbeats, or fails after timeout.
func (c *sseClient) next(t testing.TB, timeout time.Duration) wireEvent {
	t.Helper()
	if len(c.pending) > 0 {
		ev := c.pending[0]
		c.pending = c.pending[1:]
		return ev
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: ")
		if !ok {
			continue
		}
		var evs []wireEvent
		if err := json.Unmarshal([]byte(data), &evs); err != nil {
			t.Fatalf("bad batch %q: %v", data, err)
		}
		if len(evs) == 0 {
			continue
		}
		c.pending = append(c.pending, evs[1:]...)
		return evs[0]
	}
}

func (e wireEvent) String() string { return fmt.Sprintf("%d %s %s", e.Seq, e.Type, e.Data) }
