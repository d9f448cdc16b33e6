package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"comet"
)

// Draining (SIGTERM in a cluster). The draining node marks each session it
// is home of as drained in the directory — no node, the drained home in
// From — and keeps it, still subscribed and numbering what the bus brings,
// while its clients reconnect. The first request for such a session on any
// live node takes it: a compare-and-set moves the directory entry to that
// node (of two racing, one wins), which then asks the drained home for the
// session (comet.node.<from>.take); the home ends it there and answers its
// hand-over blob in one step, so nothing is numbered in between. Sessions
// nobody took before the drain's deadline are saved to the KV bucket
// comet_drained (TTL: Config.DirectoryGrace) as the home leaves, and a taker
// that finds the home gone reads them from there. Either way the session
// goes on with the same sid and its seqs continuing: no sys.reset.

// DrainedBucket holds the blobs of drained sessions nobody took before
// their home left, by sid.
const DrainedBucket = "comet_drained"

// maxDrainedBytes bounds one drained session's blob (a replay buffer is at
// most 512 KiB of frames; JSON and base64 grow it). NATS's default payload
// limit is 1 MiB: a larger one is not saved, its session re-homed with a
// sys.reset instead.
const maxDrainedBytes = 1 << 20

func takeSubject(node string) string { return "comet.node." + node + ".take" }

// topicsSubject asks a drained home for a session's topics, ending
// nothing. A subject of its own, not a flag on a take request: a node of
// an older version would ignore the flag and take the session.
func topicsSubject(node string) string { return "comet.node." + node + ".topics" }

// takeRequest names the session a node takes (or asks the topics of) from
// the drained home.
type takeRequest struct {
	SID string `json:"sid"`
}

// MarkDrained marks a session this node is home of as drained, for the
// next node its client reaches to take. A session re-homed elsewhere
// meanwhile is left alone (false).
func (n *Node) MarkDrained(ctx context.Context, sid, player string) (bool, error) {
	return n.mark(ctx, sid, player, false)
}

// MarkWithRoom marks a session of this draining node that moves with its
// room: only the node that takes the room takes it (TakeWithRoom); any
// other asking gets ErrMovingWithRoom until the move ends (MarkDrained
// again if no node took the room) or this node is gone.
func (n *Node) MarkWithRoom(ctx context.Context, sid, player string) (bool, error) {
	return n.mark(ctx, sid, player, true)
}

// ErrMovingWithRoom is TakeDrained's answer for a session being handed
// over with its room: ask again shortly (its entry names the room's taker
// within tens of milliseconds). Its code is "unavailable".
var ErrMovingWithRoom = comet.Errorf("unavailable", "session moving with its room to another node")

func (n *Node) mark(ctx context.Context, sid, player string, withRoom bool) (bool, error) {
	h, rev, err := n.entry(ctx, sid)
	if err != nil {
		return false, err
	}
	// A session marked to move with its room that no node took is this
	// node's to mark again, for any taker.
	mine := h.Node == n.cfg.Node || (h.Node == "" && h.From == n.cfg.Node && h.WithRoom && !withRoom)
	if !mine {
		return false, nil
	}
	b, _ := json.Marshal(homeRecord{Player: player, From: n.cfg.Node, WithRoom: withRoom})
	if _, err := n.dir().Update(ctx, sid, b, rev); err != nil {
		if gone(err) {
			return false, nil
		}
		return false, fmt.Errorf("cluster: mark %s drained: %w", sid, err)
	}
	n.metrics.drains.WithLabelValues("marked").Inc()
	return true, nil
}

// SaveDrained stores the blob of a drained session nobody took before
// this node leaves.
func (n *Node) SaveDrained(ctx context.Context, sid string, blob []byte) error {
	if len(blob) > maxDrainedBytes {
		return fmt.Errorf("cluster: drained session %s: %d bytes, at most %d", sid, len(blob), maxDrainedBytes)
	}
	if _, err := n.drainedKV().Put(ctx, sid, blob); err != nil {
		return fmt.Errorf("cluster: save drained session %s: %w", sid, err)
	}
	n.metrics.drains.WithLabelValues("saved").Inc()
	return nil
}

// TakeDrained makes this node the home of a session its home drained (the
// directory entry at rev, which Home returned with no node): ErrHomeChanged
// if another node took it first. It returns the session's blob from the
// drained home, or from the bucket once that home has left; nil when there
// is none (the home died mid-drain): the caller then starts the session
// afresh, as a re-home.
//
// before, if not nil, runs once this node owns the entry and before the
// drained home ends the session, with the topics the session is subscribed
// to there and the seq it had numbered: the taker opens its capture of
// them in it (push.Hub.Capture,
// in effect on the NATS server before it returns), so a line published
// between the home's save and the taker's subscription reaches the session
// instead of neither node. It does not run when the home cannot say (it
// left; the blob then comes from the bucket).
func (n *Node) TakeDrained(ctx context.Context, sid, player string, rev uint64, before func(ctx context.Context, topics []string, seq uint64)) (blob []byte, err error) {
	return n.takeDrained(ctx, sid, player, rev, false, before)
}

