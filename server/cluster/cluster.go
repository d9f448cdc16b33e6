// Package cluster makes one Comet node part of a cluster over NATS: node
// leases in a JetStream KV bucket that expire by themselves when a node dies,
// a watch of the live nodes, the directory of each session's home node, and
// calls addressed to one node (an HTTP request forwarded to a session's home,
// a stream relayed from it).
//
// It imports the core and nats, never the application: the server reaches
// it through its own small interface (server/cluster.go), and cmd/comet
// wires the two.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"comet/server/push"
)

// Bucket names; every node of a cluster uses the same ones.
const (
	NodesBucket    = "comet_nodes"
	SessionsBucket = "comet_sessions"
)

// ErrNodeTaken is returned by Start when a live node already holds the name.
var ErrNodeTaken = errors.New("cluster: a live node already has this name")

// ErrLeaseLost is reported (Config.OnLeaseLost) when the node's lease could
// not be renewed before it expired, or another node took its name: the node
// must stop serving as a member, because others consider it dead.
var ErrLeaseLost = errors.New("cluster: node lease lost")

var nodeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidNodeName reports whether name can name a node: 1 to 64 of A-Z, a-z,
// 0-9, '-' and '_' (it is a NATS subject token and a KV key).
func ValidNodeName(name string) bool { return nodeName.MatchString(name) }

