package push

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"comet"
)

// SavedSession is what a successor process needs to continue a session where
// this one stopped: its id, its user, its numbering on both directions and
// every event a client may not have read yet. The application saves its own
// per-session state beside it.
type SavedSession struct {
	ID     string       `json:"id"`
	User   string       `json:"user"`
	Seq    uint64       `json:"seq"`    // the newest event's seq
	UpMax  uint64       `json:"up_max"` // the highest client seq taken
	Topics []string     `json:"topics"`
	Events []SavedEvent `json:"events"` // the replay buffer, oldest first

	// UpMissing is the window below UpMax: bit i set when client seq
	// UpMax-1-i was never taken (so a late POST still runs, once).
	UpMissing uint64 `json:"up_missing,omitempty"`
}

// SavedEvent is one buffered event as it went out: its seq and its frame.
type SavedEvent struct {
	Seq   uint64      `json:"seq"`
	Type  string      `json:"type"`
	Frame []byte      `json:"frame"` // `"type":…,"data":…}` exactly as written
	Flags comet.Flags `json:"flags,omitempty"`
}

// ErrDraining is returned by Hold and Poll once Drain has begun: the client
// reconnects (to the successor) instead of attaching here.
var ErrDraining = errors.New("draining for a restart")

// Drain ends intake for a hand-over: every attached downstream is stopped
// after writing what it has, and no new downstream can attach. Sessions stay
// in the registry, unexpired, for Save.
func (h *Hub) Drain() {
	h.draining.Store(true)
	for _, s := range h.Sessions() {
		s.mu.Lock()
		r := s.recv
		s.recv = nil
		s.mu.Unlock()
		if r != nil {
			r.stop()
		}
	}
}

// Save returns every live session's state; call it after Drain and after the
// last event was sent (the application stopped publishing), so nothing is
// numbered after the snapshot.
func (h *Hub) Save() []SavedSession {
	ss := h.Sessions()
	slices.SortFunc(ss, func(a, b *Session) int { return cmpString(a.id, b.id) })
	out := make([]SavedSession, 0, len(ss))
	for _, s := range ss {
		s.mu.Lock()
		if s.ended {
			s.mu.Unlock()
			continue
		}
		sv := s.savedLocked()
		s.mu.Unlock()
		out = append(out, sv)
	}
	return out
}

// Restore registers a session saved by a predecessor, with the same id,
// numbering and buffered events, carrying the application's state; it is
// detached (its grace period running) until its client resumes. Topics are
// subscribed again. A saved session that is inconsistent (events out of
// order, beyond its seq) is refused, so it is never half-restored.
func (h *Hub) Restore(sv SavedSession, state any) (*Session, error) {
	return h.restore(sv, state, false)
}

// restore is Restore; hold makes the session keep what its subscriptions
// deliver (RestoreCaptured numbers it after the captured lines).
func (h *Hub) restore(sv SavedSession, state any, hold bool) (*Session, error) {
	if sv.ID == "" {
		return nil, errors.New("restore session: no id")
	}
	var prev uint64
	for _, e := range sv.Events {
		if e.Seq <= prev || e.Seq > sv.Seq || len(e.Frame) == 0 {
			return nil, fmt.Errorf("restore session %s: event %d out of order or empty", sv.ID, e.Seq)
		}
		prev = e.Seq
	}
	s := &Session{
		id: sv.ID, user: sv.User, state: state, hub: h,
		seq: sv.Seq, upMax: sv.UpMax, upMissing: sv.UpMissing,
		detached: time.Now().UnixNano(),
		ring:     replay{maxEvents: int32(h.cfg.ReplayEvents), maxBytes: int32(h.cfg.ReplayBytes)},
	}
	if hold {
		s.hold = new([]*comet.Message)
	}
	for _, e := range sv.Events {
		s.ring.push(event{seq: e.Seq, msg: &comet.Message{Type: e.Type, Frame: e.Frame, Flags: e.Flags}})
	}
	h.mu.Lock()
	if _, dup := h.sessions[s.id]; dup {
		h.mu.Unlock()
		return nil, fmt.Errorf("restore session %s: already live", sv.ID)
	}
	h.sessions[s.id] = s
	if head := h.users[s.user]; head != nil {
		s.nextTab, head.prevTab = head, s
	}
	h.users[s.user] = s
	n := len(h.sessions)
	h.mu.Unlock()
	h.detachedNow(s)
	h.metrics.sessions.Set(float64(n))
	for _, t := range sv.Topics {
		s.Subscribe(t)
	}
	return s, nil
}

// savedLocked is the session's saved state; s.mu is held.
func (s *Session) savedLocked() SavedSession {
	sv := SavedSession{ID: s.id, User: s.user, Seq: s.seq, UpMax: s.upMax, UpMissing: s.upMissing}
	for _, sub := range s.subs {
		sv.Topics = append(sv.Topics, sub.Topic())
	}
	for _, e := range s.ring.after(nil, 0, 1<<30) {
		sv.Events = append(sv.Events, SavedEvent{Seq: e.seq, Type: e.msg.Type, Frame: e.msg.Frame, Flags: e.msg.Flags})
	}
	return sv
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
