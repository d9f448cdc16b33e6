package push

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// A mux is one held response carrying several sessions (the tabs of one
// browser share one connection instead of one each). Each session is attached
// to it through its own receiver, a muxMember, which keeps that session's
// cursor and marks; the stream's writer collects every member's events and
// frames each batch with its session id (docs/PROTOCOL.md, "Mux").
//
// A member leaves alone when a newer downstream replaces it or its session
// ends (an end frame for its sid); the stream goes on for the others and ends
// once none is left. A stream-level end (recycle, shutdown), a hang-up or a
// slow socket detaches every member, and the client reopens with each
// session's own last seq.

// MaxMuxSessions caps the sessions one mux stream carries.
const MaxMuxSessions = 32

// MuxSession is one session asked for on a mux, with its resume cursor.
type MuxSession struct {
	Session *Session
	Last    uint64
}

// HoldMux is a mux downstream handed to the core after its request was read.
type HoldMux struct {
	Conn      net.Conn
	Transport string // multipart, sse or iframe
	Header    http.Header
	Chunked   bool
	Sessions  []MuxSession
	// Refused lists the sids the caller may not have (unknown or another
	// user's): each gets an end frame "gone" and nothing else. The caller
	// checks them with ValidSID first.
	Refused []string
	Release func()
}

// ErrMuxTransport is returned for a transport a mux cannot be held on.
var ErrMuxTransport = errors.New("mux needs multipart, sse or iframe")

// muxGone is the per-session end reason of a refused sid.
const muxGone = "gone"

