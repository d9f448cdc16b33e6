package server

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// stream is a downstream taken out of net/http after its headers: no goroutine
// and no bufio buffers are held while it is idle. The writer pool writes it
// when its session has events, a heartbeat is due, or it must end.
//
// Lock order: stream.mu may be held while taking Session.mu (collect), never
// the reverse; the session calls wake/stop without its lock.
type stream struct {
	hub     *Hub
	sess    *Session
	t       transport
	conn    net.Conn
	chunked bool
	started time.Time
	release func() // frees the per-address stream slot

	lastWrite atomic.Int64 // unix nanos, read by the sweeper
	deadline  time.Time    // the conn's write deadline; only the writer touches it

	mu      sync.Mutex
	cursor  uint64 // seq of the last event written
	written int    // event bytes written, for recycling
	queued  bool   // in the writer queue
	writing bool   // a writer is on it now
	again   bool   // work arrived while writing
	hbDue   bool
	ending  bool // write the end marker and close
	closed  bool

	// Events written more than ReleaseAfter ago leave the replay buffer: a
	// client cut off reconnects within seconds, so only a live stream's
	// recent past is worth keeping. The sweeper notes the cursor (relSeq)
	// and, ReleaseAfter later, releases up to it.
	relSeq   uint64
	relSince time.Time
}

// wake queues the stream for a flush; called by the session on new events.
func (st *stream) wake() { st.hub.writers.schedule(st, func(st *stream) {}) }

// stop ends the stream cleanly: a newer downstream replaced it or the session ended.
func (st *stream) stop() { st.hub.writers.schedule(st, func(st *stream) { st.ending = true }) }

// flush writes what is due: pending events in one batch (one write), a
// heartbeat if the stream was silent, the end marker when it must end. It runs
// on one writer goroutine at a time per stream.
func (st *stream) flush(buf []byte, evs []event) ([]byte, []event) {
	st.mu.Lock()
	ending, hb, cursor := st.ending, st.hbDue, st.cursor
	st.hbDue = false
	st.mu.Unlock()

	buf = append(buf[:0], make([]byte, chunkReserve)...)
	body := chunkReserve
	var last uint64
	{ // an ending stream still writes what is queued (a kick's reason, a restart notice)
		var reset bool
		// Keep within the recycle budget so a stream ends near it, not a
		// whole batch past it (collect always takes at least one event).
		budget := min(batchBytes, st.hub.cfg.RecycleBytes-st.written)
		evs, cursor, reset = st.sess.collect(evs[:0], cursor, budget)
		if reset {
			st.hub.resync(st.sess)
		}
		if len(evs) > 0 {
			buf = st.t.appendBatch(buf, evs)
			last = evs[len(evs)-1].seq
		} else if hb && !ending {
			buf = st.t.appendBatch(buf, nil)
			st.hub.metrics.heartbeats.Inc()
		}
	}
	eventBytes := len(buf) - body
	recycle := !ending && (st.written+eventBytes >= st.hub.cfg.RecycleBytes || time.Since(st.started) >= st.hub.cfg.RecycleAge)
	if ending || recycle {
		buf = st.t.appendEnd(buf)
	}
	if len(buf) > body {
		if err := st.write(buf, body); err != nil {
			st.close(err)
			return buf, evs
		}
	}
	if ending || recycle {
		if recycle {
			st.hub.metrics.recycled.Inc()
		}
		st.close(nil)
		return buf, evs
	}
	st.mu.Lock()
	if last > 0 {
		st.cursor = last
		st.hub.metrics.delivered.Add(float64(len(evs)))
	}
	st.written += eventBytes
	st.mu.Unlock()
	// More may be waiting (the batch was capped at batchBytes).
	if last > 0 && st.sess.pending(last) {
		st.wake()
	}
	return buf, evs
}

// batchBytes caps one write so one backlogged stream cannot hog a writer.
const batchBytes = 64 << 10

// write sends buf[body:] as one chunk (or raw bytes for an HTTP/1.0 peer)
// under a write deadline. The chunk header goes into the chunkReserve bytes
// kept free before body, so the payload is never copied again.
func (st *stream) write(buf []byte, body int) error {
	out := buf[body:]
	if st.chunked {
		var hdr [chunkReserve]byte
		h := strconv.AppendInt(hdr[:0], int64(len(buf)-body), 16)
		h = append(h, '\r', '\n')
		start := body - len(h)
		copy(buf[start:], h)
		out = append(buf[start:], '\r', '\n')
	}
	// Re-arming the deadline costs a syscall-sized share of a small write;
	// do it only once half of it is spent (a write gets 1/2 to 1 WriteTimeout).
	if now := time.Now(); st.deadline.Sub(now) < st.hub.cfg.WriteTimeout/2 {
		st.deadline = now.Add(st.hub.cfg.WriteTimeout)
		if err := st.conn.SetWriteDeadline(st.deadline); err != nil {
			return err
		}
	}
	n, err := st.conn.Write(out)
	st.hub.metrics.bytesOut.Add(float64(n))
	st.lastWrite.Store(time.Now().UnixNano())
	return err
}

// chunkReserve is room for a chunk-size line: 6 hex digits and CRLF cover any
// batch (capped at batchBytes plus one event).
const chunkReserve = 8

// close tears the stream down; err is nil for a clean end.
func (st *stream) close(err error) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed = true
	st.mu.Unlock()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			st.hub.metrics.slowCut.Inc()
		}
		st.hub.log.Debug("stream closed", "sid", st.sess.id, "transport", st.t.name(), "err", err)
	}
	if st.chunked && err == nil {
		_ = st.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = st.conn.Write([]byte("0\r\n\r\n"))
	}
	_ = st.conn.Close()
	if st.release != nil {
		st.release()
	}
	st.sess.detach(st)
	st.hub.writers.remove(st)
}

