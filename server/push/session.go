package push

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

// Session is one browser tab's connection state: its numbered outbound
// events with their replay buffer, the client seqs it has taken, and its
// topic subscriptions. It implements comet.Sink; Send never blocks.
//
// Every held stream has one, so its size is most of a stream's memory: keep
// rarely used state out of it (see docs/PERFORMANCE.md).
type Session struct {
	id    string
	user  string // opaque grouping key: the hub lists a user's sessions together
	state any    // the application's per-session state, set at creation
	hub   *Hub
	// The user's other sessions in the hub's index, under Hub.mu.
	prevTab, nextTab *Session

	// subMu serialises Subscribe/Unsubscribe, which call the bus between
	// two holds of mu; without it a subscription closed by one could be
	// recorded as live by the other.
	subMu sync.Mutex

	mu        sync.Mutex
	ended     bool
	seq       uint64 // seq of the newest event
	upMax     uint64 // highest client seq taken
	upMissing uint64 // bit i: client seq upMax-1-i was never taken (zero: all were)
	detached  int64  // unix nanos when the last receiver went; 0 while one is attached
	hungUp    bool   // the last receiver went because its peer hung up (see SetHangupGrace)
	ring      replay
	recv      receiver
	subs      []comet.Subscription // a handful of topics
	// hold is non-nil only while RestoreCaptured merges a taken session's
	// captured lines: what the bus delivers meanwhile waits here, in order.
	hold *[]*comet.Message

	hangupGrace atomic.Int64 // nanos; 0: a hung-up session gets the hub's Grace like any other

	stale atomic.Uint32 // staleBacklog | staleDropped; changed under mu, read without
	fresh atomic.Uint32 // pending Fresh reasons | freshRunning (tasks.go)
}

// A stream whose socket is full marks its session backlogged: droppable
// messages are then dropped rather than queued behind the backlog, and once
// it drains the application is asked for a keyframe, which what follows
// builds on.
const (
	staleBacklog = 1 << iota // the attached stream has bytes the socket did not take
	staleDropped             // droppable messages were dropped: drop the rest until a keyframe
)

var _ comet.Sink = (*Session)(nil)

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// User returns the grouping key the session was created with.
func (s *Session) User() string { return s.user }

// State returns the application's per-session state given to NewSession.
func (s *Session) State() any { return s.state }

// Send numbers m for this session, buffers it for replay and wakes the
// attached downstream. A session that has ended drops it, and so does the
// application's filter for a comet.Filtered message.
func (s *Session) Send(m *comet.Message) { s.send(m, false) }

// deliver is Send for RestoreCaptured's merge: it numbers m even while the
// session holds what the bus delivers.
func (s *Session) deliver(m *comet.Message) { s.send(m, true) }

func (s *Session) send(m *comet.Message, merging bool) {
	if m.Flags&comet.Filtered != 0 && s.hub.cfg.Filter != nil && !s.hub.cfg.Filter(s, m) {
		return
	}
	if m.Flags&(comet.Droppable|comet.Keyframe) != 0 && s.dropStale(m) {
		return
	}
	s.queueAs(m, merging)
}

// queue numbers m, buffers it and wakes the attached downstream; an ended
// session drops it, a session being restored holds it (RestoreCaptured).
func (s *Session) queue(m *comet.Message) { s.queueAs(m, false) }

