package push

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stream is a downstream taken out of net/http after its headers: no goroutine
// and no bufio buffers are held while it is idle. The writer pool writes it
// when its session has events, a heartbeat is due, or it must end.
//
// Writes never block a writer: bytes the socket cannot take yet wait in pend,
// the poller says when it can take more, and a stream that makes no progress
// for WriteTimeout is cut. Other streams are never delayed by a slow one.
//
// Lock order (locksordering.txt): stream.mu may be held while taking
// Session.mu (collect, setBacklog), never the reverse; the session calls
// wake/stop without its lock.
type stream struct {
	hub     *Hub
	sess    *Session
	t       Transport
	conn    net.Conn // the hijacked connection until the pool detaches its descriptor
	fd      int32    // the socket the stream owns once detached; -1: writes go to conn, blocking under a deadline
	release func()   // frees the per-address stream slot
	started int64    // unix nanos
	slot    int32    // the stream's index in the pool's registry
	gen     uint32   // tells a reused slot's poller events apart
	chunked bool

	lastWrite atomic.Int64  // unix nanos, read by the sweeper
	endWhy    atomic.Uint32 // EndReason set by whoever stops the stream (first wins); unset: shutdown
	goingAway atomic.Bool   // a WebSocket client closed with 1001 going away: a hang-up

	mu         sync.Mutex
	marks             // the cursor and its marks (a mux keeps one per session instead)
	written    int    // event bytes written, for recycling
	pend       []byte // bytes the socket has not taken yet
	pendAt     int64  // unix nanos of the last progress while pend is non-empty
	queued     bool   // in the writer queue
	writing    bool   // a writer is on it now
	reading    bool   // a task worker is reading it now (WebSocket)
	readQueued bool   // the poller queued a read: the read re-arms it
	again      bool   // work arrived while writing
	awaitOut   bool   // pend is waiting for the poller to report room
	hbDue      bool
	ending     bool // write the end marker and close
	endQueued  bool // the end marker is in pend: close once it is out
	closed     bool
	shutLater  bool // closed while a writer was on it: the writer shuts the socket
	shutClean  bool
}

// marks is where a downstream stands in one session's events: the cursor
// and the marks that decide what may leave the replay buffer; under the
// stream's lock.
type marks struct {
	cursor uint64 // seq of the last event written (or pending)

	// Written events may be trimmed to ReplayKeep only once they were
	// written ReplayKeepFor ago: a client that cuts its stream with events
	// in flight resumes from what it read, which may be far behind what was
	// written. markSeq was the cursor at markAt; safeSeq the mark before it.
	markSeq, safeSeq uint64
	markAt           int64

	// Events written more than ReleaseAfter ago leave the replay buffer: a
	// client cut off reconnects within seconds, so only a live stream's
	// recent past is worth keeping. The sweeper notes the cursor (relSeq)
	// and, ReleaseAfter later, releases up to it.
	relSeq   uint64
	relSince int64 // unix nanos; 0: nothing noted
}

// wake queues the stream for a flush; called by the session on new events.
func (st *stream) wake() { st.hub.writers.schedule(st, markNone) }

// stop ends the stream cleanly: a newer downstream replaced it or the session ended.
func (st *stream) stop() { st.hub.writers.schedule(st, markEnding) }

// endFor records why r is about to be stopped, for its end frame; the first
// reason given wins. Receivers other than held streams have no end frame.
func endFor(r receiver, why EndReason) {
	switch r := r.(type) {
	case *stream:
		r.endWhy.CompareAndSwap(uint32(endUnset), uint32(why))
	case *muxMember:
		r.why.CompareAndSwap(uint32(endUnset), uint32(why))
	}
}

func markNone(*stream)      {}
func markEnding(st *stream) { st.ending = true }
func markHeartbeat(st *stream) {
	st.hbDue = true
}

