package cluster_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"comet/internal/check"
	"comet/server/cluster"
)

// A renewal whose answer was lost (it timed out on a busy machine) may have
// been applied all the same, so the node's next renewal names a stale
// revision. The key still holds this node's own lease: the node goes on
// from it instead of fencing itself. A lease written by another process
// under the name is still a lost lease.
func TestLeaseRenewalAppliedButUnanswered(t *testing.T) {
	ns := startNATS(t)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	lost := make(chan error, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := cluster.Start(ctx, cluster.Config{Conn: nc, Node: "n1", LeaseTTL: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnLeaseLost: func(err error) { lost <- err }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, cluster.NodesBucket)
	if err != nil {
		t.Fatal(err)
	}

	// Write the node's own lease once more behind its back, as an applied
	// renewal whose answer never came back would have: its revision moves on.
	own := func() jetstream.KeyValueEntry {
		e, err := kv.Get(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := own()
	id, _, _ := strings.Cut(string(e.Value()), " ")
	if _, err := kv.Update(ctx, "n1", []byte(id+" "+time.Now().UTC().Format(time.RFC3339Nano)), e.Revision()); err != nil {
		t.Fatal(err)
	}
	bumped := own().Revision()
	// The node renews past that revision: it went on from it, unfenced.
	check.For(t, 10*time.Second, func() error {
		e, err := kv.Get(ctx, "n1")
		if err != nil {
			return fmt.Errorf("read the node's lease: %w", err)
		}
		if r := e.Revision(); r <= bumped {
			return fmt.Errorf("lease still at revision %d (bumped to %d): not renewed since", r, bumped)
		}
		return nil
	})
	select {
	case err := <-lost:
		t.Fatalf("lease reported lost after a renewal applied unanswered: %v", err)
	default:
	}
	if n.Fenced() {
		t.Fatal("node fenced after a renewal applied unanswered")
	}

	// Another process's lease under the name is a lost lease.
	e = own()
	if _, err := kv.Update(ctx, "n1", []byte("someoneelse "+time.Now().UTC().Format(time.RFC3339Nano)), e.Revision()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a lease another process wrote under the name was not reported lost")
	}
	check.For(t, 10*time.Second, func() error {
		if !n.Fenced() {
			return fmt.Errorf("not fenced after its lease was taken")
		}
		return nil
	})
}