func (s *Session) queueAs(m *comet.Message, merging bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if s.hold != nil && !merging {
		*s.hold = append(*s.hold, m)
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

// dropStale reports whether m is a droppable message a backlogged session
// must not queue; a keyframe ends the dropping.
func (s *Session) dropStale(m *comet.Message) bool {
	if m.Flags&comet.Keyframe != 0 {
		for {
			v := s.stale.Load()
			if v&staleDropped == 0 || s.stale.CompareAndSwap(v, v&^staleDropped) {
				return false
			}
		}
	}
	for {
		v := s.stale.Load()
		if v == 0 {
			return false
		}
		if s.stale.CompareAndSwap(v, v|staleDropped) {
			s.hub.metrics.diffsDropped.Inc()
			return true
		}
	}
}

// setBacklog records whether r, the attached stream, has bytes waiting for
// its socket; a stream that is no longer attached changes nothing. When a
// backlog clears after messages were dropped, a keyframe is requested. The
// caller holds r's lock, so the flag follows the stream's own state.
func (s *Session) setBacklog(r receiver, on bool) {
	s.mu.Lock()
	if s.recv != r || s.ended {
		s.mu.Unlock()
		return
	}
	need := s.setStaleLocked(on)
	s.mu.Unlock()
	if need {
		s.hub.requestFresh(s, FreshKeyframe)
	}
}

// setStaleLocked sets or clears the backlog bit and reports whether a
// keyframe is now due (cleared after drops); s.mu is held.
func (s *Session) setStaleLocked(on bool) (keyframeDue bool) {
	for {
		v := s.stale.Load()
		nv := v | staleBacklog
		if !on {
			nv = v &^ staleBacklog
		}
		if v == nv {
			return false
		}
		if s.stale.CompareAndSwap(v, nv) {
			return !on && nv&staleDropped != 0
		}
	}
}

// Backlogged reports whether the session's stream has bytes its socket has
// not taken (droppable messages are being dropped).
func (s *Session) Backlogged() bool { return s.stale.Load()&staleBacklog != 0 }

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

// attach makes r the session's downstream and returns the cursor r must
// send after, and the receiver r replaces, which the caller stops once it
// holds no lock (a stream's lock must never nest another's). When the
// events after last are no longer all buffered (or last is from the
// future), a sys.reset is queued, the cursor is placed just before it and
// reset is true: the caller then asks for fresh state. A reset already
// buffered after last is resumed from instead, with reset false: its fresh
// state was asked for. A new downstream starts with no backlog; if
// messages were dropped for the old one, a keyframe is requested.
func (s *Session) attach(r receiver, last uint64) (cursor uint64, reset bool, old receiver, ok bool) {
	s.mu.Lock()
	if s.ended || s.hub.draining.Load() { // Drain sets it, then stops receivers under s.mu
		s.mu.Unlock()
		return 0, false, nil, false
	}
	old = s.recv
	s.recv = r
	if s.detached != 0 {
		s.detached = 0
		s.hub.attached(s)
	}
	keyframe := s.setStaleLocked(false)
	cursor, reset = s.resumeLocked(last)
	// The client has everything up to last: those events need no replay.
	s.ring.release(min(last, cursor))
	s.mu.Unlock()
	if old == r {
		old = nil
	}
	if old != nil {
		endFor(old, EndReplaced)
	}
	if keyframe && !reset {
		s.hub.requestFresh(s, FreshKeyframe)
	}
	return cursor, reset, old, true
}

// resumeLocked decides where a receiver that has seen last continues.
func (s *Session) resumeLocked(last uint64) (cursor uint64, reset bool) {
	lost := last > s.seq || (last < s.seq && last+1 < s.ring.oldest()) || (last < s.seq && s.ring.n == 0)
	if !lost {
		return last, false
	}
	if last < s.seq {
		return s.lostLocked(last)
	}
	// A cursor from the future (another server, a client bug): the reset
	// must still come after it, or a client that drops seq <= last would
	// drop it and the fresh state with it. The numbering jumps to last,
	// and nothing before it is kept.
	s.ring.release(s.seq)
	s.seq = last
	s.seq++
	s.ring.push(event{seq: s.seq, msg: msgReset})
	return s.seq - 1, true
}

// lostLocked is where a receiver whose events after cursor left the buffer
// goes on; s.mu is held. A reset queued for an earlier downstream (a stream
// that fell behind, a poll whose answer was lost) and still buffered is
// resumed from: its fresh state was requested. While a fresh-state call
// runs, a new reset is owed instead (tasks.go queues it before the next
// call) and the receiver waits for it at cursor: queued now, it would be
// followed by the rest of the running call's output (or its room resync)
// and only then by its own fresh state, out of order. reset reports that
// fresh state must be requested (a reset queued or newly owed).
func (s *Session) lostLocked(cursor uint64) (next uint64, reset bool) {
	if at := s.ring.newestReset(); at > cursor {
		return at - 1, false
	}
	if owed, first := s.oweReset(); owed {
		return cursor, first
	}
	s.seq++
	s.ring.push(event{seq: s.seq, msg: msgReset})
	return s.seq - 1, true
}

// SetHangupGrace sets how long the session lives unattached when its last
// receiver went because the peer hung up (closed its connection: a closed
// tab), when d is shorter than the hub's Grace; a receiver cut for any other
// reason (a write that stalled, a poll that ended) still gets the Grace.
// 0 restores the Grace for hang-ups too.
func (s *Session) SetHangupGrace(d time.Duration) { s.hangupGrace.Store(int64(d)) }

// detach removes r if it is still the attached receiver and starts the grace
// period after which an unattached session expires. Its backlog goes with it.
func (s *Session) detach(r receiver) { s.detachAs(r, false) }

// detachAs is detach; hungUp tells that the peer hung up.
func (s *Session) detachAs(r receiver, hungUp bool) {
	s.mu.Lock()
	if s.recv == r {
		s.recv = nil
		s.hungUp = hungUp
		s.detached = time.Now().UnixNano()
		s.hub.detachedNow(s)
		s.setStaleLocked(false) // a keyframe, if due, is asked for on the next attach
	}
	s.mu.Unlock()
}

// collect appends the events after cursor (at most about maxBytes) to dst.
// When the replay buffer has already dropped some of them (a consumer too
// slow for its events), it goes on from a sys.reset still buffered or, for
// the attached receiver, queues one and returns reset=true with the cursor
// moved to just before it (a replaced receiver gets nothing). more reports
// events left after the batch (it was capped), so a writer need not lock
// again to ask. Events up to trimTo (written ReplayKeepFor ago) beyond the
// newest ReplayKeep leave the buffer here, but only for r, the attached
// receiver: a replaced stream still writing its last batch must not trim
// what its successor resumes from.
func (s *Session) collect(r receiver, dst []event, cursor, trimTo uint64, maxBytes int) (evs []event, next uint64, reset, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recv == r && trimTo > 0 {
		s.ring.trimWritten(min(trimTo, cursor), s.hub.cfg.ReplayKeep)
	}
	if cursor < s.seq && cursor+1 < s.ring.oldest() {
		if s.recv != r && s.ring.newestReset() <= cursor {
			// Replaced: its successor resumes by itself. A reset queued
			// here would reach the successor too, with a second fresh
			// state interleaving the first.
			return dst, cursor, false, false
		}
		if cursor, reset = s.lostLocked(cursor); cursor+1 < s.ring.oldest() {
			return dst, cursor, reset, false // waits for the owed reset
		}
	}
	evs = s.ring.after(dst, cursor, maxBytes)
	more = len(evs) > 0 && s.seq > evs[len(evs)-1].seq
	return evs, cursor, reset, more
}

// release drops buffered events up to seq upTo from the replay buffer, if
// r (which wrote them) is still the attached receiver.
func (s *Session) release(r receiver, upTo uint64) {
	s.mu.Lock()
	if s.recv == r {
		s.ring.release(upTo)
	}
	s.mu.Unlock()
}

// UpstreamWindow is how many client seqs below the highest one taken a
// session remembers exactly. One POST in flight (at most 64 events) always
// resends within it, so a retry is recognised seq by seq.
const UpstreamWindow = 64

// Upstream is what a session makes of a client event's seq.
type Upstream uint8

const (
	// UpstreamNew: never taken; it is taken now and must run.
	UpstreamNew Upstream = iota
	// UpstreamDuplicate: taken before; ignore it.
	UpstreamDuplicate
	// UpstreamTooOld: more than UpstreamWindow below the highest seq taken;
	// whether it was taken is no longer known, so it is refused.
	UpstreamTooOld
)

// TakeUpstreamSeq de-duplicates client seqs exactly within UpstreamWindow
// below the highest taken: a seq in it that was never taken is new even if
// it comes after higher ones (two POSTs overtaking each other).
func (s *Session) TakeUpstreamSeq(seq uint64) Upstream {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case seq > s.upMax:
		// Bit i of upMissing is seq upMax-1-i, not taken. Moving upMax up
		// by shift moves every bit up by shift; the seqs skipped over are
		// missing, the old upMax was taken.
		// (Go's shifts past 63 give 0, so a jump of 65 or more marks all.)
		shift := seq - s.upMax
		s.upMissing = s.upMissing<<shift | (uint64(1)<<(shift-1) - 1)
		s.upMax = seq
		return UpstreamNew
	case seq == s.upMax:
		return UpstreamDuplicate
	case s.upMax-seq <= UpstreamWindow:
		bit := uint64(1) << (s.upMax - 1 - seq)
		if s.upMissing&bit == 0 {
			return UpstreamDuplicate
		}
		s.upMissing &^= bit
		return UpstreamNew
	default:
		return UpstreamTooOld
	}
}

// TakeUpstream reports whether the client event numbered seq is new, and
// records it (TakeUpstreamSeq, with a seq too old counted as not new).
func (s *Session) TakeUpstream(seq uint64) bool { return s.TakeUpstreamSeq(seq) == UpstreamNew }

// Subscribe adds the session to a bus topic (once). A session that has
// ended is not subscribed.
func (s *Session) Subscribe(topic string) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.mu.Lock()
	skip := s.ended || s.subIndex(topic) >= 0
	s.mu.Unlock()
	if skip {
		return
	}
	sub := s.hub.bus.Subscribe(topic, s)
	s.mu.Lock()
	if s.ended { // ended meanwhile: end closed the subscriptions it saw, not this one
		s.mu.Unlock()
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
	s.subMu.Lock()
	defer s.subMu.Unlock()
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

// Seq is the seq of the newest event the session numbered.
func (s *Session) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// Topics lists the session's subscriptions.
func (s *Session) Topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, sub.Topic())
	}
	return out
}

