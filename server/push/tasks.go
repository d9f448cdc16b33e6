package push

import (
	"context"
	"sync"
)

// tasks runs the application's callbacks on a few workers, never on a
// writer or the reaper, each under CallbackTimeout. The queue is bounded by
// the number of sessions: a session has at most one fresh-state call queued
// or running (requests made meanwhile merge into its pending bits) and
// expires once.
type tasks struct {
	hub *Hub

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []task
	closing bool

	base   context.Context // ends when Close's context does: queued callbacks give up
	cancel context.CancelFunc
}

type task struct {
	s      *Session
	expire bool    // OnExpire; otherwise OnFresh with the session's pending bits
	read   *stream // a WebSocket to read (s is nil)
}

// freshRunning marks a session whose OnFresh is running; freshOwed, a
// sys.reset to queue before the next call (Session.lostLocked); the low
// bits are the reasons pending.
const (
	freshRunning = 1 << 31
	freshOwed    = 1 << 30
)

// oweReset records, while a fresh-state call runs, a reset to queue before
// the next one (and that call): owed is false when no call runs and none is
// owed, and first when this made the debt.
func (s *Session) oweReset() (owed, first bool) {
	for {
		old := s.fresh.Load()
		if old&(freshRunning|freshOwed) == 0 {
			return false, false
		}
		nv := old | freshOwed | uint32(FreshReset)
		if nv == old || s.fresh.CompareAndSwap(old, nv) {
			return true, old&freshOwed == 0
		}
	}
}

// FreshPending reports the reasons fresh state was asked for again while
// the running OnFresh call (the caller) runs: another call follows it. A
// call that sees FreshReset here is superseded by a newer sys.reset.
func (s *Session) FreshPending() Fresh {
	return Fresh(s.fresh.Load() &^ (freshRunning | freshOwed))
}

func (t *tasks) init(h *Hub) {
	t.hub = h
	t.cond = sync.NewCond(&t.mu)
	t.base, t.cancel = context.WithCancel(context.Background())
}

func (t *tasks) start(wg *sync.WaitGroup, n int) {
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); t.work() }()
	}
}

func (t *tasks) push(tk task) {
	t.mu.Lock()
	t.queue = append(t.queue, tk)
	t.cond.Signal()
	t.mu.Unlock()
}

// fresh merges why into s's pending reasons and queues s unless it is
// already queued or running (the running call re-queues it when done).
func (t *tasks) fresh(s *Session, why Fresh) {
	for {
		old := s.fresh.Load()
		nv := old | uint32(why)
		if nv == old {
			return
		}
		if s.fresh.CompareAndSwap(old, nv) {
			if old == 0 {
				t.push(task{s: s})
			}
			return
		}
	}
}

func (t *tasks) expire(s *Session) { t.push(task{s: s, expire: true}) }

// read queues a WebSocket stream the poller found readable.
func (t *tasks) read(st *stream) { t.push(task{read: st}) }

// wsReadBuf is what one worker reads a socket into; the bytes of a frame
// left unfinished are kept by the stream's decoder, not here.
const wsReadBuf = 16 << 10

func (t *tasks) work() {
	var buf []byte // made on the first WebSocket read
	for {
		t.mu.Lock()
		for len(t.queue) == 0 && !t.closing {
			t.cond.Wait()
		}
		if len(t.queue) == 0 {
			t.mu.Unlock()
			return
		}
		tk := t.queue[0]
		t.queue[0] = task{}
		t.queue = t.queue[1:]
		if len(t.queue) == 0 {
			t.queue = nil // let a burst's array go
		}
		t.mu.Unlock()
		if tk.read != nil {
			if buf == nil {
				buf = make([]byte, wsReadBuf)
			}
			tk.read.readWS(buf)
			continue
		}
		t.run(tk)
	}
}

func (t *tasks) run(tk task) {
	ctx, cancel := context.WithTimeout(t.base, t.hub.cfg.CallbackTimeout)
	defer cancel()
	if tk.expire {
		t.hub.cfg.OnExpire(ctx, tk.s)
		return
	}
	s := tk.s
	var why uint32
	for {
		old := s.fresh.Load()
		if s.fresh.CompareAndSwap(old, freshRunning) {
			why = old &^ (freshRunning | freshOwed)
			if old&freshOwed != 0 { // before the call: all it sends follows the reset
				s.queue(msgReset) // the one owed (Session.lostLocked)
			}
			break
		}
	}
	if why != 0 && !s.Ended() {
		t.hub.cfg.OnFresh(ctx, s, Fresh(why))
	}
	for {
		old := s.fresh.Load()
		nv := old &^ freshRunning
		if s.fresh.CompareAndSwap(old, nv) {
			if nv != 0 { // asked again while it ran
				t.push(task{s: s})
			}
			return
		}
	}
}

// stop lets the workers finish what is queued, then end; callbacks still
// running or queued when ctx ends get a cancelled context.
// The caller waits for the workers, then calls the returned release.
func (t *tasks) stop(ctx context.Context) (release func()) {
	stop := context.AfterFunc(ctx, t.cancel)
	t.mu.Lock()
	t.closing = true
	t.cond.Broadcast()
	t.mu.Unlock()
	return func() { stop(); t.cancel() }
}