// Config is what Start needs; Conn and Node are required.
type Config struct {
	Conn *nats.Conn
	Node string // this node's name (ValidNodeName)
	// LeaseTTL is how long a lease lives unrenewed (default 5 s); the node
	// renews it every third of that. A dead node is known dead within it.
	LeaseTTL time.Duration
	// ForwardTimeout bounds a forwarded request that names no longer wait
	// (default 30 s, the server's event budget).
	ForwardTimeout time.Duration
	// OnLeaseLost is called, on the lease's goroutine, each time the lease
	// is lost (ErrLeaseLost, wrapped with the cause); the node fences.
	OnLeaseLost func(error)
	// FenceGrace is how long the NATS connection may be down before the node
	// fences (default 1 s): a short blip costs nothing, a longer one stops
	// it serving state others may be taking over (fence.go).
	FenceGrace time.Duration
	// DirectoryGrace is how long a dead node's directory entries are kept
	// for its clients to re-home them before a survivor sweeps them
	// (default 2 min, above the push core's 30 s session grace; sweep.go).
	DirectoryGrace time.Duration
	// Registerer takes the node's Prometheus collectors (metrics.go); nil
	// keeps them on a registry of their own.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Node is this process's membership: its lease, the live nodes it sees,
// the session directory and its calls to other nodes. Close ends it.
type Node struct {
	cfg      Config
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	ctx      context.Context    // the node's life: Close ends it
	nodes    jetstream.KeyValue // the buckets, under mu: a recovery opens them again
	sessions jetstream.KeyValue
	drained  jetstream.KeyValue

	mu        sync.RWMutex
	live      map[string]bool      // nodes whose lease is current, this one included
	liveC     chan struct{}        // closed and replaced when live changes (call.go)
	goneAt    map[string]time.Time // when a node not live was first seen so (sweep.go)
	sweptOnce bool                 // the sweeper has scanned the directory once (sweep.go)
	watchEnd  context.CancelFunc   // stops the current watch of the lease bucket

	instance string     // this process's id in its lease value (fence.go)
	fence    fenceState // fence.go
	metrics  *metrics

	dirs   dirs        // the lobby directories (rooms_dir.go)
	moves  movesHolder // rooms.go
	svc    svcHolder
	subs   []*nats.Subscription
	relay  relays // relayed streams, both ends (relay.go)
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Start opens (creating) the cluster's buckets, takes this node's lease —
// refused with ErrNodeTaken while another live node holds the name — and
// starts renewing it and watching the other nodes'.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Conn == nil {
		return nil, errors.New("cluster: a NATS connection is required")
	}
	if !ValidNodeName(cfg.Node) {
		return nil, fmt.Errorf("cluster: node name %q: want 1 to 64 of A-Z a-z 0-9 - _", cfg.Node)
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 5 * time.Second
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 30 * time.Second
	}
	if cfg.FenceGrace <= 0 {
		cfg.FenceGrace = time.Second
	}
	if cfg.DirectoryGrace <= 0 {
		cfg.DirectoryGrace = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	n := &Node{cfg: cfg, instance: push.RandomID(8), log: cfg.Logger.With("node", cfg.Node), nc: cfg.Conn, js: js,
		live: map[string]bool{}, liveC: make(chan struct{}), goneAt: map[string]time.Time{}}
	if n.metrics, err = newMetrics(cfg.Registerer, n); err != nil {
		return nil, err
	}
	n.relay.init(n)
	if err := n.openBuckets(ctx); err != nil {
		n.relay.close()
		return nil, err
	}
	rev, err := n.takeLease(ctx)
	if errors.Is(err, jetstream.ErrKeyExists) {
		n.relay.close()
		return nil, fmt.Errorf("%w: %s", ErrNodeTaken, cfg.Node)
	}
	if err != nil {
		n.relay.close()
		return nil, fmt.Errorf("cluster: take lease %s: %w", cfg.Node, err)
	}
	// The watch lives as long as the node, not as long as Start's ctx.
	rctx, cancel := context.WithCancel(context.Background())
	n.ctx, n.cancel = rctx, cancel
	if err := n.startWatch(); err != nil {
		cancel()
		_ = n.nodes.Delete(ctx, cfg.Node)
		return nil, err
	}
	if err := n.subscribe(); err != nil {
		cancel()
		_ = n.nodes.Delete(ctx, cfg.Node)
		return nil, err
	}
	n.done.Add(2)
	go func() { defer n.done.Done(); n.keep(rctx, rev) }()
	go func() { defer n.done.Done(); n.sweep(rctx) }()
	// Wait for the watch's initial values, so Alive is right on return.
	if err := n.waitLive(ctx, cfg.Node); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

// waitLive waits until the watch has seen node's lease.
func (n *Node) waitLive(ctx context.Context, node string) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !n.Alive(node) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: wait for own lease in the watch: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// leases, dir and drainedKV return the buckets a recovery may have opened again.
func (n *Node) leases() jetstream.KeyValue {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nodes
}

func (n *Node) dir() jetstream.KeyValue {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sessions
}

func (n *Node) drainedKV() jetstream.KeyValue {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.drained
}

// Name returns this node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Alive reports whether node holds a current lease.
func (n *Node) Alive(node string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.live[node]
}

// Nodes returns the live nodes, sorted.
func (n *Node) Nodes() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.live))
	for k := range n.live {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// watch keeps the set of live nodes from the lease bucket's updates: a put
// is a live node, a delete, purge or TTL marker a gone one.
func (n *Node) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the initial values are all in
				continue
			}
			alive := e.Operation() == jetstream.KeyValuePut
			n.mu.Lock()
			was := n.live[e.Key()]
			if alive {
				n.live[e.Key()] = true
				delete(n.goneAt, e.Key())
			} else {
				delete(n.live, e.Key())
				if _, ok := n.goneAt[e.Key()]; !ok {
					n.goneAt[e.Key()] = time.Now()
				}
			}
			if was != alive {
				n.liveChange()
			}
			n.mu.Unlock()
			if was && !alive {
				n.log.Info("node gone", "gone", e.Key())
				n.relay.nodeGone(e.Key())
			} else if !was && alive {
				n.log.Info("node up", "up", e.Key())
			}
		}
	}
}

// stop ends the goroutines and subscriptions without touching the lease.
func (n *Node) stop() {
	n.cancel()
	n.done.Wait()
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	n.relay.close()
}

// Close leaves the cluster: it stops renewing and deletes the lease, so the
// others know at once rather than after the TTL.
func (n *Node) Close() {
	n.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := n.leases().Delete(ctx, n.cfg.Node); err != nil {
		n.log.Warn("delete node lease", "err", err)
	}
}

// Abandon stops the node as a crash would: no more renewals, subscriptions
// gone, the lease left to expire by its TTL. For tests of a node's death.
func (n *Node) Abandon() { n.stop() }
