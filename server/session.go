package server

import (
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
type Session struct {
	id       string
	playerID string
	name     atomic.Pointer[string]
	hub      *Hub
	created  time.Time
	// tokenHash is the SHA-256 of the player token every request must present.
	tokenHash []byte

	mu       sync.Mutex
	seq      uint64 // seq of the newest event
	ring     replay
	recv     receiver
	detached time.Time // when the last receiver went; zero while one is attached
	upMax    uint64    // highest client seq taken
	subs     map[string]comet.Subscription
	ended    bool
	room     string // the room this tab joined through, "" in the lobby

	muted atomic.Pointer[map[string]bool] // players whose chat this session drops
}

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
	s.detached = time.Time{}
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
		s.detached = time.Now()
	}
	s.mu.Unlock()
}

// pending reports whether events after cursor exist.
func (s *Session) pending(cursor uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq > cursor
}

// collect appends the events after cursor (at most about maxBytes) to dst.
// When the replay buffer has already dropped some of them (a consumer too
// slow for its events), it queues a sys.reset instead and returns reset=true
// with the cursor moved to just before it.
func (s *Session) collect(dst []event, cursor uint64, maxBytes int) ([]event, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cursor < s.seq && cursor+1 < s.ring.oldest() {
		s.seq++
		s.ring.push(event{seq: s.seq, msg: msgReset})
		cursor = s.seq - 1
		return s.ring.after(dst, cursor, maxBytes), cursor, true
	}
	return s.ring.after(dst, cursor, maxBytes), cursor, false
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
	if s.ended || s.subs[topic] != nil {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	sub := s.hub.bus.Subscribe(topic, s)
	s.mu.Lock()
	if s.ended || s.subs[topic] != nil {
		s.mu.Unlock()
		if s.subs[topic] != sub {
			sub.Close()
		}
		return
	}
	if s.subs == nil {
		s.subs = make(map[string]comet.Subscription, 2)
	}
	s.subs[topic] = sub
	s.mu.Unlock()
}

// Unsubscribe removes the session from a bus topic.
func (s *Session) Unsubscribe(topic string) {
	s.mu.Lock()
	sub := s.subs[topic]
	delete(s.subs, topic)
	s.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
}

// Subscribed reports whether the session is on topic.
func (s *Session) Subscribed(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[topic] != nil
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
	return s.recv == nil && !s.detached.IsZero() && now.Sub(s.detached) > grace
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
	for t := range s.subs {
		out = append(out, t)
	}
	return out
}
