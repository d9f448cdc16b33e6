package clustertest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsStartTimeout bounds a start (listening and JetStream answering);
// natsStopTimeout a graceful stop before SIGKILL.
const (
	natsStartTimeout = 30 * time.Second
	natsStopTimeout  = 10 * time.Second
)

// NATS is a nats-server process with JetStream, listening on one loopback
// port and storing in a temp dir; both stay the same across Restart.
type NATS struct {
	t    testing.TB
	bin  string
	Addr string // 127.0.0.1:port
	Dir  string // JetStream's store

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	logs *syncBuffer
}

// StartNATS builds nats-server (once per test process) and starts it with
// JetStream on a free loopback port. It is stopped when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{t: t, bin: NATSServer(t), Addr: FreeAddr(t), Dir: t.TempDir(), logs: &syncBuffer{}}
	t.Cleanup(func() { n.Stop() })
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	return n
}

// URL is the client URL, nats://127.0.0.1:port.
func (n *NATS) URL() string { return "nats://" + n.Addr }

// Log is what nats-server wrote so far (all its runs).
func (n *NATS) Log() string { return n.logs.String() }

func (n *NATS) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("clustertest: nats-server already running on %s", n.Addr)
	}
	host, port, _ := strings.Cut(n.Addr, ":")
	cmd := exec.Command(n.bin, "-a", host, "-p", port, "-js", "-sd", n.Dir, "-n", "clustertest")
	cmd.Stdout, cmd.Stderr = n.logs, n.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("clustertest: start nats-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
	if err := waitTCP(n.Addr, done, natsStartTimeout); err != nil {
		return fmt.Errorf("clustertest: nats-server: %w\n%s", err, n.logs)
	}
	// Listening comes before JetStream has recovered its store: wait for
	// it to answer an account info request.
	ctx, cancel := context.WithTimeout(context.Background(), natsStartTimeout)
	defer cancel()
	for {
		err := n.jetStreamReady(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: nats-server JetStream not ready after %v: %w\n%s", natsStartTimeout, err, n.logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *NATS) jetStreamReady(ctx context.Context) error {
	nc, err := nats.Connect(n.URL(), nats.Timeout(2*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = js.AccountInfo(ctx)
	return err
}

// Stop stops nats-server (SIGTERM, SIGKILL after natsStopTimeout) and waits
// for it to exit; clients see their connection drop. Stopping a stopped
// server does nothing.
func (n *NATS) Stop() { n.signal(syscall.SIGTERM) }

// Kill ends nats-server with SIGKILL and waits for it to exit.
func (n *NATS) Kill() { n.signal(syscall.SIGKILL) }

func (n *NATS) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	select {
	case <-n.done:
	case <-time.After(natsStopTimeout):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd, n.done = nil, nil
}

// Restart stops nats-server and starts it again on the same address with
// the same store (what a NATS restart looks like to the nodes); it fails
// the test if the new process does not come up.
func (n *NATS) Restart() {
	n.t.Helper()
	n.Stop()
	if err := n.start(); err != nil {
		n.t.Fatal(err)
	}
}

// Start starts a stopped nats-server again on the same address and store.
func (n *NATS) Start() {
	n.t.Helper()
	if err := n.start(); err != nil {
		n.t.Fatal(err)
	}
}

// Connect returns a client connection, closed when the test ends.
func (n *NATS) Connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(n.URL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to %s: %v\n%s", n.URL(), err, n.Log())
	}
	t.Cleanup(nc.Close)
	return nc
}

// syncBuffer is a log that several goroutines write and tests read.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
