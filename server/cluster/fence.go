package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Fencing. A node that cannot be sure it is still a member must not serve
// state the others may be taking over: when its NATS connection stays down
// past Config.FenceGrace, or its lease is lost (not renewed within the TTL,
// or its name taken by another node), it fences — the server ends every
// stream with sys.restart, answers /healthz 503 and refuses client requests
// with 503 + Retry-After — and it recovers by itself once NATS answers and
// it holds its lease again: the buckets are opened again (a restarted NATS
// may have lost them), the lease re-taken if still free, the watch of the
// live nodes restarted, and every session it still holds reconciled with the
// directory (Reconcile) before it unfences, so a session re-homed elsewhere
// meanwhile is dropped here: never two homes for one sid.

// ErrNATSDown is the fence's cause when the NATS connection stayed down
// past the grace.
var ErrNATSDown = errors.New("cluster: NATS connection down")

type fenceState struct {
	mu     sync.Mutex
	on     bool
	why    error
	since  time.Time
	fences int // times fenced, for tests and metrics
}

// Fenced reports whether the node is fenced: it must not serve clients.
func (n *Node) Fenced() bool {
	n.fence.mu.Lock()
	defer n.fence.mu.Unlock()
	return n.fence.on
}

// FenceInfo returns whether the node is fenced, why, since when, and how
// many times it has fenced since it started.
func (n *Node) FenceInfo() (on bool, why error, since time.Time, count int) {
	n.fence.mu.Lock()
	defer n.fence.mu.Unlock()
	return n.fence.on, n.fence.why, n.fence.since, n.fence.fences
}

// fenceNow fences the node (once until it recovers) and has the server
// end its streams.
func (n *Node) fenceNow(why error) {
	n.fence.mu.Lock()
	if n.fence.on {
		n.fence.mu.Unlock()
		return
	}
	n.fence.on, n.fence.why, n.fence.since = true, why, time.Now()
	n.fence.fences++
	n.fence.mu.Unlock()
	n.metrics.fences.WithLabelValues(fenceCause(why)).Inc()
	n.log.Warn("fenced: not serving until NATS and this node's lease are back", "why", why)
	if svc := n.svc.Load(); svc != nil && svc.Fence != nil {
		svc.Fence(why)
	}
}

// unfence reconciles the sessions the server holds with the directory and
// lets the node serve again.
func (n *Node) unfence(ctx context.Context) {
	n.fence.mu.Lock()
	on, since := n.fence.on, n.fence.since
	n.fence.mu.Unlock()
	if !on {
		return
	}
	if svc := n.svc.Load(); svc != nil && svc.Recover != nil {
		svc.Recover(ctx)
	}
	n.fence.mu.Lock()
	n.fence.on, n.fence.why = false, nil
	n.fence.mu.Unlock()
	n.log.Info("unfenced: serving again", "fenced_for", time.Since(since).Round(time.Millisecond))
}

