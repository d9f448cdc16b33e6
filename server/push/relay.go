package push

import (
	"errors"
	"fmt"
	"sync"

	"comet"
)

// Relay is a session's downstream when the stream is held by another node:
// the session numbers and buffers its events as for any stream, and the
// relay hands them, in order and with their seqs, to whoever carries them
// to that node. It costs no goroutine: the session calls Wake's function when
// events are added, and the carrier collects them with Next on its own time.
type Relay struct {
	s      *Session
	onWake func(*Relay)
	onStop func(*Relay)

	mu     sync.Mutex
	sent   uint64 // the newest seq handed to Next's caller: the far end has up to it
	cursor uint64 // where the next collect starts (below a queued sys.reset, it is not sent)
	done   bool
}

// Relay attaches a relay to the session in place of its downstream (a stream
// attached here is ended as replaced), resuming after last as a stream
// would: when last is no longer buffered a sys.reset is queued and fresh
// state requested. onWake is called, without locks, when events are added;
// onStop once, when the relay is replaced or the session ends.
func (s *Session) Relay(last uint64, onWake, onStop func(*Relay)) (*Relay, error) {
	r := &Relay{s: s, onWake: onWake, onStop: onStop, sent: last}
	r.mu.Lock()
	cursor, reset, old, ok := s.attach(r, last)
	r.cursor = cursor
	r.mu.Unlock()
	if old != nil {
		old.stop()
	}
	if !ok {
		if s.hub.Draining() {
			return nil, ErrDraining
		}
		return nil, ErrSessionEnded
	}
	if reset {
		s.hub.requestFresh(s, FreshReset)
	}
	r.wake()
	return r, nil
}

// Session returns the relayed session.
func (r *Relay) Session() *Session { return r.s }

func (r *Relay) wake() { r.onWake(r) }

func (r *Relay) stop() {
	r.mu.Lock()
	done := r.done
	r.done = true
	r.mu.Unlock()
	if !done {
		r.onStop(r)
	}
}

// Stop detaches the relay (the far end went away): the session's grace
// period starts as when a stream ends.
func (r *Relay) Stop() {
	r.s.detach(r)
	r.stop()
}

// Next returns the events after those already handed out, at most about
// maxBytes of frames, with prev, the seq the far end already has; the first
// event is prev+1, or a sys.reset numbered above it when the replay buffer
// no longer had prev+1. more reports events left. A stopped relay returns
// nothing.
func (r *Relay) Next(maxBytes int) (prev uint64, evs []SavedEvent, more bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return r.sent, nil, false
	}
	got, _, _, more := r.s.collect(r, nil, r.cursor, 0, maxBytes)
	prev = r.sent
	for _, e := range got {
		evs = append(evs, SavedEvent{Seq: e.seq, Type: e.msg.Type, Frame: e.msg.Frame, Flags: e.msg.Flags})
	}
	if len(evs) > 0 {
		r.sent = evs[len(evs)-1].Seq
		r.cursor = r.sent
	}
	return prev, evs, more
}

// ErrMirrorGap is returned by Mirror when relayed events do not follow what
// the mirror has: a batch was lost on the way, so the stream must resume
// from the home again.
var ErrMirrorGap = errors.New("relayed events do not follow the mirror's")

// Mirror appends events relayed from the session's home to this session,
// a mirror of it held here: prev is the seq the home believes this mirror
// has, and each event keeps its home seq (only a sys.reset may jump). The
// attached stream is woken. Events that do not follow are refused whole
// with ErrMirrorGap.
func (s *Session) Mirror(prev uint64, evs []SavedEvent) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return ErrSessionEnded
	}
	if prev != s.seq {
		s.mu.Unlock()
		return fmt.Errorf("%w: home sent after %d, mirror has %d", ErrMirrorGap, prev, s.seq)
	}
	at := s.seq
	for _, e := range evs {
		if e.Seq <= at || (e.Seq != at+1 && e.Type != msgReset.Type) || len(e.Frame) == 0 {
			s.mu.Unlock()
			return fmt.Errorf("%w: event %d after %d", ErrMirrorGap, e.Seq, at)
		}
		at = e.Seq
	}
	for _, e := range evs {
		s.seq = e.Seq
		s.ring.push(event{seq: e.Seq, msg: &comet.Message{Type: e.Type, Frame: e.Frame, Flags: e.Flags}})
	}
	r := s.recv
	s.mu.Unlock()
	if r != nil && len(evs) > 0 {
		r.wake()
	}
	return nil
}
