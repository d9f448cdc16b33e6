package push

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"comet"
	"comet/server/bus"
)

// metricValue reads a counter or gauge's current value.
func metricValue(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var d dto.Metric
	if err := (<-ch).Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// backlogTo sets the session's backlog as its attached stream r would.
func backlogTo(s *Session, r receiver, on bool) { s.setBacklog(r, on) }

// TestBackloggedSessionDropsDiffsThenResyncs: while its stream is backlogged,
// a session drops droppable messages (others are kept); when it drains a
// keyframe is requested, and droppable messages stay dropped until a
// keyframe passes.
func TestBackloggedSessionDropsDiffsThenResyncs(t *testing.T) {
	fresh := make(chan Fresh, 4)
	m := NewMetrics(nil)
	h := newTestHub(t, Config{Metrics: m, OnFresh: func(_ context.Context, _ *Session, why Fresh) { fresh <- why }})
	s := h.NewSession("p1", nil)
	r := newPollReceiver()
	if _, _, _, ok := s.attach(r, 0); !ok {
		t.Fatal("attach failed")
	}
	queued := func() uint64 { return s.Stats().Seq }
	diff := comet.MustMessage("room.diff", map[string]int{"b": 1}).WithFlags(comet.Droppable)
	snap := comet.MustMessage("room.snapshot", map[string]int{"t": 2}).WithFlags(comet.Keyframe)
	chat := comet.MustMessage("chat.msg", map[string]string{"text": "hi"})

	steps := []struct {
		name string
		do   func()
		want uint64 // events queued after the step
	}{
		{"diff while flowing is queued", func() { s.Send(diff) }, 1},
		{"backlog starts", func() { backlogTo(s, r, true) }, 1},
		{"diff while backlogged is dropped", func() { s.Send(diff) }, 1},
		{"chat while backlogged is kept", func() { s.Send(chat) }, 2},
		{"backlog clears", func() { backlogTo(s, r, false) }, 2},
		{"diff before the snapshot is still dropped", func() { s.Send(diff) }, 2},
		{"snapshot is queued", func() { s.Send(snap) }, 3},
		{"diff after the snapshot is queued", func() { s.Send(diff) }, 4},
	}
	for _, step := range steps {
		step.do()
		if got := queued(); got != step.want {
			t.Fatalf("%s: %d events queued, want %d", step.name, got, step.want)
		}
	}
	if why := recv(t, fresh, 5*time.Second, "keyframe request"); why != FreshKeyframe {
		t.Fatalf("fresh state asked for %v, want a keyframe", why)
	}
	if n := metricValue(m.diffsDropped); n != 2 {
		t.Fatalf("comet_stale_diffs_dropped_total = %v, want 2", n)
	}
	// A backlog with nothing dropped needs no keyframe; a reset, asked for
	// after it, is the fence: it must be the next request.
	backlogTo(s, r, true)
	backlogTo(s, r, false)
	h.requestFresh(s, FreshReset)
	if why := recv(t, fresh, 5*time.Second, "fence request"); why != FreshReset {
		t.Fatalf("a backlog with nothing dropped asked for %v", why)
	}
	// A stream that is no longer attached cannot mark the session.
	other := newPollReceiver()
	backlogTo(s, other, true)
	if s.Backlogged() {
		t.Fatal("a detached receiver marked the session backlogged")
	}
}

// stallStream fills s's stream (over a socket whose client never reads)
// until bytes are pending.
func stallStream(t *testing.T, s *Session) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !s.Backlogged(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the stalled stream never backed up")
		}
		s.Send(comet.MustMessage("test.big", map[string]any{"i": i, "pad": strings.Repeat("x", 32<<10)}))
		if i%8 == 7 {
			time.Sleep(5 * time.Millisecond) // pacing, not an assertion: let the writer catch up with the ring
		}
	}
}

// TestHangupWhileWritingLeavesNoBacklog is defect 1 of issue 12: a hang-up
// between a write leaving bytes pending and the session being marked
// backlogged left the mark set forever, so every later room diff was dropped
// while chat flowed. The hook closes the stream exactly in that window.
func TestHangupWhileWritingLeavesNoBacklog(t *testing.T) {
	h := newTestHub(t, Config{RecycleBytes: 1 << 30, WriteTimeout: time.Minute})
	s := h.NewSession("p1", nil)
	var once sync.Once
	testHookPending = func(st *stream) {
		once.Do(func() { st.close(errPeerGone) })
	}
	t.Cleanup(func() { testHookPending = nil })
	holdSSE(t, h, s, 0, 4096)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; s.Stats().Attached; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the stream never stalled and closed")
		}
		s.Send(comet.MustMessage("test.big", map[string]any{"i": i, "pad": strings.Repeat("x", 32<<10)}))
	}
	if s.Backlogged() {
		t.Fatal("session still marked backlogged after its stream hung up mid-write")
	}
	// A new stream gets the game's diffs again.
	c := holdSSE(t, h, s, s.Stats().Seq, 0)
	s.Send(comet.MustMessage("room.diff", map[string]int{"x": 1}).WithFlags(comet.Droppable))
	if ev := c.next(t, 5*time.Second); ev.Type != "room.diff" {
		t.Fatalf("after the hang-up the next event is %s, want room.diff", ev.Type)
	}
}

