package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/gameloop"
	"comet/server/push"
)

// A graceful restart hands every session to the next process through the
// store (docs/ARCHITECTURE.md, "Hand-over"): Shutdown drains and saves one
// blob, the successor's Restore takes it and registers every session again,
// so clients resume on the same sid with last=N and miss nothing.

// handoverFormat is the blob's format version. A successor restores only a
// blob of its own format; any other is discarded (clients then renew).
const handoverFormat = 1

// handoverBlob is the hand-over as stored. Sessions is kept as the exact
// bytes its checksum covers; Complete is encoded last, so a blob cut short
// never reads as complete.
type handoverBlob struct {
	Format   int             `json:"format"`
	Binary   string          `json:"binary"` // the saving binary's version, for the log
	SavedAt  time.Time       `json:"saved_at"`
	Count    int             `json:"count"`    // len(sessions)
	Sessions json.RawMessage `json:"sessions"` // []savedTab
	Checksum string          `json:"checksum"` // SHA-256 of Sessions, hex
	// Rooms are the frozen rooms ([]gameloop.SavedRoom), checked apart: a
	// bad rooms part costs the rooms (their tabs are told room.closed
	// {"reason":"restart"}), not the sessions.
	Rooms         json.RawMessage `json:"rooms,omitempty"`
	RoomsChecksum string          `json:"rooms_checksum,omitempty"` // SHA-256 of Rooms, hex
	Complete      bool            `json:"complete"`
}

// savedTab is one session with the application's state of it (tab.go).
// Mutes are not saved: the successor loads them from the store.
type savedTab struct {
	Session   push.SavedSession `json:"session"`
	Player    string            `json:"player"`
	TokenHash []byte            `json:"token_hash"`
	Name      string            `json:"name"`
	Room      string            `json:"room,omitempty"` // the room the tab was in when the hand-over began
	Addr      string            `json:"addr,omitempty"` // the client address it counts against
}

// drainGate refuses new client work once a hand-over begins and lets the
// work already taken finish before the sessions are saved.
type drainGate struct {
	mu       sync.RWMutex
	draining bool
	inflight sync.WaitGroup
	// take makes a cluster node's hand-over of one drained session and its
	// last save of it one step each (cluster_drain.go): a taker asking
	// while the session is being saved is answered after the save.
	take sync.Mutex
}

// retryAfterDrain is the Retry-After of a request refused while draining.
const retryAfterDrain = "1"

// gated reports whether the request is one the gate refuses while draining
// (sessions, logins, events, downstreams, admin actions), and whether it is
// waited for before the save (everything but a downstream, which Drain ends).
func gated(r *http.Request) (refuse, wait bool) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/comet/"):
		return true, r.Method != http.MethodGet
	case strings.HasPrefix(p, "/api/admin/"):
		return true, true
	}
	return false, false
}

// drainMiddleware answers 503 unavailable (Retry-After: 1) to what the gate
// refuses once draining, and counts the requests to wait for until then.
func (s *Server) drainMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		refuse, wait := gated(c.Request())
		if !refuse {
			return next(c)
		}
		g := &s.drain
		g.mu.RLock()
		if g.draining || s.fenced() {
			g.mu.RUnlock()
			return unavailable(c)
		}
		if wait {
			g.inflight.Add(1)
			defer g.inflight.Done()
		}
		g.mu.RUnlock()
		return next(c)
	}
}

// enterGate counts one piece of client work (an upstream WebSocket
// message) that a hand-over must wait for; false once draining, when it
// must not run. exitGate ends it.
func (s *Server) enterGate() bool {
	s.drain.mu.RLock()
	defer s.drain.mu.RUnlock()
	if s.drain.draining {
		return false
	}
	s.drain.inflight.Add(1)
	return true
}

func (s *Server) exitGate() { s.drain.inflight.Done() }

// errRestarting refuses client events that arrive on a WebSocket while the
// server drains for a restart: they did not run; send them again (same seqs)
// to the successor.
var errRestarting = comet.Errorf("unavailable", "the server is restarting: this message did not run; send it again after reconnecting")

// unavailable is the answer to a request that came while the server drains
// for a restart: 503, code unavailable, Retry-After: 1.
func unavailable(c echo.Context) error {
	c.Response().Header().Set("Retry-After", retryAfterDrain)
	return c.JSON(http.StatusServiceUnavailable, map[string]string{
		"error": "the server is restarting; retry shortly on the same session",
		"code":  "unavailable",
	})
}

