package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"comet"
)

// Rooms across nodes. A room lives on one node, its owner (its gameloop
// goroutine runs there), and is listed in the "rooms" lobby directory
// (rooms_dir.go) under its owner. A private room's join code is unique
// cluster-wide: it is reserved in the comet_codes bucket with Create, the
// compare-and-set that fails when any node holds the code, before the room
// opens, and released when it closes (a dead owner's codes with its rooms
// are swept). A player whose session is homed on another node than a
// room's owner joins it by moving the session there (MoveTo): the session
// is marked drained, the owner takes it whole (drain.go: the directory
// entry moves with a compare-and-set, the old home hands over the saved
// session and ends it in one step), then seats it. Its inputs then reach
// the owner through the usual forwarding and its diffs its stream through
// the usual relay.

// CodesBucket reserves private rooms' join codes, code -> owner node.
const CodesBucket = "comet_codes"

// ErrCodeTaken is returned by ReserveCode when a node holds the code.
var ErrCodeTaken = errors.New("cluster: join code taken")

func moveSubject(node string) string { return "comet.node." + node + ".move" }

// movesHolder is the handler of sessions moved here (ServeMoves).
type movesHolder = atomic.Pointer[func(ctx context.Context, req []byte) error]

func (n *Node) codes(ctx context.Context) (jetstream.KeyValue, error) {
	return n.bucket(ctx, jetstream.KeyValueConfig{Bucket: CodesBucket, Storage: jetstream.MemoryStorage, History: 1})
}

// ReserveCode reserves a join code for a room this node opens:
// ErrCodeTaken when another room of the cluster has it.
func (n *Node) ReserveCode(ctx context.Context, code string) error {
	kv, err := n.codes(ctx)
	if err != nil {
		return err
	}
	_, err = kv.Create(ctx, code, []byte(n.cfg.Node))
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Held by a node that is gone (its room died with it): take it over
		// with a compare-and-set on what we read.
		e, gerr := kv.Get(ctx, code)
		if gerr == nil && !n.Alive(string(e.Value())) {
			if _, uerr := kv.Update(ctx, code, []byte(n.cfg.Node), e.Revision()); uerr == nil {
				return nil
			}
		}
		return ErrCodeTaken
	}
	if err != nil {
		return fmt.Errorf("cluster: reserve join code: %w", err)
	}
	return nil
}

// ReleaseCode frees a join code this node reserved (its room closed).
func (n *Node) ReleaseCode(code string) {
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	kv, err := n.codes(ctx)
	if err != nil {
		n.log.Warn("release join code", "err", err)
		return
	}
	e, err := kv.Get(ctx, code)
	if err != nil || string(e.Value()) != n.cfg.Node {
		return
	}
	if err := kv.Delete(ctx, code, jetstream.LastRevision(e.Revision())); err != nil && !gone(err) {
		n.log.Warn("release join code", "err", err)
	}
}

// CodeNode returns the live node whose room has the join code; "" when
// none does.
func (n *Node) CodeNode(ctx context.Context, code string) (string, error) {
	kv, err := n.codes(ctx)
	if err != nil {
		return "", err
	}
	e, err := kv.Get(ctx, code)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cluster: join code: %w", err)
	}
	if node := string(e.Value()); n.Alive(node) {
		return node, nil
	}
	return "", nil
}

// ServeMoves answers sessions moved to this node (MoveTo) with h, which
// takes the session (TakeDrained) and seats it; its error is answered.
func (n *Node) ServeMoves(h func(ctx context.Context, req []byte) error) error {
	n.moves.Store(&h)
	sub, err := n.nc.Subscribe(moveSubject(n.cfg.Node), func(m *nats.Msg) {
		go func() {
			var err error
			if h := n.moves.Load(); h == nil {
				err = comet.Errorf("unavailable", "node not serving yet")
			} else {
				ctx, cancel := context.WithTimeout(n.ctx, 20*time.Second)
				err = (*h)(ctx, m.Data)
				cancel()
			}
			n.respond(m, err, "moved session")
		}()
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", moveSubject(n.cfg.Node), err)
	}
	n.subs = append(n.subs, sub)
	return n.nc.Flush()
}

// MoveTo asks node to take a session this node marked drained and seat it
// as req says. The error is the node's (a *comet.Error), or
// ErrUnreachable.
func (n *Node) MoveTo(ctx context.Context, node string, req []byte) error {
	msg, err := n.nc.RequestWithContext(ctx, moveSubject(node), req)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%w: %s", ErrUnreachable, node)
	}
	if err != nil {
		return fmt.Errorf("cluster: move to %s: %w", node, err)
	}
	var a relayAnswer
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		return fmt.Errorf("cluster: move to %s: answer: %w", node, err)
	}
	if a.Code != "" {
		return comet.Errorf(a.Code, "%s", a.Error)
	}
	return nil
}

// MoveRoom asks node to take a room this draining node froze, with its
// members' sessions (marked drained), as MoveTo does for one session. The
// error is the node's (a *comet.Error: it refused, try another), or
// ErrUnreachable, or the request's (too large for NATS, or no answer: the
// room may or may not have been taken). A room given up on is counted once
// with RoomLost.
func (n *Node) MoveRoom(ctx context.Context, node string, req []byte) error {
	err := n.MoveTo(ctx, node, req)
	var ce *comet.Error
	switch {
	case err == nil:
		n.metrics.roomMoves.WithLabelValues("moved").Inc()
	case errors.As(err, &ce) || errors.Is(err, ErrUnreachable):
		n.metrics.roomMoves.WithLabelValues("refused").Inc()
	}
	return err
}

// RoomLost counts a room this node could not hand to any node as it
// drained (its members are told it closed).
func (n *Node) RoomLost() { n.metrics.roomMoves.WithLabelValues("failed").Inc() }

