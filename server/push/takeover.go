package push

import (
	"context"
	"time"
)

// Take ends session s and returns its saved state in one step under its
// lock, so nothing is numbered between the snapshot and the end: the
// session can go on elsewhere (another node of a cluster) from exactly this
// state. A stream still attached ends with "shutdown" (its client
// reconnects and resumes). OnExpire runs under ctx. ok is false when the
// session had ended already.
func (h *Hub) Take(ctx context.Context, s *Session) (sv SavedSession, ok bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return SavedSession{}, false
	}
	sv = s.savedLocked()
	subs := s.endLocked()
	r := s.recv
	s.recv = nil
	s.mu.Unlock()
	if r != nil {
		endFor(r, EndShutdown)
	}
	s.closeAll(subs, r)
	h.forget(s)
	h.cfg.OnExpire(ctx, s)
	return sv, true
}

// EndStream ends the session's attached downstream, if any, after it writes
// what it has, with the end reason "shutdown": its client reconnects and
// resumes with its cursor, here or elsewhere. Unlike Drain it closes no
// intake: the session stays, detached with its grace period running, and a
// stream may attach again.
func (s *Session) EndStream() {
	s.mu.Lock()
	r := s.recv
	if r != nil {
		s.recv = nil
		s.detached = time.Now().UnixNano()
		s.hub.detachedNow(s)
		s.setStaleLocked(false)
	}
	s.mu.Unlock()
	if r != nil {
		endFor(r, EndShutdown)
		r.stop()
	}
}
