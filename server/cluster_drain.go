package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/server/push"
)

// A cluster node's SIGTERM hands its sessions to the other nodes (server/
// cluster/drain.go): the gate closes, its rooms move to other nodes with
// their members (cluster_drain_rooms.go), its other clients are told
// sys.restart and their streams end, and each
// session it is home of is marked drained in the directory. The session
// stays here, subscribed, until a node its client reaches takes it (Take:
// the session is saved and ended in one step) or the drain's time is up,
// when what is left is saved to the cluster's bucket for a later taker.
// Taken either way it goes on with the same sid, its seqs continuing.

// errMovingWithRoom: takeDrained found the session moving with its room
// to another node (cluster_drain_rooms.go), which takes it; nothing was
// written to the client.
var errMovingWithRoom = errors.New("session moving with its room")

// drainWait bounds how long a drained node waits for its sessions to be
// taken before it saves the rest and leaves.
const drainWait = 5 * time.Second

// drainToCluster is Shutdown with the hand-over on a cluster node.
func (s *Server) drainToCluster(ctx context.Context) error {
	start := time.Now()
	var errs []error
	httpDone := s.closeGate(ctx)
	if err := s.beginDrain(ctx); err != nil {
		errs = append(errs, fmt.Errorf("drain: %w", err))
	}
	s.dropMirrors(ctx)
	// Rooms freeze between two ticks and go on on other nodes with their
	// members (cluster_drain_rooms.go); one that cannot freeze, or that no
	// node takes, closes here.
	frozen, err := s.games.Freeze(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("freeze rooms: %w", err))
	}
	s.moveRoomsOut(ctx, frozen)
	if err := s.games.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop games: %w", err))
	}
	s.cancel() // the lobby stops publishing
	s.done.Wait()
	s.restartClients(ctx)
	s.hub.Drain()

	home := s.homeTabs()
	marked := s.markDrained(ctx, home)
	s.log.Info("draining to the cluster", "sessions", len(home), "marked", marked)
	wait := drainWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-time.Second)
	}
	end := time.Now().Add(wait)
	for len(s.homeTabs()) > 0 && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
	left := s.homeTabs()
	saved := 0
	for _, t := range left {
		if s.saveDrained(ctx, t) {
			saved++
		}
	}
	s.log.Info("drained to the cluster", "sessions", len(home), "taken", len(home)-len(left), "saved", saved,
		"took", time.Since(start).Round(time.Millisecond))
	if err := <-httpDone; err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	s.close(ctx)
	return errors.Join(errs...)
}

// homeTabs returns the sessions this node is home of (not its mirrors).
func (s *Server) homeTabs() []*tab {
	var out []*tab
	for _, ps := range s.hub.Sessions() {
		if t := tabOf(ps); !t.mirror {
			out = append(out, t)
		}
	}
	return out
}

