package push

import (
	"context"
	"runtime"
	"sync"
)

// writerPool flushes streams on a few goroutines. Streams are queued at most
// once; the poller reports dead peers and sockets with room again; a sweeper
// marks heartbeats and recycling and cuts streams that stopped making progress.
type writerPool struct {
	hub  *Hub
	poll poller // nil: writes block under a deadline, peers are probed by the sweeper

	mu      sync.Mutex
	cond    *sync.Cond // writers wait here for work
	idleC   *sync.Cond // drain waits here for writers to go idle
	queue   []*stream  // queue[qhead:] waits; the array is reused between bursts
	qhead   int
	slots   []*stream // registry; a stream keeps its slot for life
	free    []int32   // empty slots
	gen     uint32
	closing bool
	idle    int

	wheel   wheel                // heartbeat and recycle checks, under mu
	stalled map[*stream]struct{} // streams with bytes pending, under mu
}

// writerScratch is one writer goroutine's reusable buffers, and the counts
// it adds to the shared metrics once per batch rather than once per stream.
type writerScratch struct {
	buf       []byte
	evs       []event
	delivered int
	bytes     int
}

func (w *writerScratch) report(m *Metrics) {
	if w.delivered > 0 {
		m.delivered.Add(float64(w.delivered))
	}
	if w.bytes > 0 {
		m.bytesOut.Add(float64(w.bytes))
	}
	w.delivered, w.bytes = 0, 0
}

// queued is how many streams wait in the queue; mu is held.
func (p *writerPool) queued() int { return len(p.queue) - p.qhead }

// popBatch is how many queued streams a writer takes per lock: a broadcast
// queues thousands at once, and one lock round per stream was measurable.
const popBatch = 32

// maxQueueKept is the largest queue array kept between bursts (512 KiB): a
// broadcast reuses it instead of growing a new one each time.
const maxQueueKept = 1 << 16

func (p *writerPool) init(h *Hub) {
	p.hub = h
	p.cond = sync.NewCond(&p.mu)
	p.idleC = sync.NewCond(&p.mu)
	p.stalled = make(map[*stream]struct{})
	p.wheel.init(sweepPeriod(h.cfg.Heartbeat), h.cfg.Heartbeat)
	poll, err := newPoller(p)
	if err != nil {
		h.log.Warn("no socket poller: slow streams hold a writer, dead peers are probed", "err", err)
		return
	}
	p.poll = poll
}

func (p *writerPool) start(ctx context.Context, wg *sync.WaitGroup, n int) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); p.work() }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); p.sweep(ctx) }()
	if p.poll != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.poll.run(ctx) }()
	}
	go func() {
		<-ctx.Done()
		p.mu.Lock()
		p.closing = true
		p.cond.Broadcast()
		p.idleC.Broadcast()
		p.mu.Unlock()
	}()
}

// register makes a new stream known to the sweeper, the poller and shutdown.
// With a poller the stream takes its socket out of the net package; one that
// cannot keeps its net.Conn and blocking writes.
func (p *writerPool) register(st *stream) {
	st.fd = -1
	if p.poll != nil { // before the stream is visible to the sweeper and writers
		if fd, err := detachFD(st.conn); err != nil {
			p.hub.log.Debug("stream keeps its net.Conn; writes will block", "err", err)
		} else {
			st.fd, st.conn = int32(fd), nil
		}
	}
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		st.slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		st.slot = int32(len(p.slots))
		p.slots = append(p.slots, nil)
	}
	p.gen++
	st.gen = p.gen
	p.slots[st.slot] = st
	p.wheel.add(st, st.lastWrite.Load()+p.hub.cfg.Heartbeat.Nanoseconds())
	p.mu.Unlock()
	p.hub.metrics.streams.WithLabelValues(st.t.name()).Inc()
	if st.fd >= 0 {
		// Under st.mu: the poller may report the socket before watch
		// returns, and its event changes what mask reads under that lock.
		st.mu.Lock()
		err := p.poll.watch(st)
		st.mu.Unlock()
		if err != nil {
			// Writes still never block; only hang-ups go unseen until a write fails.
			p.hub.log.Debug("poller cannot watch stream", "err", err)
		}
	}
}

