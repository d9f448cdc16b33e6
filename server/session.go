package server

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"comet"
)

// receiver is a session's attached downstream (a held stream or a pending
// poll). The session calls wake, without its lock held, whenever events are
// added; stop when a newer downstream replaces this one or the session ends.
type receiver interface {
	wake()
	stop()
}

// Session is one browser tab's connection state: its player, its numbered
// outbound events with their replay buffer, the client seqs it has taken, and
// its topic subscriptions. It implements comet.Sink; Send never blocks.
//
// Every held stream has one, so its size is most of a stream's memory: keep
// rarely used state out of it (see docs/PERFORMANCE.md).
type Session struct {
	id       string
	playerID string
	name     atomic.Pointer[string]
	hub      *Hub
	// tokenHash is the SHA-256 of the player token every request must present.
	tokenHash [32]byte
	// The player's other sessions in the hub's index, under Hub.mu.
	prevTab, nextTab *Session

	mu       sync.Mutex
	ended    bool
	seq      uint64 // seq of the newest event
	upMax    uint64 // highest client seq taken
	detached int64  // unix nanos when the last receiver went; 0 while one is attached
	ring     replay
	recv     receiver
	subs     []comet.Subscription // a handful: the lobby, chat channels, a room
	room     string               // the room this tab joined through, "" in the lobby

	muted atomic.Pointer[map[string]bool] // players whose chat this session drops
	stale atomic.Uint32                   // staleBacklog | staleDropped
}

// A stream whose socket is full marks its session backlogged: room diffs are
// then dropped rather than queued behind the backlog, and once it drains the
// room sends a fresh snapshot, which the diffs after it build on.
const (
	staleBacklog = 1 << iota // the stream has bytes the socket did not take
	staleDropped             // diffs were dropped: drop the rest until a snapshot
)

var _ comet.Sink = (*Session)(nil)

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// PlayerID returns the id of the session's player.
func (s *Session) PlayerID() string { return s.playerID }

// PlayerName returns the player's current display name.
func (s *Session) PlayerName() string { return *s.name.Load() }

func (s *Session) setName(n string) { s.name.Store(&n) }

// Send numbers m for this session, buffers it for replay and wakes the
// attached downstream. A session that has ended drops it.
func (s *Session) Send(m *comet.Message) {
	if m.From != "" {
		if mm := s.muted.Load(); mm != nil && (*mm)[m.From] {
			return
		}
	}
	if s.stale.Load() != 0 && s.dropStale(m) {
		return
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.seq++
	s.ring.push(event{seq: s.seq, msg: m})
	r := s.recv
	s.mu.Unlock()
	s.hub.metrics.eventsQueued.Inc()
	if r != nil {
		r.wake()
	}
}

// dropStale reports whether m is a room diff a backlogged session must not
// queue; a snapshot ends the dropping.
func (s *Session) dropStale(m *comet.Message) bool {
	switch m.Type {
	case "room.diff":
		for {
			v := s.stale.Load()
			if v == 0 || s.stale.CompareAndSwap(v, v|staleDropped) {
				if v != 0 {
					s.hub.metrics.diffsDropped.Inc()
				}
				return v != 0
			}
		}
	case "room.snapshot":
		for {
			v := s.stale.Load()
			if s.stale.CompareAndSwap(v, v&^staleDropped) {
				return false
			}
		}
	}
	return false
}

// backlogged records whether the session's stream has bytes waiting for the
// socket. When a backlog clears after diffs were dropped, the room is asked
// for a fresh snapshot.
func (s *Session) backlogged(on bool) {
	for {
		v := s.stale.Load()
		nv := v | staleBacklog
		if !on {
			nv = v &^ staleBacklog
		}
		if v == nv {
			return
		}
		if s.stale.CompareAndSwap(v, nv) {
			if !on && nv&staleDropped != 0 {
				s.hub.metrics.resyncs.Inc()
				go s.hub.cfg.OnStale(s)
			}
			return
		}
	}
}

// SendError tells the client, on its stream, that its event ref was refused.
func (s *Session) SendError(ref uint64, err error) {
	s.Send(comet.MustMessage("sys.error", sysError{
		Code: comet.ErrorCode(err), Message: comet.ErrorMessage(err), Ref: ref,
	}))
}

type sysError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     uint64 `json:"ref"`
}

// attach makes r the session's downstream, stopping the one it replaces, and
// returns the cursor r must send after. When the events after last are no
// longer all buffered (or last is from the future), a sys.reset is queued,
// the cursor is placed just before it and reset is true: the caller then
// asks the topics for fresh state.
func (s *Session) attach(r receiver, last uint64) (cursor uint64, reset bool, ok bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return 0, false, false
	}
	old := s.recv
	s.recv = r
	if s.detached != 0 {
		s.detached = 0
		s.hub.attached(s)
	}
	cursor, reset = s.resumeLocked(last)
	// The client has everything up to last: those events need no replay.
	s.ring.release(min(last, cursor))
	s.mu.Unlock()
	if old != nil && old != r {
		old.stop()
	}
	return cursor, reset, true
}