// Draining reports whether a hand-over has begun.
func (s *Server) Draining() bool {
	s.drain.mu.RLock()
	defer s.drain.mu.RUnlock()
	return s.drain.draining
}

// beginDrain closes the gate and waits (until ctx ends) for the requests it
// let in to finish.
func (s *Server) beginDrain(ctx context.Context) error {
	s.drain.mu.Lock()
	s.drain.draining = true
	s.drain.mu.Unlock()
	done := make(chan struct{})
	go func() { s.drain.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("requests still running: %w", ctx.Err())
	}
}

// handOver is Shutdown with the hand-over enabled. In order: close the gate
// (new sessions, events and downstreams get 503) and the listener, wait for
// the events already taken, freeze the rooms, stop the lobby's publishing,
// tell every client sys.restart, write what is queued, end every downstream, then
// save the sessions with their state in one blob. Nothing is numbered after
// the save.
func (s *Server) handOver(ctx context.Context) error {
	if s.cluster != nil {
		return s.drainToCluster(ctx) // to the other nodes (cluster_drain.go)
	}
	start := time.Now()
	var errs []error
	httpDone := s.closeGate(ctx)
	// The events already taken run first, rooms alive: an input in flight
	// reaches its room's queue and goes over with it.
	if err := s.beginDrain(ctx); err != nil {
		errs = append(errs, fmt.Errorf("drain: %w", err))
	}
	// Rooms freeze between two ticks and go on in the successor; one that
	// cannot (hung, a log too long) closes in Shutdown as on a plain stop,
	// and its tabs hear room.closed and leave it before the save.
	frozen, err := s.games.Freeze(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("freeze rooms: %w", err))
	}
	if err := s.games.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop games: %w", err))
	}
	frozeAt := time.Now()
	rooms := make(map[string]string) // sid -> room, after the rooms stopped
	for _, t := range s.allTabs() {
		if r := t.Room(); r != "" {
			rooms[t.ID()] = r
		}
	}
	s.cancel() // the lobby stops publishing
	s.done.Wait()
	s.dropMirrors(ctx) // relayed from other nodes: not this node's to hand over, nor to number
	s.restartClients(ctx)
	s.hub.Drain()
	drained := time.Now()

	saved := s.hub.Save()
	encStart := time.Now()
	blob, err := encodeHandover(s.cfg.Version, saved, func(id string) (*tab, bool) {
		ps, ok := s.hub.Session(id)
		if !ok {
			return nil, false
		}
		return tabOf(ps), true
	}, rooms, frozen)
	encoded := time.Now()
	if err == nil {
		err = s.store.SaveHandover(ctx, blob)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("save hand-over: %w", err))
		s.log.Error("hand-over not saved; clients will renew their sessions", "err", err)
	} else {
		s.log.Info("hand-over saved", "sessions", len(saved), "rooms", len(frozen), "bytes", len(blob),
			"freeze", frozeAt.Sub(start).Round(time.Millisecond),
			"drain", drained.Sub(start).Round(time.Millisecond), "snapshot", encStart.Sub(drained).Round(time.Millisecond),
			"encode", encoded.Sub(encStart).Round(time.Millisecond), "write", time.Since(encoded).Round(time.Millisecond),
			"save", time.Since(drained).Round(time.Millisecond))
	}
	if err := <-httpDone; err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	s.close(ctx)
	return errors.Join(errs...)
}

// closeGate refuses new client work (503) and stops the listener; the
// channel says when the requests still running have finished.
func (s *Server) closeGate(ctx context.Context) <-chan error {
	s.drain.mu.Lock()
	s.drain.draining = true
	s.drain.mu.Unlock()
	httpDone := make(chan error, 1)
	if s.http != nil {
		s.http.SetKeepAlivesEnabled(false)
		// Shutdown closes the listener at once, then waits for the requests
		// still running (a long-poll ends when Drain stops it).
		go func() { httpDone <- s.http.Shutdown(ctx) }()
	} else {
		httpDone <- nil
	}
	return httpDone
}