// ValidSID reports whether sid has the shape of a session id (s_ and
// base64url, at most 64 bytes), so it can be echoed in a frame unescaped.
func ValidSID(sid string) bool {
	if len(sid) < 3 || len(sid) > 64 || sid[:2] != "s_" {
		return false
	}
	for i := 2; i < len(sid); i++ {
		c := sid[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// HoldMux writes the response head and prelude, attaches every session of o
// to the one stream (each resuming after its own Last; a sys.reset for one
// whose events are gone) and hands it to the writer pool like Hold. A session
// that ended meanwhile gets its end frame; the others are not harmed.
func (h *Hub) HoldMux(o HoldMux) error {
	t, ok := NewTransport(o.Transport, "mux")
	if !ok {
		if o.Conn != nil {
			_ = o.Conn.Close()
		}
		if o.Release != nil {
			o.Release()
		}
		return ErrMuxTransport
	}
	mx := &muxConn{inner: t}
	for _, sid := range o.Refused {
		mx.gone = append(mx.gone, muxEnd{sid: sid, why: muxGone})
	}
	st, err := h.open(Hold{Conn: o.Conn, Transport: mx, Header: o.Header, Chunked: o.Chunked, Release: o.Release})
	if err != nil {
		return err
	}
	type fresh struct {
		s     *Session
		reset bool
		old   receiver
	}
	after := make([]fresh, 0, len(o.Sessions))
	st.mu.Lock()
	for _, e := range o.Sessions {
		m := &muxMember{st: st, sess: e.Session}
		cursor, reset, old, ok := e.Session.attach(m, e.Last)
		if !ok {
			if h.Draining() {
				break
			}
			mx.gone = append(mx.gone, muxEnd{sid: e.Session.id, why: EndEnded.String()})
			continue
		}
		m.cursor = cursor
		mx.members = append(mx.members, m)
		after = append(after, fresh{e.Session, reset, old})
	}
	mx.attached = true
	st.mu.Unlock()
	for _, f := range after { // no lock held: a stream's lock never nests another's
		if f.old != nil {
			f.old.stop()
		}
		if f.reset {
			h.requestFresh(f.s, FreshReset)
		}
	}
	if h.Draining() {
		st.stop()
		return ErrDraining
	}
	st.wake()
	return nil
}

// muxConn is a mux stream's transport: the framing of the transport it runs
// on, its members, and the end frames it still owes. Its fields are under
// the stream's lock, except scratch, which only the one writer on the stream
// uses.
type muxConn struct {
	inner    Transport
	members  []*muxMember
	gone     []muxEnd // sids to end (refused or ended at attach), written by the next flush
	attached bool     // every asked-for session has been attached (or refused)

	scratch []muxTake
}

// muxEnd is an end frame owed for one sid.
type muxEnd struct {
	sid string
	why string
}

// muxTake is what one flush took from one member: its cursor when the flush
// began, and the seq of the last event it framed (0: none).
type muxTake struct {
	m       *muxMember
	cursor  uint64
	trimTo  uint64
	leaving bool
	last    uint64
	n       int
}

func (mx *muxConn) name() string                    { return mx.inner.name() }
func (mx *muxConn) header(h http.Header)            { mx.inner.header(h) }
func (mx *muxConn) appendPrelude(dst []byte) []byte { return mx.inner.appendPrelude(dst) }

// appendBatch is only ever asked for a heartbeat (evs == nil): the mux frames
// events per session (collect).
func (mx *muxConn) appendBatch(dst []byte, evs []event) []byte {
	return mx.inner.appendBatch(dst, evs)
}
func (mx *muxConn) appendEnd(dst []byte, why EndReason) []byte {
	return mx.inner.appendEnd(dst, why)
}

// muxOf returns the stream's mux, or nil for a stream of one session.
func (st *stream) muxOf() *muxConn {
	mx, _ := st.t.(*muxConn)
	return mx
}

// sid names the stream's session for logs ("mux" for a mux).
func (st *stream) sid() string {
	if st.sess == nil {
		return "mux"
	}
	return st.sess.id
}

// setBacklog marks the stream's sessions backlogged (or not); st.mu is held.
// A slow mux drops and resyncs each of its sessions like a slow stream.
func (st *stream) setBacklog(on bool) {
	if mx := st.muxOf(); mx != nil {
		for _, m := range mx.members {
			m.sess.setBacklog(m, on)
		}
		return
	}
	st.sess.setBacklog(st, on)
}

// detach lets go of the stream's sessions when it closes. A mux ending is
// never a tab's hang-up (the other tabs reopen it), so its sessions get the
// full grace.
func (st *stream) detach(hungUp bool) {
	mx := st.muxOf()
	if mx == nil {
		st.sess.detachAs(st, hungUp)
		return
	}
	st.mu.Lock()
	members := mx.members
	mx.members = nil
	st.mu.Unlock()
	for _, m := range members {
		m.sess.detach(m)
	}
}

// collect frames, into buf, every member's events after its cursor (about
// budget bytes in all) and the end frames owed; hb asks for a heartbeat when
// there is nothing else. more reports events left for another flush.
func (mx *muxConn) collect(st *stream, w *writerScratch, buf []byte, budget int, hb bool) (out []byte, more bool) {
	now := time.Now().UnixNano()
	keepFor := st.hub.cfg.ReplayKeepFor
	takes := mx.scratch[:0]
	st.mu.Lock()
	for _, m := range mx.members {
		t := muxTake{m: m, cursor: m.cursor, leaving: m.leaving}
		t.trimTo = m.keepMark(m.cursor, now, keepFor)
		takes = append(takes, t)
	}
	gone := mx.gone
	mx.gone = nil
	st.mu.Unlock()

	start := len(buf)
	for _, g := range gone {
		buf = mx.appendSessionEnd(buf, g.sid, g.why)
	}
	for i := range takes {
		t := &takes[i]
		left := budget - (len(buf) - start)
		if left <= 0 && !t.leaving {
			more = true
			continue
		}
		evs, cursor, reset, rest := t.m.sess.collect(t.m, w.evs[:0], t.cursor, t.trimTo, max(left, 1))
		if reset {
			st.hub.requestFresh(t.m.sess, FreshReset)
		}
		t.cursor = cursor
		if len(evs) > 0 {
			buf = mx.appendSessionBatch(buf, t.m.sess.id, evs)
			t.last, t.n = evs[len(evs)-1].seq, len(evs)
		}
		clear(evs) // the next member reuses the array: pin no message
		w.evs = evs[:0]
		if t.leaving {
			buf = mx.appendSessionEnd(buf, t.m.sess.id, EndReason(t.m.why.Load()).String())
		} else if rest {
			more = true
		}
	}
	if len(buf) == start && hb {
		buf = mx.inner.appendBatch(buf, nil)
		st.hub.metrics.heartbeats.Inc()
	}
	mx.scratch = takes
	return buf, more
}

// commit moves each member's cursor past what the flush framed and drops the
// members whose end frame went out; st.mu is held. It reports whether no
// member is left, so the stream must end.
func (mx *muxConn) commit(w *writerScratch) (empty bool) {
	for _, t := range mx.scratch {
		if t.last > 0 {
			t.m.cursor = t.last
			w.delivered += t.n
		} else if t.cursor > t.m.cursor {
			t.m.cursor = t.cursor // a reset was queued: its cursor moved
		}
		if t.leaving {
			for i, m := range mx.members {
				if m == t.m {
					mx.members = append(mx.members[:i], mx.members[i+1:]...)
					break
				}
			}
		}
	}
	clear(mx.scratch)
	mx.scratch = mx.scratch[:0]
	return mx.attached && len(mx.members) == 0 && len(mx.gone) == 0
}

// noteRelease moves each member's release window on (the sweeper's visit).
func (mx *muxConn) noteRelease(st *stream, now int64, after time.Duration) {
	type due struct {
		m   *muxMember
		seq uint64
	}
	var dues []due
	st.mu.Lock()
	for _, m := range mx.members {
		if seq, ok := m.noteRelease(now, after); ok {
			dues = append(dues, due{m, seq})
		}
	}
	st.mu.Unlock()
	for _, d := range dues {
		d.m.sess.release(d.m, d.seq)
	}
}

// muxMember is one session's receiver on a mux stream: it wakes the stream,
// and leaves it alone when replaced or ended. Its marks are under the
// stream's lock.
type muxMember struct {
	st   *stream
	sess *Session
	marks
	why     atomic.Uint32 // EndReason given by endFor
	leaving bool          // under st.mu: write the end frame and drop the member
}

func (m *muxMember) wake() { m.st.wake() }

// stop takes the member off its stream, after its end frame. A shutdown or a
// hand-over ends the whole stream instead, as it would a stream of one.
func (m *muxMember) stop() {
	h := m.st.hub
	if h.draining.Load() || h.closing.Load() || EndReason(m.why.Load()) == EndShutdown {
		endFor(m.st, EndShutdown)
		m.st.stop()
		return
	}
	m.why.CompareAndSwap(uint32(endUnset), uint32(EndReplaced))
	h.writers.schedule(m.st, func(*stream) { m.leaving = true })
}