func (p *writerPool) remove(st *stream) {
	p.mu.Lock()
	ok := int(st.slot) < len(p.slots) && p.slots[st.slot] == st
	if ok {
		p.slots[st.slot] = nil
		p.free = append(p.free, st.slot)
	}
	delete(p.stalled, st) // the wheel drops closed streams as it meets them
	p.mu.Unlock()
	if ok {
		p.hub.metrics.streams.WithLabelValues(st.t.name()).Dec()
	}
}

// lookup returns the stream in slot if it is still the one of generation gen.
func (p *writerPool) lookup(slot int32, gen uint32) *stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slot < 0 || int(slot) >= len(p.slots) {
		return nil
	}
	if st := p.slots[slot]; st != nil && st.gen == gen {
		return st
	}
	return nil
}

// schedule applies mark to the stream under its lock and queues it once. A
// stream waiting for socket room is not queued: the poller queues it.
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
	if st.queued || st.awaitOut && !st.ending {
		st.mu.Unlock()
		return
	}
	st.queued = true
	st.mu.Unlock()

	p.mu.Lock()
	if len(p.queue) == cap(p.queue) && p.qhead > 0 {
		// Full, with popped slots at the front: slide rather than grow, so a
		// queue that never quite empties does not grow without bound.
		n := copy(p.queue, p.queue[p.qhead:])
		clear(p.queue[n:])
		p.queue, p.qhead = p.queue[:n], 0
	}
	p.queue = append(p.queue, st)
	if p.idle > 0 {
		p.cond.Signal()
	}
	p.mu.Unlock()
}

// markStalled keeps the set of streams with bytes pending, which the sweeper
// checks for progress every round.
func (p *writerPool) markStalled(st *stream, on bool) {
	p.mu.Lock()
	if on {
		p.stalled[st] = struct{}{}
	} else {
		delete(p.stalled, st)
	}
	p.mu.Unlock()
}

func (p *writerPool) work() {
	w := &writerScratch{}
	batch := make([]*stream, 0, popBatch)
	for {
		p.mu.Lock()
		for p.queued() == 0 && !p.closing {
			p.idle++
			p.idleC.Broadcast()
			p.cond.Wait()
			p.idle--
		}
		if p.closing && p.queued() == 0 {
			p.mu.Unlock()
			return
		}
		// Share a burst with the other writers: take at most a fair part.
		q := p.queue[p.qhead:]
		n := min(len(q), popBatch, max(1, len(q)/max(1, p.hub.cfg.Writers)))
		batch = append(batch[:0], q[:n]...)
		clear(q[:n])
		p.qhead += n
		if p.queued() == 0 {
			p.qhead = 0
			p.queue = p.queue[:0]
			if cap(p.queue) > maxQueueKept {
				p.queue = nil // let a huge burst's array go
			}
		} else if p.idle > 0 {
			p.cond.Signal()
		}
		p.mu.Unlock()

		for _, st := range batch {
			p.flushOne(st, w)
		}
		w.report(p.hub.metrics)
		clear(batch)
		// A burst (one broadcast to every session) is thousands of writes:
		// let request handlers and publishers run between batches instead
		// of waiting for the scheduler to preempt a writer after 10 ms.
		runtime.Gosched()
	}
}

func (p *writerPool) flushOne(st *stream, w *writerScratch) {
	st.mu.Lock()
	st.queued = false
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.writing = true
	st.mu.Unlock()

	st.flush(w)
	if cap(w.buf) > 1<<20 {
		w.buf = nil // do not pin a huge buffer after a burst
	}
	clear(w.evs) // what is past len was cleared after its own flush

	st.mu.Lock()
	st.writing = false
	again := st.again && !st.closed
	st.again = false
	shut, clean := st.shutLater && !st.reading, st.shutClean // a reader still on it shuts it
	if shut {
		st.shutLater = false
	}
	st.mu.Unlock()
	if shut {
		st.shut(clean)
	}
	if again {
		p.schedule(st, markNone)
	}
}

// snapshot appends every registered stream to dst.
func (p *writerPool) snapshot(dst []*stream) []*stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.slots {
		if st != nil {
			dst = append(dst, st)
		}
	}
	return dst
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
	for (p.queued() > 0 || p.idle < p.hub.cfg.Writers) && ctx.Err() == nil && !p.closing {
		p.idleC.Wait()
	}
}

// closeAll ends every stream cleanly (used on shutdown after the last events).
func (p *writerPool) closeAll() {
	for _, st := range p.snapshot(nil) {
		st.close(nil)
	}
}