// keep holds the lease: it renews it every third of the TTL as a
// compare-and-set on the revision it last wrote, fences when NATS stays
// down past the grace or the lease is lost, and takes the lease back and
// unfences when it can.
func (n *Node) keep(ctx context.Context, rev uint64) {
	ttl, grace := n.cfg.LeaseTTL, n.cfg.FenceGrace
	t := time.NewTicker(max(min(ttl/3, grace/4), 10*time.Millisecond))
	defer t.Stop()
	renewAt, deadline := time.Now().Add(ttl/3), time.Now().Add(ttl)
	var downSince time.Time
	lost := func(err error) {
		rev = 0
		err = fmt.Errorf("%w: %w", ErrLeaseLost, err)
		n.log.Error("node lease lost", "err", err)
		n.fenceNow(err)
		if n.cfg.OnLeaseLost != nil {
			n.cfg.OnLeaseLost(err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if !n.nc.IsConnected() {
			if downSince.IsZero() {
				downSince = now
			}
			if now.Sub(downSince) >= grace {
				n.fenceNow(ErrNATSDown)
			}
			if rev != 0 && now.After(deadline) {
				lost(ErrNATSDown)
			}
			continue
		}
		downSince = time.Time{}
		fenced := n.Fenced()
		if rev != 0 && now.Before(renewAt) && !fenced {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, max(ttl/3, time.Second))
		var err error
		if rev == 0 {
			rev, err = n.retake(cctx)
		} else {
			var r uint64
			if r, err = n.leases().Update(cctx, n.cfg.Node, n.leaseValue(), rev); err == nil {
				rev = r
			} else if r, ok := n.renewedAnyway(cctx, err); ok {
				err, rev = nil, r
			}
		}
		if err == nil {
			renewAt, deadline = now.Add(ttl/3), now.Add(ttl)
			if fenced {
				n.unfence(cctx)
			}
			cancel()
			continue
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if rev != 0 {
			n.metrics.renewFails.Inc()
		}
		switch {
		case rev == 0:
			n.log.Debug("lease not taken back yet", "err", err)
		case gone(err) || now.After(deadline):
			lost(err)
		default:
			n.log.Warn("node lease not renewed; retrying", "err", err)
		}
	}
}

// gone reports whether err says the lease key (or its bucket) is not what
// this node last wrote: it expired, another node took it, NATS lost it.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) ||
		errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// retake opens the buckets again (a NATS restarted without its store has
// lost them), takes the lease if its name is free, and restarts the watch
// of the live nodes. A name another live node holds stays refused.
func (n *Node) retake(ctx context.Context) (uint64, error) {
	if err := n.openBuckets(ctx); err != nil {
		return 0, err
	}
	rev, err := n.takeLease(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("%w: %s", ErrNodeTaken, n.cfg.Node)
		}
		return 0, fmt.Errorf("cluster: take lease %s again: %w", n.cfg.Node, err)
	}
	if err := n.startWatch(); err != nil {
		_ = n.leases().Delete(ctx, n.cfg.Node, jetstream.LastRevision(rev))
		return 0, err
	}
	if err := n.waitLive(ctx, n.cfg.Node); err != nil {
		return 0, err
	}
	n.log.Info("node lease taken back", "nodes", n.Nodes())
	return rev, nil
}

// takeLease creates this node's lease key, a compare-and-set refused
// (jetstream.ErrKeyExists) while a live node holds the name. Creating over
// an expired lease reads its TTL marker's revision first; the marker can
// itself expire in between and the create is refused though the name is
// free, so a refusal is tried again while the key reads as gone.
func (n *Node) takeLease(ctx context.Context) (uint64, error) {
	for i := 0; ; i++ {
		rev, err := n.leases().Create(ctx, n.cfg.Node, n.leaseValue())
		if !errors.Is(err, jetstream.ErrKeyExists) || i == 2 {
			return rev, err
		}
		if _, gerr := n.leases().Get(ctx, n.cfg.Node); !errors.Is(gerr, jetstream.ErrKeyNotFound) && !errors.Is(gerr, jetstream.ErrKeyDeleted) {
			return rev, err
		}
	}
}

// leaseValue is what the lease key holds: this process's instance id and
// the time of writing. The id tells this process's own writes apart from a
// successor's under the same name (renewedAnyway).
func (n *Node) leaseValue() []byte {
	return []byte(n.instance + " " + time.Now().UTC().Format(time.RFC3339Nano))
}

// renewedAnyway checks a renewal refused for its revision: a renewal whose
// answer timed out may have been applied all the same, leaving the next one
// on a stale revision. If the key still holds this process's lease, that
// revision is current and the lease was never lost (it would otherwise
// fence a healthy node: seen under load in cometbench cluster).
func (n *Node) renewedAnyway(ctx context.Context, err error) (uint64, bool) {
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, false
	}
	e, gerr := n.leases().Get(ctx, n.cfg.Node)
	if gerr != nil || !bytes.HasPrefix(e.Value(), []byte(n.instance+" ")) {
		return 0, false
	}
	n.log.Warn("node lease: a renewal whose answer was lost had been applied; going on from it", "revision", e.Revision())
	return e.Revision(), true
}

// openBuckets opens (creating) the cluster's buckets. The lease bucket's
// TTL is the lease: a key not written again within it is removed, and the
// marker left (LimitMarkerTTL) tells watchers. The session directory and
// the drained sessions are on file storage, so they outlive a NATS restart.
func (n *Node) openBuckets(ctx context.Context) error {
	nodes, err := n.bucket(ctx, jetstream.KeyValueConfig{
		Bucket: NodesBucket, TTL: n.cfg.LeaseTTL, LimitMarkerTTL: time.Second,
		Storage: jetstream.MemoryStorage, History: 1,
	})
	if err != nil {
		return err
	}
	sessions, err := n.bucket(ctx, jetstream.KeyValueConfig{
		Bucket: SessionsBucket, Storage: jetstream.FileStorage, History: 1,
	})
	if err != nil {
		return err
	}
	drained, err := n.bucket(ctx, jetstream.KeyValueConfig{
		Bucket: DrainedBucket, Storage: jetstream.FileStorage, History: 1,
		TTL: n.cfg.DirectoryGrace, MaxValueSize: maxDrainedBytes,
	})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.nodes, n.sessions, n.drained = nodes, sessions, drained
	n.mu.Unlock()
	return nil
}

// bucket creates or updates a bucket; one made by an older node with
// another configuration (a storage type cannot change) is used as it is.
func (n *Node) bucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, cfg)
	if err == nil {
		return kv, nil
	}
	if kv, berr := n.js.KeyValue(ctx, cfg.Bucket); berr == nil {
		n.log.Warn("bucket kept with its older configuration", "bucket", cfg.Bucket, "err", err)
		return kv, nil
	}
	return nil, fmt.Errorf("cluster: bucket %s: %w", cfg.Bucket, err)
}

// startWatch (re)starts the watch of the lease bucket: the live set is
// rebuilt from its initial values.
func (n *Node) startWatch() error {
	wctx, cancel := context.WithCancel(n.ctx)
	w, err := n.leases().WatchAll(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("cluster: watch nodes: %w", err)
	}
	n.mu.Lock()
	if n.watchEnd != nil {
		n.watchEnd()
	}
	n.watchEnd = cancel
	for k := range n.live {
		if _, ok := n.goneAt[k]; !ok {
			n.goneAt[k] = time.Now()
		}
	}
	n.live = map[string]bool{}
	n.liveChange()
	n.mu.Unlock()
	n.done.Add(1)
	go func() { defer n.done.Done(); n.watch(wctx, w) }()
	return nil
}

// Reconcile is asked, when the node recovers from a fence, about each
// session it holds as home: keep is true when the directory still names
// this node its home (or, after NATS lost the directory, this node could
// claim it again), false when another node took it meanwhile and the local
// copy must go.
func (n *Node) Reconcile(ctx context.Context, sid, player string) (keep bool, err error) {
	for range 2 {
		node, _, _, herr := n.Home(ctx, sid)
		if herr != nil {
			return true, herr // unknown: keep it, the next fence or request decides
		}
		if node != "" {
			return node == n.cfg.Node, nil
		}
		err = n.Claim(ctx, sid, player)
		if err == nil {
			return true, nil
		}
	}
	return true, err
}