// TestNewStreamClearsBacklog: a stalled stream replaced by a new one leaves
// no backlog behind, and since diffs were dropped a keyframe is requested.
func TestNewStreamClearsBacklog(t *testing.T) {
	fresh := make(chan Fresh, 8)
	h := newTestHub(t, Config{RecycleBytes: 1 << 30, WriteTimeout: time.Minute,
		OnFresh: func(_ context.Context, _ *Session, why Fresh) { fresh <- why }})
	s := h.NewSession("p1", nil)
	holdSSE(t, h, s, 0, 4096)
	stallStream(t, s)
	s.Send(comet.MustMessage("room.diff", map[string]int{"x": 1}).WithFlags(comet.Droppable)) // dropped
	c := holdSSE(t, h, s, s.Stats().Seq, 0)
	if s.Backlogged() {
		t.Fatal("a new stream attached but the session is still backlogged")
	}
	if why := recv(t, fresh, 5*time.Second, "keyframe request"); why&FreshKeyframe == 0 {
		t.Fatalf("asked for %v, want a keyframe", why)
	}
	s.Send(comet.MustMessage("room.snapshot", map[string]int{"t": 1}).WithFlags(comet.Keyframe))
	if ev := c.next(t, 5*time.Second); ev.Type != "room.snapshot" {
		t.Fatalf("new stream got %s, want the keyframe", ev.Type)
	}
}

// TestStuckExpiryBlocksNoOne is defect 2 of issue 12: the reaper ran the
// application's OnExpire itself, so one callback stuck on a hung room held
// every other session's expiry (and Close) forever.
func TestStuckExpiryBlocksNoOne(t *testing.T) {
	expired := make(chan string, 8)
	h := NewHub(Config{Bus: bus.New(), Logger: quietLogger(), Grace: 50 * time.Millisecond, Workers: 2,
		CallbackTimeout: time.Hour,
		OnExpire: func(ctx context.Context, s *Session) {
			if s.User() == "stuck" {
				<-ctx.Done() // a room that never answers, until the deadline
			}
			expired <- s.User()
		}})
	h.NewSession("stuck", nil)
	checkFor(t, 5*time.Second, func() error { // expired: its callback now hangs on a worker
		if h.Len() != 0 {
			return fmt.Errorf("%d sessions live", h.Len())
		}
		return nil
	})
	// The stuck callback holds a worker; others still expire.
	h.NewSession("ok", nil)
	if got := recv(t, expired, 5*time.Second, "expiry beside a stuck one"); got != "ok" {
		t.Fatalf("expired %q, want ok", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { h.Close(ctx); close(done) }()
	recv(t, done, 5*time.Second, "Close past its deadline")
	if got := recv(t, expired, time.Second, "the stuck expiry, cancelled"); got != "stuck" {
		t.Fatalf("expired %q, want stuck", got)
	}
}

// TestExpiryCannotKillAnAttachedSession is defect 3 of issue 12: the reaper
// checked "expired" and then removed the session, so a stream attaching in
// between was accepted and then killed. Check and end are now one step: a
// session a receiver attached to is never ended while attached.
func TestExpiryCannotKillAnAttachedSession(t *testing.T) {
	h := newTestHub(t, Config{Grace: time.Millisecond})
	deadline := time.Now().Add(time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		s := h.NewSession(fmt.Sprint("p", i), nil)
		time.Sleep(time.Duration(i%3) * time.Millisecond) // pacing, not an assertion: attaches land around the reaper's check
		r := newPollReceiver()
		_, _, _, ok := s.attach(r, 0)
		if !ok {
			continue // expired first: the client is told so
		}
		if s.Ended() {
			t.Fatalf("round %d: attached, then the reaper ended the session", i)
		}
		s.end()
	}
}

// TestFreshRequestsMerge is defect 4 of issue 12: every reset or backlog
// spawned a goroutine with no limit, de-duplication or deadline. Requests
// for one session now merge: one call runs at a time, and requests made
// while it runs become one more call.
func TestFreshRequestsMerge(t *testing.T) {
	var calls, running, maxRunning atomic.Int32
	release := make(chan struct{})
	h := newTestHub(t, Config{Workers: 4, OnFresh: func(ctx context.Context, _ *Session, _ Fresh) {
		n := running.Add(1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		calls.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		running.Add(-1)
	}})
	s := h.NewSession("p", nil)
	h.requestFresh(s, FreshReset)
	checkFor(t, 5*time.Second, func() error {
		if calls.Load() != 1 {
			return fmt.Errorf("%d calls", calls.Load())
		}
		return nil
	})
	for range 1000 {
		h.requestFresh(s, FreshKeyframe)
		h.requestFresh(s, FreshReset)
	}
	close(release)
	checkFor(t, 5*time.Second, func() error {
		if calls.Load() != 2 || s.fresh.Load() != 0 {
			return fmt.Errorf("%d calls, pending %b", calls.Load(), s.fresh.Load())
		}
		return nil
	})
	if maxRunning.Load() != 1 {
		t.Fatalf("%d calls ran at once for one session", maxRunning.Load())
	}
}

// TestSubscribeUnsubscribeRace is defect 5 of issue 12: concurrent
// subscribes and unsubscribes of one session and topic could record a
// subscription the other had closed as live, so the session believed it was
// on a topic that no longer delivered to it.
func TestSubscribeUnsubscribeRace(t *testing.T) {
	b := bus.New()
	h := newTestHub(t, Config{Bus: b})
	for round := range 300 {
		s := h.NewSession("p", nil)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					if g%2 == 0 {
						s.Subscribe("t")
					} else {
						s.Unsubscribe("t")
					}
				}
			}()
		}
		wg.Wait()
		if on, n := s.Subscribed("t"), b.Subscribers("t"); on != (n == 1) {
			t.Fatalf("round %d: session says subscribed=%v, bus has %d subscribers", round, on, n)
		}
		s.Unsubscribe("t")
		h.Remove(context.Background(), s)
	}
}