// encodeHandover builds the blob for the saved sessions; tabOf finds each
// one's application state, rooms the room each tab was in.
func encodeHandover(version string, saved []push.SavedSession, find func(string) (*tab, bool), rooms map[string]string, frozen []gameloop.SavedRoom) ([]byte, error) {
	tabs := make([]savedTab, 0, len(saved))
	for _, sv := range saved {
		t, ok := find(sv.ID)
		if !ok {
			continue // ended between Save and now
		}
		st := savedTab{Session: sv, Player: t.playerID, TokenHash: t.tokenHash[:], Name: t.PlayerName(), Room: rooms[sv.ID]}
		if t.addr.IsValid() {
			st.Addr = t.addr.String()
		}
		tabs = append(tabs, st)
	}
	body, err := json.Marshal(tabs)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	h := handoverBlob{
		Format: handoverFormat, Binary: version, SavedAt: time.Now().UTC(), Count: len(tabs),
		Sessions: body, Checksum: hex.EncodeToString(sum[:]), Complete: true,
	}
	if len(frozen) > 0 {
		if h.Rooms, err = json.Marshal(frozen); err != nil {
			return nil, fmt.Errorf("encode rooms: %w", err)
		}
		rs := sha256.Sum256(h.Rooms)
		h.RoomsChecksum = hex.EncodeToString(rs[:])
	}
	return json.Marshal(h)
}

// decodeHandover checks the whole blob — complete, this format, the checksum,
// every session consistent — before anything is restored, so a bad blob is
// refused whole and never half-restored.
func decodeHandover(blob []byte) (*handoverBlob, []savedTab, error) {
	var h handoverBlob
	if err := json.Unmarshal(blob, &h); err != nil {
		return nil, nil, fmt.Errorf("unreadable (%d bytes): %w", len(blob), err)
	}
	if !h.Complete {
		return &h, nil, errors.New("incomplete: the save did not finish")
	}
	if h.Format != handoverFormat {
		return &h, nil, fmt.Errorf("format %d, this binary reads %d", h.Format, handoverFormat)
	}
	sum := sha256.Sum256(h.Sessions)
	if hex.EncodeToString(sum[:]) != h.Checksum {
		return &h, nil, errors.New("checksum mismatch")
	}
	var tabs []savedTab
	dec := json.NewDecoder(bytes.NewReader(h.Sessions))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tabs); err != nil {
		return &h, nil, fmt.Errorf("sessions: %w", err)
	}
	if len(tabs) != h.Count {
		return &h, nil, fmt.Errorf("%d sessions, the header says %d", len(tabs), h.Count)
	}
	ids := make(map[string]bool, len(tabs))
	for i, t := range tabs {
		sv := t.Session
		switch {
		case sv.ID == "" || ids[sv.ID]:
			return &h, nil, fmt.Errorf("session %d: missing or repeated id %q", i, sv.ID)
		case t.Player == "" || sv.User != t.Player:
			return &h, nil, fmt.Errorf("session %s: player %q, user %q", sv.ID, t.Player, sv.User)
		case len(t.TokenHash) != sha256.Size:
			return &h, nil, fmt.Errorf("session %s: token hash of %d bytes", sv.ID, len(t.TokenHash))
		}
		if t.Addr != "" {
			if _, err := netip.ParseAddr(t.Addr); err != nil {
				return &h, nil, fmt.Errorf("session %s: address: %w", sv.ID, err)
			}
		}
		var prev uint64
		for _, e := range sv.Events {
			if e.Seq <= prev || e.Seq > sv.Seq || len(e.Frame) == 0 {
				return &h, nil, fmt.Errorf("session %s: event %d out of order or empty", sv.ID, e.Seq)
			}
			prev = e.Seq
		}
		ids[sv.ID] = true
	}
	return &h, tabs, nil
}

