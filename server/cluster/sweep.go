package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Directory hygiene. A node that dies leaves its sessions' entries in the
// directory so that their clients can re-home them; entries nobody re-homed
// within Config.DirectoryGrace of the node's death (or drained entries
// nobody took) are deleted by a sweep. One live node sweeps — the first by
// name — and every delete is a compare-and-set on the entry's revision, so
// a second sweeper (two nodes disagreeing for a moment about who is first)
// or a re-home racing the sweep cannot delete a live entry.

// sweepEvery is how often the sweeper looks: a quarter of the grace, at
// most every 30 s.
func (n *Node) sweepEvery() time.Duration {
	return max(min(n.cfg.DirectoryGrace/4, 30*time.Second), 10*time.Millisecond)
}

func (n *Node) sweep(ctx context.Context) {
	t := time.NewTicker(n.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.Fenced() || !n.sweeper() {
			n.setSwept(false) // a sweeper again later scans once first
			continue
		}
		if !n.sweepDue() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, max(n.sweepEvery(), 10*time.Second))
		started := time.Now()
		if swept, err := n.Sweep(cctx); err != nil {
			n.log.Warn("directory sweep", "err", err)
		} else {
			n.sweptUpTo(started)
			if swept > 0 {
				n.log.Info("directory swept", "entries", swept)
			}
		}
		cancel()
	}
}

// sweepDue reports whether a scan of the directory can find anything: on
// the sweeper's first scan (nodes that died before it started show only in
// their entries), and while a node is known gone. A cluster where no node
// died reads nothing, however many sessions it has (a scan of 60,000
// entries every 30 s was 1,345 NATS messages a second at rest).
func (n *Node) sweepDue() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return !n.sweptOnce || len(n.goneAt) > 0
}

func (n *Node) setSwept(v bool) {
	n.mu.Lock()
	n.sweptOnce = v
	n.mu.Unlock()
}

// sweptUpTo records a scan that started at started and succeeded: every
// entry of a node gone for the grace by then was deleted or had moved on,
// and a dead node writes no more, so such nodes need no further scans.
func (n *Node) sweptUpTo(started time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sweptOnce = true
	for node, at := range n.goneAt {
		if !n.live[node] && started.Sub(at) >= n.cfg.DirectoryGrace {
			delete(n.goneAt, node)
		}
	}
}

// sweeper reports whether this node is the live node that sweeps.
func (n *Node) sweeper() bool {
	nodes := n.Nodes()
	return len(nodes) > 0 && nodes[0] == n.cfg.Node
}

// Sweep deletes the directory entries whose home (or, for a drained
// session, whose drained home) has been gone longer than the grace, and
// returns how many. A node first seen gone now (it died before this node
// started) starts its grace now.
func (n *Node) Sweep(ctx context.Context) (int, error) {
	w, err := n.dir().WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, fmt.Errorf("cluster: sweep: %w", err)
	}
	defer func() { _ = w.Stop() }()
	now := time.Now()
	var stale []jetstream.KeyValueEntry
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("cluster: sweep: %w", ctx.Err())
		case e = <-w.Updates():
		}
		if e == nil {
			break // the initial values are all in
		}
		var h homeRecord
		if json.Unmarshal(e.Value(), &h) != nil {
			stale = append(stale, e) // unreadable: nobody can route by it
			continue
		}
		if n.deadLongEnough(cmp.Or(h.Node, h.From), now) {
			stale = append(stale, e)
		}
	}
	swept := 0
	for _, e := range stale {
		err := n.dir().Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision()))
		switch {
		case err == nil:
			swept++
			n.metrics.swept.Inc()
		case gone(err): // re-homed or deleted meanwhile
		default:
			return swept, fmt.Errorf("cluster: sweep %s: %w", e.Key(), err)
		}
	}
	return swept, nil
}

// deadLongEnough reports whether node has been seen gone for the grace.
func (n *Node) deadLongEnough(node string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.live[node] {
		return false
	}
	at, ok := n.goneAt[node]
	if !ok {
		n.goneAt[node] = now
		return false
	}
	return now.Sub(at) >= n.cfg.DirectoryGrace
}