// flush writes what is due: bytes left pending, then pending events in one
// batch (one write), a heartbeat if the stream was silent, the end marker
// when it must end. It runs on one writer goroutine at a time per stream.
func (st *stream) flush(w *writerScratch) {
	st.mu.Lock()
	ending, hb, cursor := st.ending, st.hbDue, st.cursor
	st.hbDue = false
	trimTo := st.keepMark(cursor, time.Now().UnixNano())
	stalled := st.awaitOut
	st.mu.Unlock()
	if stalled {
		if ending { // replaced or ended while stuck: nothing more can go out
			st.close(nil)
		}
		return
	}
	if !st.sendPending(w) {
		return
	}

	buf := append(w.buf[:0], make([]byte, chunkReserve)...)
	body := chunkReserve
	ws := st.wsOf()
	if ws != nil { // pongs go out before the batch
		st.mu.Lock()
		buf = append(buf, ws.takeCtrl(st.reading)...)
		st.mu.Unlock()
	}
	var last uint64
	var more bool
	mx := st.muxOf()
	if mx != nil { // several sessions, each framed with its sid
		buf, more = mx.collect(st, w, buf, min(batchBytes, st.hub.cfg.RecycleBytes-st.written), hb && !ending)
	} else { // an ending stream still writes what is queued (a kick's reason, a restart notice)
		var reset bool
		// Keep within the recycle budget so a stream ends near it, not a
		// whole batch past it (collect always takes at least one event).
		budget := batchBytes
		if ws == nil { // a WebSocket is never recycled
			budget = min(budget, st.hub.cfg.RecycleBytes-st.written)
		}
		w.evs, cursor, reset, more = st.sess.collect(st, w.evs[:0], cursor, trimTo, budget)
		if reset {
			st.hub.requestFresh(st.sess, FreshReset)
		}
		if len(w.evs) > 0 {
			buf = st.t.appendBatch(buf, w.evs)
			last = w.evs[len(w.evs)-1].seq
		} else if hb && !ending {
			buf = st.t.appendBatch(buf, nil)
			st.hub.metrics.heartbeats.Inc()
		}
	}
	eventBytes := len(buf) - body
	recycle := !ending && ws == nil && (st.written+eventBytes >= st.hub.cfg.RecycleBytes || time.Now().UnixNano()-st.started >= st.hub.cfg.RecycleAge.Nanoseconds())
	if ending || recycle {
		why := EndReason(st.endWhy.Load())
		if recycle {
			why = EndRecycle
		}
		if ws != nil { // its close code is state a reader may be taking (st.mu)
			st.mu.Lock()
			buf = st.t.appendEnd(buf, why)
			st.mu.Unlock()
		} else {
			buf = st.t.appendEnd(buf, why)
		}
	}
	buf = slices.Grow(buf, 2) // the chunk's CRLF, so write appends it in place
	w.buf = buf
	done := true
	if len(buf) > body {
		var err error
		if done, err = st.write(w, buf, body); err != nil {
			st.close(err)
			return
		}
	}
	if (ending || recycle) && done {
		if recycle {
			st.hub.metrics.recycled.Inc()
		}
		st.close(nil)
		return
	}
	st.mu.Lock()
	if mx != nil {
		if mx.commit(w) && !ending && !recycle { // every session left: end the stream
			st.ending, more = true, true
			st.endWhy.CompareAndSwap(uint32(endUnset), uint32(EndReplaced))
		}
	} else if last > 0 {
		st.cursor = last
		w.delivered += len(w.evs)
	}
	st.written += eventBytes
	if ending || recycle { // the end marker is pending: close once it is out
		st.endQueued = true
	}
	st.mu.Unlock()
	// More was waiting (the batch was capped at batchBytes); events that
	// arrive after collect wake the stream themselves.
	if done && more {
		st.wake()
	}
}

// keepMark returns the newest seq written at least ReplayKeepFor ago (as
// far as the stream's marks tell), moving the marks on; st.mu is held.
func (st *stream) keepMark(cursor uint64, now int64) uint64 {
	return st.marks.keepMark(cursor, now, st.hub.cfg.ReplayKeepFor)
}

// keepMark returns the newest seq written at least keepFor ago, moving the
// marks on; the stream's lock is held.
func (m *marks) keepMark(cursor uint64, now int64, keepFor time.Duration) uint64 {
	if now-m.markAt >= keepFor.Nanoseconds() {
		m.safeSeq, m.markSeq, m.markAt = m.markSeq, cursor, now
	}
	return m.safeSeq
}

// batchBytes caps one write so one backlogged stream cannot hog a writer.
const batchBytes = 64 << 10

// write sends buf[body:] as one chunk (or raw bytes for an HTTP/1.0 peer).
// The chunk header goes into the chunkReserve bytes kept free before body,
// so the payload is never copied. done is false when part of it is pending.
func (st *stream) write(w *writerScratch, buf []byte, body int) (done bool, err error) {
	out := buf[body:]
	if st.chunked {
		var hdr [chunkReserve]byte
		h := strconv.AppendInt(hdr[:0], int64(len(buf)-body), 16)
		h = append(h, '\r', '\n')
		start := body - len(h)
		copy(buf[start:], h)
		out = append(buf[start:], '\r', '\n')
	}
	if st.fd < 0 {
		return true, st.writeBlocking(out)
	}
	n, err := writeFD(int(st.fd), out)
	st.noteWritten(n)
	w.bytes += n
	if err != nil {
		return false, err
	}
	if n == len(out) {
		return true, nil
	}
	st.mu.Lock()
	if st.closed { // hung up while we wrote: nothing left to wait for
		st.mu.Unlock()
		return false, nil
	}
	st.pend = append(st.pend[:0], out[n:]...)
	st.pendAt = time.Now().UnixNano()
	st.setBacklog(true) // under st.mu: a close cannot slip in between
	st.mu.Unlock()
	if testHookPending != nil {
		testHookPending(st)
	}
	st.hub.writers.markStalled(st, true)
	return false, st.awaitRoom()
}