// writerPool flushes streams on a few goroutines. Streams are queued at most
// once; a sweeper marks heartbeats and recycling and finds dead peers.
type writerPool struct {
	hub *Hub

	mu      sync.Mutex
	cond    *sync.Cond // writers wait here for work
	idleC   *sync.Cond // drain waits here for writers to go idle
	queue   []*stream
	streams map[*stream]struct{}
	closing bool
	idle    int
}

func (p *writerPool) init(h *Hub) {
	p.hub = h
	p.cond = sync.NewCond(&p.mu)
	p.idleC = sync.NewCond(&p.mu)
	p.streams = make(map[*stream]struct{})
}

func (p *writerPool) start(ctx context.Context, wg *sync.WaitGroup, n int) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); p.work() }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); p.sweep(ctx) }()
	go func() {
		<-ctx.Done()
		p.mu.Lock()
		p.closing = true
		p.cond.Broadcast()
		p.idleC.Broadcast()
		p.mu.Unlock()
	}()
}

// register makes a new stream known to the sweeper (heartbeats, recycling,
// dead peers) and to shutdown.
func (p *writerPool) register(st *stream) {
	p.mu.Lock()
	p.streams[st] = struct{}{}
	p.mu.Unlock()
	p.hub.metrics.streams.WithLabelValues(st.t.name()).Inc()
}

func (p *writerPool) remove(st *stream) {
	p.mu.Lock()
	_, ok := p.streams[st]
	delete(p.streams, st)
	p.mu.Unlock()
	if ok {
		p.hub.metrics.streams.WithLabelValues(st.t.name()).Dec()
	}
}

// schedule applies mark to the stream under its lock and queues it once.
func (p *writerPool) schedule(st *stream, mark func(*stream)) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	mark(st)
	if st.writing {
		st.again = true
		st.mu.Unlock()
		return
	}
	if st.queued {
		st.mu.Unlock()
		return
	}
	st.queued = true
	st.mu.Unlock()

	p.mu.Lock()
	p.queue = append(p.queue, st)
	p.cond.Signal()
	p.mu.Unlock()
}

func (p *writerPool) work() {
	var buf []byte
	var evs []event
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closing {
			p.idle++
			p.idleC.Broadcast()
			p.cond.Wait()
			p.idle--
		}
		if p.closing && len(p.queue) == 0 {
			p.mu.Unlock()
			return
		}
		st := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if len(p.queue) == 0 {
			p.queue = p.queue[:0:0] // let a burst's backing array go
		}
		p.mu.Unlock()

		st.mu.Lock()
		st.queued = false
		if st.closed {
			st.mu.Unlock()
			continue
		}
		st.writing = true
		st.mu.Unlock()

		buf, evs = st.flush(buf, evs)
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a huge buffer after a burst
		}
		clear(evs[:cap(evs)])

		st.mu.Lock()
		st.writing = false
		again := st.again && !st.closed
		st.again = false
		st.mu.Unlock()
		if again {
			p.schedule(st, func(*stream) {})
		}
	}
}

// sweep marks streams due a heartbeat or recycling and closes dead peers.
func (p *writerPool) sweep(ctx context.Context) {
	period := p.hub.cfg.Heartbeat / 4
	if period > time.Second {
		period = time.Second
	}
	t := time.NewTicker(period)
	defer t.Stop()
	var list []*stream
	var lastPeek time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			list = list[:0]
			p.mu.Lock()
			for st := range p.streams {
				list = append(list, st)
			}
			p.mu.Unlock()
			peek := now.Sub(lastPeek) >= 5*time.Second
			if peek {
				lastPeek = now
			}
			hb := p.hub.cfg.Heartbeat.Nanoseconds()
			for _, st := range list {
				switch {
				case now.Sub(st.started) >= p.hub.cfg.RecycleAge:
					p.schedule(st, func(st *stream) {}) // flush notices the age and recycles
				case now.UnixNano()-st.lastWrite.Load() >= hb:
					p.schedule(st, func(st *stream) { st.hbDue = true })
				}
				st.noteRelease(now, p.hub.cfg.ReleaseAfter)
				if peek && peerGone(st.conn) {
					st.close(errPeerGone)
				}
			}
			clear(list)
		}
	}
}

var errPeerGone = errors.New("peer closed the connection")

// noteRelease moves the stream's release window: events up to the cursor
// noted ReleaseAfter ago are dropped from the session's replay buffer.
func (st *stream) noteRelease(now time.Time, after time.Duration) {
	st.mu.Lock()
	cursor, seq, since := st.cursor, st.relSeq, st.relSince
	due := !since.IsZero() && now.Sub(since) >= after
	switch {
	case due:
		st.relSince = time.Time{}
	case since.IsZero() && cursor > seq:
		st.relSeq, st.relSince = cursor, now
	}
	st.mu.Unlock()
	if due {
		st.sess.release(seq)
	}
}

// drain waits until the queue is empty and every writer is idle.
func (p *writerPool) drain(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.idleC.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for (len(p.queue) > 0 || p.idle < p.hub.cfg.Writers) && ctx.Err() == nil && !p.closing {
		p.idleC.Wait()
	}
}

// closeAll ends every stream cleanly (used on shutdown after the last events).
func (p *writerPool) closeAll() {
	p.mu.Lock()
	list := make([]*stream, 0, len(p.streams))
	for st := range p.streams {
		list = append(list, st)
	}
	p.mu.Unlock()
	for _, st := range list {
		st.close(nil)
	}
}