// TakeWithRoom is TakeDrained for the node that takes a room a draining
// node hands over, of a member's session marked with MarkWithRoom.
func (n *Node) TakeWithRoom(ctx context.Context, sid, player string, rev uint64, before func(ctx context.Context, topics []string, seq uint64)) (blob []byte, err error) {
	return n.takeDrained(ctx, sid, player, rev, true, before)
}

func (n *Node) takeDrained(ctx context.Context, sid, player string, rev uint64, withRoom bool, before func(context.Context, []string, uint64)) (blob []byte, err error) {
	source := "none"
	defer func() {
		if errors.Is(err, ErrHomeChanged) {
			source = "lost"
		}
		if err == nil || source == "lost" {
			n.metrics.takes.WithLabelValues(source).Inc()
		}
	}()
	h, cur, err := n.entry(ctx, sid)
	if err != nil {
		return nil, err
	}
	if cur != rev || h.Node != "" || h.From == "" {
		return nil, ErrHomeChanged
	}
	if h.WithRoom && !withRoom && n.Alive(h.From) {
		return nil, ErrMovingWithRoom
	}
	if err := n.rehome(ctx, sid, player, rev); err != nil {
		return nil, err
	}
	if before != nil {
		t, err := n.askTopics(ctx, h.From, sid)
		switch {
		case err != nil:
			n.log.Info("drained home did not list the session's topics; taking it uncaptured", "sid", sid, "from", h.From, "err", err)
		case t != nil:
			before(ctx, t.Topics, t.Seq)
		}
	}
	blob, err = n.askTake(ctx, h.From, sid)
	if err != nil {
		n.log.Info("drained home did not hand the session over; reading the bucket", "sid", sid, "from", h.From, "err", err)
	}
	if blob != nil {
		source = "node"
	}
	e, kerr := n.drainedKV().Get(ctx, sid)
	switch {
	case kerr == nil:
		if blob == nil {
			blob, source = e.Value(), "bucket"
		}
		if derr := n.drainedKV().Delete(ctx, sid, jetstream.LastRevision(e.Revision())); derr != nil && !gone(derr) {
			n.log.Warn("drained session's blob not deleted (its TTL will)", "sid", sid, "err", derr)
		}
	case !errors.Is(kerr, jetstream.ErrKeyNotFound) && !errors.Is(kerr, jetstream.ErrKeyDeleted):
		if blob == nil {
			return nil, fmt.Errorf("cluster: drained session %s: %w", sid, kerr)
		}
	}
	return blob, nil
}

// askTake asks the drained home for the session; nil, nil when the home
// no longer holds it (it saved it to the bucket first).
func (n *Node) askTake(ctx context.Context, from, sid string) ([]byte, error) {
	return n.ask(ctx, "take", from, takeSubject(from), sid, 5*time.Second)
}

// topicsAnswer is a drained home's answer to a topics request.
type topicsAnswer struct {
	Topics []string `json:"topics"`
	Seq    uint64   `json:"seq"` // the session's newest event then
}

// askTopics asks the drained home for the session's topics; nil, nil when
// the home no longer holds it.
func (n *Node) askTopics(ctx context.Context, from, sid string) (*topicsAnswer, error) {
	b, err := n.ask(ctx, "topics", from, topicsSubject(from), sid, 2*time.Second)
	if b == nil {
		return nil, err
	}
	var t topicsAnswer
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("cluster: topics of %s from %s: %w", sid, from, err)
	}
	return &t, nil
}

// ask sends the drained home a request about sid on subj; nil, nil for
// an empty answer (it does not hold the session).
func (n *Node) ask(ctx context.Context, kind, from, subj, sid string, timeout time.Duration) ([]byte, error) {
	b, _ := json.Marshal(takeRequest{SID: sid})
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := n.call(cctx, kind, from, subj, b)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s of %s from %s: %w", kind, sid, from, err)
	}
	if len(msg.Data) == 0 {
		return nil, nil
	}
	return msg.Data, nil
}

// onTopics answers a node about to take a session this node drained: its
// topics and seq (topicsAnswer), or an empty answer when it is not held
// here.
func (n *Node) onTopics(m *nats.Msg) {
	var req takeRequest
	var out []byte
	if json.Unmarshal(m.Data, &req) == nil {
		if svc := n.svc.Load(); svc != nil && svc.Topics != nil {
			if topics, seq, ok := svc.Topics(req.SID); ok {
				out, _ = json.Marshal(topicsAnswer{Topics: append([]string{}, topics...), Seq: seq})
			}
		}
	}
	if err := m.Respond(out); err != nil {
		n.log.Warn("answer topics request", "sid", req.SID, "err", err)
	}
}

// onTake answers a node that took a session this node drained: the blob,
// or an empty answer when it is not held here.
func (n *Node) onTake(m *nats.Msg) {
	go func() {
		var req takeRequest
		var blob []byte
		if json.Unmarshal(m.Data, &req) == nil {
			if svc := n.svc.Load(); svc != nil && svc.Take != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				blob, _ = svc.Take(ctx, req.SID)
				cancel()
			}
		}
		if err := m.Respond(blob); err != nil {
			n.log.Warn("answer take request", "sid", req.SID, "err", err)
		}
	}()
}