// Restore takes the hand-over a predecessor saved, if any, and registers
// every session again with its state: same id, numbering and buffered
// events, subscriptions and mutes, its grace period running until its client
// resumes. A blob that is incomplete, of another format or inconsistent is
// discarded with a warning (clients then renew, as after a crash). Call it
// before serving; it returns how many sessions it restored.
func (s *Server) Restore(ctx context.Context) (int, error) {
	start := time.Now()
	blob, err := s.store.TakeHandover(ctx)
	took := time.Since(start)
	switch {
	case comet.ErrorCode(err) == comet.ENOTFOUND:
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("take hand-over: %w", err)
	}
	h, tabs, err := decodeHandover(blob)
	if err != nil {
		attrs := []any{"err", err, "bytes", len(blob)}
		if h != nil {
			attrs = append(attrs, "format", h.Format, "binary", h.Binary, "saved_at", h.SavedAt)
		}
		s.log.Warn("hand-over discarded; clients will renew their sessions", attrs...)
		return 0, nil
	}
	decoded := time.Since(start)
	restored := make([]*tab, 0, len(tabs))
	for _, st := range tabs {
		t := &tab{playerID: st.Player, room: st.Room}
		copy(t.tokenHash[:], st.TokenHash)
		t.setName(st.Name)
		if st.Addr != "" {
			t.addr = netip.MustParseAddr(st.Addr) // checked by decodeHandover
		}
		ps, err := s.hub.Restore(st.Session, t)
		if err != nil {
			// decodeHandover checked what Restore checks; should one still
			// fail, none stays restored.
			for _, r := range restored {
				s.hub.Remove(ctx, r.Session)
			}
			s.log.Warn("hand-over discarded; clients will renew their sessions", "err", err)
			return 0, nil
		}
		t.Session = ps
		t.Subscribe(playerTopic(t.playerID)) // a blob saved before player topics lacks it
		restored = append(restored, t)
	}
	registered := time.Since(start)
	mutes := s.restoreMutes(ctx, restored)
	thawed := s.thawRooms(ctx, h, restored) // before the lobby's lock: a thawed room is listed
	events, cleared := 0, 0
	s.lobby.pub.Lock() // as welcome: no lobby update overtakes the full list
	rooms := s.lobby.roomsMessage()
	for i, t := range restored {
		events += len(tabs[i].Session.Events)
		s.limits.holdSession(t.addr)
		if ids := mutes[t.playerID]; len(ids) > 0 {
			t.setMuted(ids)
			t.Send(comet.MustMessage("chat.muted", map[string][]string{"players": slices.Clone(ids)}))
		}
		if r := t.Room(); r != "" && !s.seatedIn(t, r) {
			s.leaveRestoredRoom(t)
			cleared++
		}
		if t.Subscribed(comet.TopicLobby) { // the room list as it is now
			t.Send(rooms)
			if mine := s.lobby.privateRoomsOf(t.playerID); mine != nil {
				t.Send(mine)
			}
		}
	}
	s.lobby.pub.Unlock()
	s.lobby.publishPresence() // who is online now, to every lobby session at once
	s.log.Info("hand-over restored", "sessions", len(restored), "events", events, "rooms", thawed, "rooms_cleared", cleared,
		"bytes", len(blob), "from", h.Binary, "saved_at", h.SavedAt,
		"take", took.Round(time.Millisecond), "decode", (decoded - took).Round(time.Millisecond),
		"register", (registered - decoded).Round(time.Millisecond), "state", (time.Since(start) - registered).Round(time.Millisecond),
		"took", time.Since(start).Round(time.Millisecond))
	return len(restored), nil
}

// restoreMutes loads the mutes of the restored tabs' players from the store,
// one query per player, a few at a time.
func (s *Server) restoreMutes(ctx context.Context, tabs []*tab) map[string][]string {
	players := make(map[string]bool, len(tabs))
	for _, t := range tabs {
		players[t.playerID] = true
	}
	out := make(map[string][]string, len(players))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for p := range players {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ids, err := s.store.Mutes(ctx, p)
			if err != nil {
				s.log.Error("load mutes", "player", p, "err", err)
				return
			}
			mu.Lock()
			out[p] = ids
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// leaveRestoredRoom settles a restored tab whose room did not come back
// (handover_rooms.go): the tab leaves it and is told room.closed
// {"room": id, "reason": "restart"}.
func (s *Server) leaveRestoredRoom(t *tab) {
	id := t.setRoom("")
	t.Unsubscribe(comet.ChatTopic("room:" + id))
	t.Send(comet.MustMessage("room.closed", map[string]string{"room": id, "reason": "restart"}))
}

// holdSession counts a restored tab's live session against its address, as
// acquireSession did in the process that opened it.
func (l *limiter) holdSession(a netip.Addr) {
	if l.cfg.SessionsPerIP < 0 || !a.IsValid() {
		return
	}
	l.mu.Lock()
	l.state(a, time.Now()).live++
	l.mu.Unlock()
}