// MoveCode points a private room's join code at this node, which took the
// room from a node that drained.
func (n *Node) MoveCode(ctx context.Context, code string) error {
	kv, err := n.codes(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, code, []byte(n.cfg.Node)); err != nil {
		return fmt.Errorf("cluster: move join code: %w", err)
	}
	return nil
}

// Unmark gives a session this node marked drained (for a move that did
// not happen) back to this node, if no node took it meanwhile.
func (n *Node) Unmark(ctx context.Context, sid, player string) error {
	h, rev, err := n.entry(ctx, sid)
	if err != nil {
		return err
	}
	if h.Node != "" || h.From != n.cfg.Node {
		return ErrHomeChanged
	}
	return n.Rehome(ctx, sid, player, rev)
}

// Opening a quick-play room. Two quick plays at the same moment on two
// nodes with no room of their mode anywhere would each open one; instead
// each node that finds none claims the mode's key in the comet_opening
// bucket with Create (the compare-and-set): the winner opens the room and
// writes its id into the claim (Opened), the others wait for that id and
// join through the winner's node. A claim lives openTTL after its last
// write, so a winner that dies before opening holds up the others for at
// most its lease (they drop the claim of a dead node) or openTTL.

// OpeningBucket holds the claims to open a quick-play room, mode -> claim.
const OpeningBucket = "comet_opening"

// openTTL is how long a claim outlives its last write: longer than a room
// takes to open and reach every node's directory (a few hundred ms).
const openTTL = 5 * time.Second

// openClaim is a node's claim to open the next quick-play room of a mode:
// Room is "" until the room is open; Rev is the claim's revision.
type openClaim struct {
	Node string `json:"node"`
	Room string `json:"room,omitempty"`
	Rev  uint64 `json:"-"`
}

func (n *Node) opening(ctx context.Context) (jetstream.KeyValue, error) {
	return n.bucket(ctx, jetstream.KeyValueConfig{Bucket: OpeningBucket, Storage: jetstream.MemoryStorage, History: 1, TTL: openTTL})
}

// ClaimOpen claims opening the next quick-play room of mode for this node:
// won true when this node now holds the claim, else the claim another node
// (or an earlier call here) holds: its node, its room ("" until open). rev
// is the claim's revision.
func (n *Node) ClaimOpen(ctx context.Context, mode string) (won bool, node, room string, rev uint64, err error) {
	c, won, err := n.claimOpen(ctx, mode)
	return won, c.Node, c.Room, c.Rev, err
}

func (n *Node) claimOpen(ctx context.Context, mode string) (c openClaim, won bool, err error) {
	if !ValidNodeName(mode) {
		return openClaim{}, false, fmt.Errorf("cluster: claim to open a room: bad mode %q", mode)
	}
	kv, err := n.opening(ctx)
	if err != nil {
		return openClaim{}, false, err
	}
	mine, _ := json.Marshal(openClaim{Node: n.cfg.Node})
	for range 3 { // the holder's claim may expire between Create and Get
		rev, err := kv.Create(ctx, mode, mine)
		if err == nil {
			return openClaim{Node: n.cfg.Node, Rev: rev}, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return openClaim{}, false, fmt.Errorf("cluster: claim to open a room of %s: %w", mode, err)
		}
		c, ok, err := readClaim(ctx, kv, mode)
		if err != nil || ok {
			return c, false, err
		}
	}
	return openClaim{}, false, fmt.Errorf("cluster: claim to open a room of %s: contended", mode)
}

// OpenClaimOf returns the claim to open a room of mode: its node ("" when
// none is held: none made, expired or dropped), room and revision.
func (n *Node) OpenClaimOf(ctx context.Context, mode string) (node, room string, rev uint64, err error) {
	c, _, err := n.openClaimOf(ctx, mode)
	return c.Node, c.Room, c.Rev, err
}

func (n *Node) openClaimOf(ctx context.Context, mode string) (c openClaim, ok bool, err error) {
	if !ValidNodeName(mode) {
		return openClaim{}, false, fmt.Errorf("cluster: claim to open a room: bad mode %q", mode)
	}
	kv, err := n.opening(ctx)
	if err != nil {
		return openClaim{}, false, err
	}
	return readClaim(ctx, kv, mode)
}

// readClaim reads the claim of mode; ok false when none is held.
func readClaim(ctx context.Context, kv jetstream.KeyValue, mode string) (c openClaim, ok bool, err error) {
	e, err := kv.Get(ctx, mode)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return openClaim{}, false, nil
	}
	if err != nil {
		return openClaim{}, false, fmt.Errorf("cluster: read the claim to open a room of %s: %w", mode, err)
	}
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return openClaim{}, false, fmt.Errorf("cluster: claim to open a room of %s: %w", mode, err)
	}
	c.Rev = e.Revision()
	return c, true, nil
}

// Opened writes the room a claim this node won opened (compare-and-set on
// the claim's revision), so the nodes waiting on it join that room.
func (n *Node) Opened(ctx context.Context, mode, room string, rev uint64) error {
	kv, err := n.opening(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(openClaim{Node: n.cfg.Node, Room: room})
	if _, err := kv.Update(ctx, mode, b, rev); err != nil {
		return fmt.Errorf("cluster: room of %s opened: %w", mode, err)
	}
	return nil
}

// DropClaim deletes the claim to open a room of mode seen at rev (its node
// died, or its room is full); a claim written since is kept.
func (n *Node) DropClaim(ctx context.Context, mode string, rev uint64) error {
	kv, err := n.opening(ctx)
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, mode, jetstream.LastRevision(rev)); err != nil && !gone(err) {
		return fmt.Errorf("cluster: drop the claim to open a room of %s: %w", mode, err)
	}
	return nil
}
