package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/nats-io/nats.go"
)

// Rate limits kept for the whole cluster (chat per player and per address,
// docs/SECURITY.md). Each bucket lives on one live node, its key's owner by
// rendezvous hashing over the live nodes (Owner), so every node asks the
// same node for the same key and a player gets one allowance however many
// nodes its tabs are homed on. A node that joins or dies moves only its
// share of the keys; a bucket that moves starts full again, as after a
// restart. The owner answers on comet.node.<node>.limit.

func limitSubject(node string) string { return "comet.node." + node + ".limit" }

// limitReq asks a key's owner to take one from a bucket (Peek: only say
// whether one could be taken).
type limitReq struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
	Peek bool   `json:"peek,omitempty"`
}

// limitAnswer is the owner's answer; RetryMs is the wait before the bucket
// has one again, when not OK.
type limitAnswer struct {
	OK      bool  `json:"ok"`
	RetryMs int64 `json:"retry_ms,omitempty"`
}

// Owner returns the live node that keeps the buckets of key, this node
// included; "" when no node is live.
func (n *Node) Owner(key string) string {
	best, bestH := "", uint64(0)
	for _, node := range n.Nodes() {
		h := fnv.New64a()
		h.Write([]byte(node))
		h.Write([]byte{0})
		h.Write([]byte(key))
		if v := h.Sum64(); best == "" || v > bestH {
			best, bestH = node, v
		}
	}
	return best
}

// ServeLimits answers other nodes' takes from this node's buckets with f,
// which takes one from bucket kind/key (peek: only checks).
func (n *Node) ServeLimits(f func(kind, key string, peek bool) (ok bool, retry time.Duration)) error {
	sub, err := n.nc.Subscribe(limitSubject(n.cfg.Node), func(m *nats.Msg) {
		var req limitReq
		var a limitAnswer
		if err := json.Unmarshal(m.Data, &req); err == nil {
			ok, retry := f(req.Kind, req.Key, req.Peek)
			a = limitAnswer{OK: ok, RetryMs: retry.Milliseconds()}
		} else {
			a.OK = true // a request this node cannot read limits nothing
		}
		b, _ := json.Marshal(a)
		if err := m.Respond(b); err != nil {
			n.log.Debug("answer a limit take", "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", limitSubject(n.cfg.Node), err)
	}
	n.subs = append(n.subs, sub)
	return n.nc.Flush()
}

// TakeLimit asks node, the owner of key, to take one from its bucket
// kind/key. The error is ErrUnreachable or the request's: the caller then
// decides with a bucket of its own.
func (n *Node) TakeLimit(ctx context.Context, node, kind, key string, peek bool) (bool, time.Duration, error) {
	b, _ := json.Marshal(limitReq{Kind: kind, Key: key, Peek: peek})
	msg, err := n.nc.RequestWithContext(ctx, limitSubject(node), b)
	if errors.Is(err, nats.ErrNoResponders) {
		return false, 0, fmt.Errorf("%w: %s", ErrUnreachable, node)
	}
	if err != nil {
		return false, 0, fmt.Errorf("cluster: limit take on %s: %w", node, err)
	}
	var a limitAnswer
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		return false, 0, fmt.Errorf("cluster: limit take on %s: answer: %w", node, err)
	}
	return a.OK, time.Duration(a.RetryMs) * time.Millisecond, nil
}