// Ended reports whether the session has ended (expired or removed).
func (s *Session) Ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// end closes the session: no more events, subscriptions closed, receiver
// stopped. It reports whether this call ended it.
func (s *Session) end() bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	subs := s.endLocked()
	r := s.recv
	s.recv = nil
	s.mu.Unlock()
	if r != nil {
		why := EndEnded
		if s.hub.closing.Load() {
			why = EndShutdown
		}
		endFor(r, why)
	}
	s.closeAll(subs, r)
	return true
}

// endIfExpired ends the session if it has had no receiver for longer than
// grace, checking and ending in one step: a receiver attaching meanwhile
// either comes first (no expiry) or finds the session ended.
func (s *Session) endIfExpired(now time.Time, grace time.Duration) bool {
	s.mu.Lock()
	if hg := time.Duration(s.hangupGrace.Load()); s.hungUp && hg > 0 {
		grace = min(grace, hg)
	}
	if s.ended || s.recv != nil || s.detached == 0 || now.UnixNano()-s.detached <= grace.Nanoseconds() {
		s.mu.Unlock()
		return false
	}
	subs := s.endLocked()
	s.mu.Unlock()
	s.closeAll(subs, nil)
	return true
}

// endLocked marks the session ended and takes its subscriptions; s.mu is held.
func (s *Session) endLocked() []comet.Subscription {
	s.ended = true
	subs := s.subs
	s.subs = nil
	if s.detached != 0 {
		s.detached = 0
		s.hub.attached(s) // out of the reaper's set: nothing is left to expire
	}
	return subs
}

func (s *Session) closeAll(subs []comet.Subscription, r receiver) {
	for _, sub := range subs {
		sub.Close()
	}
	if r != nil {
		r.stop()
	}
}

var msgReset = comet.MustMessage("sys.reset", struct{}{})

// Stats is a snapshot of a session's state, for tools and tests.
type Stats struct {
	Seq        uint64 // the newest event's seq
	Buffered   int    // events in the replay buffer
	Attached   bool   // a downstream is attached
	Backlogged bool   // its stream has bytes the socket did not take
}

// Stats returns a snapshot of the session's state.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Seq: s.seq, Buffered: int(s.ring.n), Attached: s.recv != nil, Backlogged: s.Backlogged()}
}

// Buffered returns the messages in the replay buffer, oldest first.
func (s *Session) Buffered() []*comet.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := s.ring.after(nil, 0, 1<<30)
	out := make([]*comet.Message, len(evs))
	for i, e := range evs {
		out[i] = e.msg
	}
	return out
}