// resumeLocked decides where a receiver that has seen last continues.
func (s *Session) resumeLocked(last uint64) (cursor uint64, reset bool) {
	lost := last > s.seq || (last < s.seq && last+1 < s.ring.oldest()) || (last < s.seq && s.ring.n == 0)
	if !lost {
		return last, false
	}
	s.seq++
	s.ring.push(event{seq: s.seq, msg: msgReset})
	return s.seq - 1, true
}

// detach removes r if it is still the attached receiver and starts the grace
// period after which an unattached session expires.
func (s *Session) detach(r receiver) {
	s.mu.Lock()
	if s.recv == r {
		s.recv = nil
		s.detached = time.Now().UnixNano()
		s.hub.detachedNow(s)
	}
	s.mu.Unlock()
}

// collect appends the events after cursor (at most about maxBytes) to dst.
// When the replay buffer has already dropped some of them (a consumer too
// slow for its events), it queues a sys.reset instead and returns reset=true
// with the cursor moved to just before it. more reports events left after
// the batch (it was capped), so a writer need not lock again to ask. Written
// events beyond the newest ReplayKeep leave the buffer here.
func (s *Session) collect(dst []event, cursor uint64, maxBytes int) (evs []event, next uint64, reset, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring.trimWritten(cursor, s.hub.cfg.ReplayKeep)
	if cursor < s.seq && cursor+1 < s.ring.oldest() {
		s.seq++
		s.ring.push(event{seq: s.seq, msg: msgReset})
		cursor = s.seq - 1
		reset = true
	}
	evs = s.ring.after(dst, cursor, maxBytes)
	more = len(evs) > 0 && s.seq > evs[len(evs)-1].seq
	return evs, cursor, reset, more
}

// release drops buffered events up to seq upTo from the replay buffer.
func (s *Session) release(upTo uint64) {
	s.mu.Lock()
	s.ring.release(upTo)
	s.mu.Unlock()
}

// takeUpstream reports whether the client event numbered seq is new, and
// records it; a resent event (seq already taken) is ignored.
func (s *Session) takeUpstream(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.upMax {
		return false
	}
	s.upMax = seq
	return true
}

// Subscribe adds the session to a bus topic (once).
func (s *Session) Subscribe(topic string) {
	s.mu.Lock()
	if s.ended || s.subIndex(topic) >= 0 {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	sub := s.hub.bus.Subscribe(topic, s)
	s.mu.Lock()
	if s.ended || s.subIndex(topic) >= 0 {
		s.mu.Unlock()
		// The bus returns the one subscription a sink has per topic: close
		// it only if the session does not hold it already.
		if !s.ended {
			return
		}
		sub.Close()
		return
	}
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
}

// subIndex finds topic among the subscriptions (a short list); -1 if absent.
func (s *Session) subIndex(topic string) int {
	for i, sub := range s.subs {
		if sub.Topic() == topic {
			return i
		}
	}
	return -1
}

// Unsubscribe removes the session from a bus topic.
func (s *Session) Unsubscribe(topic string) {
	s.mu.Lock()
	var sub comet.Subscription
	if i := s.subIndex(topic); i >= 0 {
		sub = s.subs[i]
		s.subs = slices.Delete(s.subs, i, i+1)
	}
	s.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
}

// Subscribed reports whether the session is on topic.
func (s *Session) Subscribed(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subIndex(topic) >= 0
}

// end closes the session: no more events, subscriptions closed, receiver stopped.
func (s *Session) end() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	subs := s.subs
	s.subs = nil
	r := s.recv
	s.recv = nil
	if s.detached != 0 {
		s.detached = 0
		s.hub.attached(s) // out of the reaper's set: nothing is left to expire
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.Close()
	}
	if r != nil {
		r.stop()
	}
}

// expired reports whether the session has had no receiver for longer than grace.
func (s *Session) expired(now time.Time, grace time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recv == nil && s.detached != 0 && now.UnixNano()-s.detached > grace.Nanoseconds()
}

var msgReset = comet.MustMessage("sys.reset", struct{}{})

// setRoom records the room this session is in and returns the previous one.
func (s *Session) setRoom(id string) (prev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, s.room = s.room, id
	return prev
}

// Room returns the room this session joined through ("" in the lobby).
func (s *Session) Room() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.room
}

// setMuted replaces the set of players whose chat this session drops.
func (s *Session) setMuted(ids []string) {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	s.muted.Store(&m)
}

func (s *Session) mutedSet() map[string]bool {
	if m := s.muted.Load(); m != nil {
		return *m
	}
	return nil
}

// topics lists the session's subscriptions.
func (s *Session) topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, sub.Topic())
	}
	return out
}
