package clustertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"comet/internal/check"
)

// TestNATSJetStreamKeyTTL: the built nats-server accepts a connection, a
// JetStream KV bucket with per-key TTL can be created, a key written with a
// TTL is gone by itself (its expiry reported to a watcher), and a key
// without one stays.
func TestNATSJetStreamKeyTTL(t *testing.T) {
	n := StartNATS(t)
	nc := n.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: "leases", LimitMarkerTTL: time.Second, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatalf("create bucket with per-key TTL: %v\n%s", err, n.Log())
	}
	w, err := kv.Watch(ctx, "short", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := kv.Create(ctx, "short", []byte("a"), jetstream.KeyTTL(time.Second)); err != nil {
		t.Fatalf("create with TTL: %v", err)
	}
	if _, err := kv.Create(ctx, "long", []byte("b")); err != nil {
		t.Fatal(err)
	}
	// Create is a compare-and-set: a second one on a live key is refused.
	if _, err := kv.Create(ctx, "short", []byte("c"), jetstream.KeyTTL(time.Second)); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("second create of a live key: %v, want ErrKeyExists", err)
	}
	// The watcher sees the put, then the expiry as a removal.
	var ops []jetstream.KeyValueOp
	for len(ops) < 2 {
		select {
		case e := <-w.Updates():
			if e != nil {
				ops = append(ops, e.Operation())
			}
		case <-ctx.Done():
			t.Fatalf("watcher saw %v; want a put, then the expiry", ops)
		}
	}
	if ops[0] != jetstream.KeyValuePut || ops[1] == jetstream.KeyValuePut {
		t.Fatalf("watcher saw %v; want a put, then a removal", ops)
	}
	if _, err := kv.Get(ctx, "short"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("expired key: %v, want ErrKeyNotFound", err)
	}
	if e, err := kv.Get(ctx, "long"); err != nil || string(e.Value()) != "b" {
		t.Fatalf("key without TTL: %v", err)
	}
}

// TestNATSRestartAndStop: after Restart the server listens on the same
// address with the same JetStream store (a file-backed bucket's key is still
// there) and a client with reconnects is back by itself; after Stop nothing
// listens.
func TestNATSRestartAndStop(t *testing.T) {
	n := StartNATS(t)
	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "kept", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	n.Restart()
	check.Recv(t, reconnected, 20*time.Second, "client reconnected after the restart")
	check.For(t, 20*time.Second, func() error {
		e, err := kv.Get(ctx, "k")
		if err != nil {
			return fmt.Errorf("key after restart: %w", err)
		}
		if string(e.Value()) != "v" {
			return fmt.Errorf("key after restart = %q", e.Value())
		}
		return nil
	})
	n.Stop()
	if c, err := nats.Connect(n.URL(), nats.Timeout(time.Second)); err == nil {
		c.Close()
		t.Fatalf("%s still accepts clients after Stop", n.URL())
	}
}