// sendPending writes the bytes left over from an earlier flush; it reports
// whether they are all out, so the flush can go on with new events.
func (st *stream) sendPending(w *writerScratch) bool {
	st.mu.Lock()
	pend := st.pend
	st.mu.Unlock()
	if len(pend) == 0 {
		return true
	}
	n, err := writeFD(int(st.fd), pend)
	st.noteWritten(n)
	w.bytes += n
	if err != nil {
		st.close(err)
		return false
	}
	st.mu.Lock()
	if n > 0 {
		st.pendAt = time.Now().UnixNano()
	}
	if n < len(pend) {
		st.pend = append(st.pend[:0], pend[n:]...)
		st.mu.Unlock()
		if err := st.awaitRoom(); err != nil {
			st.close(err)
		}
		return false
	}
	st.pend = nil // a slow spell's buffer is not kept
	endOut := st.endQueued
	st.setBacklog(false)
	st.mu.Unlock()
	st.hub.writers.markStalled(st, false)
	if endOut {
		st.close(nil)
		return false
	}
	return true
}

// awaitRoom asks the poller to report when the socket can take bytes again;
// until then wakes do not queue the stream.
func (st *stream) awaitRoom() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.awaitOut = true
	return st.hub.writers.poll.armWrite(st)
}

func (st *stream) noteWritten(n int) {
	if n > 0 {
		st.lastWrite.Store(time.Now().UnixNano())
	}
}

// writeBlocking is the path for connections the poller cannot watch: a
// plain write under a deadline, which a slow client holds for up to WriteTimeout.
func (st *stream) writeBlocking(out []byte) error {
	if err := st.conn.SetWriteDeadline(time.Now().Add(st.hub.cfg.WriteTimeout)); err != nil {
		return err
	}
	n, err := st.conn.Write(out)
	st.noteWritten(n)
	st.hub.metrics.bytesOut.Add(float64(n))
	return err
}

// chunkReserve is room for a chunk-size line: 6 hex digits and CRLF cover any
// batch (capped at batchBytes plus one event).
const chunkReserve = 8

// close tears the stream down; err is nil for a clean end. The socket is
// shut at once, or by the writer on it when one is (so a descriptor is
// never closed, and perhaps reused, under a write).
func (st *stream) close(err error) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed = true
	clean := err == nil && len(st.pend) == 0 && !st.awaitOut
	st.pend = nil
	later := st.writing || st.reading
	st.shutLater, st.shutClean = later, clean
	st.mu.Unlock()
	if err != nil {
		var ne net.Error
		if errors.Is(err, errNoProgress) || errors.As(err, &ne) && ne.Timeout() {
			st.hub.metrics.slowCut.Inc()
		}
		st.hub.log.Debug("stream closed", "sid", st.sid(), "transport", st.t.name(), "err", err)
	}
	if !later {
		st.shut(clean)
	}
	if st.release != nil {
		st.release()
	}
	// clears the session's backlog if st still had it
	st.detach(peerHungUp(err) || st.goingAway.Load())
	st.hub.writers.remove(st)
}

// peerHungUp reports whether a stream's end error means the client closed
// its connection (a closed tab) rather than went silent.
func peerHungUp(err error) bool {
	return errors.Is(err, errPeerGone) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// shut ends the HTTP body (the last chunk, on a clean end) and closes the socket.
func (st *stream) shut(clean bool) {
	end := []byte("0\r\n\r\n")
	if st.fd >= 0 {
		if st.chunked && clean {
			_, _ = writeFD(int(st.fd), end) // best effort: never wait
		}
		closeFD(int(st.fd))
		return
	}
	if st.chunked && clean {
		_ = st.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = st.conn.Write(end)
	}
	_ = st.conn.Close()
}

// testHookPending, when set by a test, runs after a write left bytes pending
// and the stream's lock was released: the moment a hang-up can race it.
var testHookPending func(*stream)

var (
	errPeerGone   = errors.New("peer closed the connection")
	errNoProgress = errors.New("slow consumer: no bytes taken within the write timeout")
)

// noteRelease moves the stream's release window: events up to the cursor
// noted ReleaseAfter ago are dropped from the session's replay buffer.
func (st *stream) noteRelease(now int64, after time.Duration) {
	if mx := st.muxOf(); mx != nil {
		mx.noteRelease(st, now, after)
		return
	}
	st.mu.Lock()
	seq, due := st.marks.noteRelease(now, after)
	st.mu.Unlock()
	if due {
		st.sess.release(st, seq)
	}
}

// noteRelease moves the release window on and reports the seq to release
// up to when one is due; the stream's lock is held.
func (m *marks) noteRelease(now int64, after time.Duration) (seq uint64, due bool) {
	cursor, seq, since := m.cursor, m.relSeq, m.relSince
	due = since != 0 && now-since >= after.Nanoseconds()
	switch {
	case due:
		m.relSince = 0
	case since == 0 && cursor > seq:
		m.relSeq, m.relSince = cursor, now
	}
	return seq, due
}

// stalledFor reports how long the stream has had bytes pending without
// progress (0 when nothing is pending), and whether it is closed.
func (st *stream) stalledFor(now int64) (time.Duration, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.pend) == 0 {
		return 0, st.closed
	}
	return time.Duration(now - st.pendAt), st.closed
}