// markDrained marks the sessions drained in the directory, a few at a
// time, and returns how many it marked.
func (s *Server) markDrained(ctx context.Context, tabs []*tab) int {
	var mu sync.Mutex
	marked := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, t := range tabs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := s.cluster.MarkDrained(ctx, t.ID(), t.playerID)
			if err != nil {
				s.log.Warn("drain: session not marked; it will be re-homed with a reset", "sid", t.ID(), "err", err)
			}
			if ok {
				mu.Lock()
				marked++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return marked
}

// TakeSession hands a session this node drained to the node that took it:
// the session is saved and ended here in one step. ok is false when it is
// not held here or this node is not draining.
func (s *Server) TakeSession(ctx context.Context, sid string) ([]byte, bool) {
	s.drain.take.Lock()
	defer s.drain.take.Unlock()
	ps, ok := s.takeable(sid)
	if !ok {
		return nil, false
	}
	blob, err := s.takeBlob(ctx, tabOf(ps))
	if err != nil {
		s.log.Error("drain: session not handed over", "sid", sid, "err", err)
		return nil, false
	}
	return blob, true
}

// TakenTopics lists the topics of a session this node drained or moves,
// and the seq it has numbered, for the node about to take it to capture
// (takeCapture); false when it is not held here to be taken.
func (s *Server) TakenTopics(sid string) ([]string, uint64, bool) {
	ps, ok := s.takeable(sid)
	if !ok {
		return nil, 0, false
	}
	return ps.Topics(), ps.Seq(), true
}

// takeable returns a session held here that another node may take: this
// node drains, or moves it to a room's node or a WebSocket's (cluster_rooms.go).
func (s *Server) takeable(sid string) (*push.Session, bool) {
	ps, ok := s.hub.Session(sid)
	if !ok || !(s.Draining() || s.rooms.isMoving(sid)) || tabOf(ps).mirror {
		return nil, false
	}
	return ps, true
}

// saveDrained saves a drained session nobody took to the cluster's bucket.
func (s *Server) saveDrained(ctx context.Context, t *tab) bool {
	s.drain.take.Lock()
	defer s.drain.take.Unlock()
	blob, err := s.takeBlob(ctx, t)
	if err == nil {
		err = s.cluster.SaveDrained(ctx, t.ID(), blob)
	}
	if err != nil {
		s.log.Warn("drain: session not saved; it will be re-homed with a reset", "sid", t.ID(), "err", err)
		return false
	}
	return true
}

// takeBlob ends t's session and encodes it as a one-session hand-over.
func (s *Server) takeBlob(ctx context.Context, t *tab) ([]byte, error) {
	sv, ok := s.hub.Take(ctx, t.Session)
	if !ok {
		return nil, errors.New("session ended")
	}
	// A session still in a room of this draining node was not handed over
	// with it (its client reached another node first, or no node took the
	// room): the room is named, so that its taker tells it the room closed.
	var rooms map[string]string
	if r := t.Room(); r != "" && s.Draining() {
		rooms = map[string]string{t.ID(): r}
	}
	return encodeHandover(s.cfg.Version, []push.SavedSession{sv}, func(string) (*tab, bool) { return t, true }, rooms, nil)
}

// takeDrained makes this node the home of sid, which its home drained, and
// restores it from the blob the cluster hands over: same sid, numbering and
// buffered events, so the client resumes with no reset. With no blob (its
// home died mid-drain) the session starts afresh as a re-home does.
func (s *Server) takeDrained(c echo.Context, sid, player string, rev uint64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), sessionTimeout)
	defer cancel()
	p, tok, err := s.rehomeAuth(ctx, c, player)
	if err != nil {
		return err
	}
	tc := &takeCapture{s: s}
	defer tc.close()
	blob, err := s.cluster.TakeDrained(ctx, sid, p.ID, rev, tc.before)
	if comet.ErrorCode(err) == codeUnavailable {
		return errMovingWithRoom // routeHome waits for the room's taker
	}
	if err != nil {
		s.log.Info("take of a drained session lost a race or failed; retry", "sid", sid, "err", err)
		return unavailable(c)
	}
	var st *savedTab
	if blob != nil {
		_, tabs, err := decodeHandover(blob)
		switch {
		case err != nil:
			s.log.Warn("drained session's blob refused; starting it afresh", "sid", sid, "err", err)
		case len(tabs) != 1 || tabs[0].Session.ID != sid || tabs[0].Player != p.ID:
			s.log.Warn("drained session's blob is not this session's; starting it afresh", "sid", sid)
		default:
			st = &tabs[0]
		}
	}
	if st == nil {
		return s.startRehomed(ctx, c, sid, p, tok)
	}
	addr, err := s.limits.acquireSession(c.Request())
	if err != nil {
		return err
	}
	t := &tab{playerID: p.ID, addr: addr}
	copy(t.tokenHash[:], st.TokenHash)
	t.setName(st.Name)
	ps, err := tc.restore(st.Session, t)
	if err != nil {
		s.limits.releaseSession(addr)
		s.log.Warn("drained session not restored", "sid", sid, "err", err)
		return unavailable(c)
	}
	t.Session = ps
	s.loadMutes(ctx, t)
	if st.Room != "" { // its room did not come here with it: it closed for this player
		t.setRoom(st.Room)
		s.leaveRestoredRoom(t)
	}
	if t.Subscribed(comet.TopicLobby) { // this node's room list, which may differ from the drained one's
		s.lobby.pub.Lock()
		t.Send(s.lobby.roomsMessage())
		s.lobby.pub.Unlock()
	}
	s.lobby.presenceChanged()
	s.log.Info("drained session taken", "sid", sid, "player", p.ID, "seq", st.Session.Seq)
	return nil
}
