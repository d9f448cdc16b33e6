package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrHomeChanged is returned by Rehome when another node re-homed the
// session first (the directory's revision moved on).
var ErrHomeChanged = errors.New("cluster: session re-homed by another node")

// homeRecord is a session's directory entry: its home node and its player,
// so a node that re-homes it knows whose token it must present. A session
// its home drained has no node and names the drained home in From
// (drain.go) until another node takes it.
type homeRecord struct {
	Node   string `json:"node"`
	Player string `json:"player"`
	From   string `json:"from,omitempty"`
	// WithRoom marks a drained session that moves with its room
	// (MarkWithRoom): only the room's taker takes it while From lives.
	WithRoom bool `json:"with_room,omitempty"`
}

// Claim records this node as the home of a new session of player.
func (n *Node) Claim(ctx context.Context, sid, player string) error {
	b, _ := json.Marshal(homeRecord{Node: n.cfg.Node, Player: player})
	if _, err := n.dir().Create(ctx, sid, b); err != nil {
		return fmt.Errorf("cluster: claim session %s: %w", sid, err)
	}
	return nil
}

// Home returns a session's home node and player, and the directory's
// revision for a compare-and-set Rehome or TakeDrained; node is "" for a
// session the directory does not list (rev 0) or one its home drained and
// no node has taken yet (rev not 0).
func (n *Node) Home(ctx context.Context, sid string) (node, player string, rev uint64, err error) {
	h, rev, err := n.entry(ctx, sid)
	return h.Node, h.Player, rev, err
}

// entry reads a session's directory entry; rev is 0 when there is none.
func (n *Node) entry(ctx context.Context, sid string) (homeRecord, uint64, error) {
	var h homeRecord
	e, err := n.dir().Get(ctx, sid)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return h, 0, nil
	}
	if err != nil {
		return h, 0, fmt.Errorf("cluster: home of %s: %w", sid, err)
	}
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return h, 0, fmt.Errorf("cluster: home of %s: %w", sid, err)
	}
	return h, e.Revision(), nil
}

// Rehome makes this node the home of a session whose home is gone, as a
// compare-and-set on the revision Home returned: of two nodes re-homing the
// same session at once, one wins and the other gets ErrHomeChanged.
func (n *Node) Rehome(ctx context.Context, sid, player string, rev uint64) error {
	err := n.rehome(ctx, sid, player, rev)
	switch {
	case err == nil:
		n.metrics.rehomes.WithLabelValues("ok").Inc()
	case errors.Is(err, ErrHomeChanged):
		n.metrics.rehomes.WithLabelValues("lost").Inc()
	}
	return err
}

// rehome is Rehome's compare-and-set, uncounted (a take uses it too).
func (n *Node) rehome(ctx context.Context, sid, player string, rev uint64) error {
	b, _ := json.Marshal(homeRecord{Node: n.cfg.Node, Player: player})
	_, err := n.dir().Update(ctx, sid, b, rev)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return ErrHomeChanged
	}
	if err != nil {
		return fmt.Errorf("cluster: re-home %s: %w", sid, err)
	}
	return nil
}

// Forget removes a session this node is home of from the directory (it
// ended); an entry another node has taken since is left alone.
func (n *Node) Forget(ctx context.Context, sid string) {
	node, _, rev, err := n.Home(ctx, sid)
	if err != nil || node != n.cfg.Node { // gone, or re-homed elsewhere
		return
	}
	if err := n.dir().Delete(ctx, sid, jetstream.LastRevision(rev)); err != nil && !gone(err) {
		n.log.Warn("forget session", "sid", sid, "err", err)
	}
}
