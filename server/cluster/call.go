package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Calls addressed to one node (a forwarded request, a relay, a take) fail
// fast when that node is gone rather than at their deadline. NATS answers a
// request on a subject nobody listens to at once (nats.ErrNoResponders),
// and a dead node's subscriptions go as soon as NATS sees its connection
// close; but a node that dies while it holds a request (a long-poll waits
// up to 30 s) never answers, and nothing tells the caller. So a call is not
// made to a node the live-node watch does not list, and while it waits it
// ends as soon as the watch drops the node or a probe of the node's ping
// subject finds no responder — within a probe interval of a SIGKILL, and
// within the lease of a machine NATS has not noticed is gone yet.

// probeEvery is how often a waiting call probes its node.
const probeEvery = 500 * time.Millisecond

func pingSubject(node string) string { return "comet.node." + node + ".ping" }

// onPing answers a probe: this node is here.
func (n *Node) onPing(m *nats.Msg) { _ = m.Respond(nil) }

// liveChanged returns a channel closed at the next change of the live set.
func (n *Node) liveChanged() <-chan struct{} {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.liveC
}

// liveChange wakes the calls waiting on the live set; n.mu is held.
func (n *Node) liveChange() {
	close(n.liveC)
	n.liveC = make(chan struct{})
}

// call sends data to node on subj and returns its answer, counted by kind
// (http, relay, take) and outcome: ErrUnreachable
// (wrapped) when node is not live, has no responder on subj, or dies while
// the call waits; ctx's error when it ends first.
func (n *Node) call(ctx context.Context, kind, node, subj string, data []byte) (msg *nats.Msg, err error) {
	defer func() { n.metrics.calls.WithLabelValues(kind, callOutcome(err)).Inc() }()
	if !n.Alive(node) {
		return nil, fmt.Errorf("%w: %s is not live", ErrUnreachable, node)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go n.guard(cctx, node, cancel)
	msg, err = n.nc.RequestWithContext(cctx, subj, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("%w: %s has no responder", ErrUnreachable, node)
	}
	if err != nil {
		if cause := context.Cause(cctx); errors.Is(cause, ErrUnreachable) {
			return nil, cause
		}
		return nil, err
	}
	return msg, nil
}

// guard cancels a call to node, with ErrUnreachable as the cause, when the
// live-node watch drops node or a probe finds no responder on its ping
// subject; it returns when ctx ends.
func (n *Node) guard(ctx context.Context, node string, cancel context.CancelCauseFunc) {
	t := time.NewTimer(probeEvery)
	defer t.Stop()
	for {
		changed := n.liveChanged()
		if !n.Alive(node) {
			cancel(fmt.Errorf("%w: %s left the live nodes", ErrUnreachable, node))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
			continue
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, probeEvery)
		_, err := n.nc.RequestWithContext(pctx, pingSubject(node), nil)
		pcancel()
		if errors.Is(err, nats.ErrNoResponders) {
			cancel(fmt.Errorf("%w: %s stopped answering (no responder)", ErrUnreachable, node))
			return
		}
		t.Reset(probeEvery)
	}
}

// settleProbeEvery is how often Settle probes a node it waits on: every
// client of a dead node may be waiting, so less often than a call's guard.
const settleProbeEvery = time.Second

// Settle waits, after a call to node got no answer, until node is known
// gone (true: the live-node watch dropped it, its lease expired) or
// answers a probe again (false: a node that was starting, or a blip; the
// call may be made again). It returns ctx's error if neither happens first.
func (n *Node) Settle(ctx context.Context, node string) (gone bool, err error) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		changed := n.liveChanged()
		if !n.Alive(node) {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("cluster: settle %s: %w", node, ctx.Err())
		case <-changed:
			continue
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, settleProbeEvery)
		_, perr := n.nc.RequestWithContext(pctx, pingSubject(node), nil)
		cancel()
		if perr == nil {
			return false, nil
		}
		t.Reset(settleProbeEvery)
	}
}
