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
// so a node that re-homes it knows whose token it must present.
type homeRecord struct {
	Node   string `json:"node"`
	Player string `json:"player"`
}

// Claim records this node as the home of a new session of player.
func (n *Node) Claim(ctx context.Context, sid, player string) error {
	b, _ := json.Marshal(homeRecord{Node: n.cfg.Node, Player: player})
	if _, err := n.sessions.Create(ctx, sid, b); err != nil {
		return fmt.Errorf("cluster: claim session %s: %w", sid, err)
	}
	return nil
}

// Home returns a session's home node and player, and the directory's
// revision for a compare-and-set Rehome; node is "" for a session the
// directory does not list.
func (n *Node) Home(ctx context.Context, sid string) (node, player string, rev uint64, err error) {
	e, err := n.sessions.Get(ctx, sid)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return "", "", 0, nil
	}
	if err != nil {
		return "", "", 0, fmt.Errorf("cluster: home of %s: %w", sid, err)
	}
	var h homeRecord
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return "", "", 0, fmt.Errorf("cluster: home of %s: %w", sid, err)
	}
	return h.Node, h.Player, e.Revision(), nil
}

// Rehome makes this node the home of a session whose home is gone, as a
// compare-and-set on the revision Home returned: of two nodes re-homing the
// same session at once, one wins and the other gets ErrHomeChanged.
func (n *Node) Rehome(ctx context.Context, sid, player string, rev uint64) error {
	b, _ := json.Marshal(homeRecord{Node: n.cfg.Node, Player: player})
	_, err := n.sessions.Update(ctx, sid, b, rev)
	if errors.Is(err, jetstream.ErrKeyExists) {
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
	if err := n.sessions.Delete(ctx, sid, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		n.log.Warn("forget session", "sid", sid, "err", err)
	}
}
