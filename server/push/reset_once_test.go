package push

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"comet"
)

// freshProbe is an OnFresh that, for a reset, sends fresh.first, waits
// until released, then sends fresh.last: a fresh-state call caught halfway.
type freshProbe struct {
	calls   atomic.Int32
	started chan struct{}
	release chan struct{}
	done    chan struct{}
}

func newFreshProbe() *freshProbe {
	return &freshProbe{started: make(chan struct{}, 8), release: make(chan struct{}), done: make(chan struct{}, 8)}
}

func (p *freshProbe) onFresh(ctx context.Context, s *Session, why Fresh) {
	if why&FreshReset == 0 {
		return
	}
	p.calls.Add(1)
	s.Send(comet.MustMessage("fresh.first", nil))
	p.started <- struct{}{}
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	s.Send(comet.MustMessage("fresh.last", nil))
	p.done <- struct{}{}
}

// readUntil reads c's events up to the one of type typ, returning their
// types (a sys.reset with its seq).
func readUntil(t *testing.T, c *sseClient, typ string) []string {
	t.Helper()
	var got []string
	for {
		ev := c.next(t, 5*time.Second)
		if ev.Type == "sys.reset" {
			got = append(got, fmt.Sprintf("sys.reset %d", ev.Seq))
		} else {
			got = append(got, ev.Type)
		}
		if ev.Type == typ {
			return got
		}
	}
}

// lostPollAnswer makes a session whose replay buffer (16 events) lost the
// events after 1, and polls from 1: the answer, which the test treats as
// lost, starts with sys.reset, and p's fresh-state call is running.
func lostPollAnswer(t *testing.T, p *freshProbe) (*Hub, *Session, []wireEvent) {
	t.Helper()
	h := newTestHub(t, Config{ReplayEvents: 16, OnFresh: p.onFresh})
	s := h.NewSession("p", nil)
	for i := range 40 {
		s.Send(comet.MustMessage("test.n", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := h.Poll(ctx, s, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lost []wireEvent
	if err := json.Unmarshal(b, &lost); err != nil || len(lost) == 0 || lost[0].Type != "sys.reset" {
		t.Fatalf("a poll from a lost point answered %s (%v), want sys.reset first", b, err)
	}
	recv(t, p.started, 5*time.Second, "the fresh-state call")
	return h, s, lost
}

// TestResumeGoesOnFromTheBufferedReset: a poll resuming from a lost point is
// answered sys.reset and its fresh state starts; the answer is lost, and the
// client resumes from the same point while that fresh state is being sent.
// It gets the buffered reset and the one fresh state, in order. It used to
// get a second reset, then the first call's tail (fresh.last), then the
// second call whole: fresh state out of its documented order.
func TestResumeGoesOnFromTheBufferedReset(t *testing.T) {
	p := newFreshProbe()
	h, s, lost := lostPollAnswer(t, p)
	c := holdSSE(t, h, s, 1, 0) // the poll's answer never arrived: from 1 again
	close(p.release)
	recv(t, p.done, 5*time.Second, "the end of the fresh-state call")
	s.Send(comet.MustMessage("fence", nil))
	got := readUntil(t, c, "fence")
	want := []string{fmt.Sprintf("sys.reset %d", lost[0].Seq), "fresh.first", "fresh.last", "fence"}
	if !slices.Equal(got, want) {
		t.Fatalf("resumed from 1 during the fresh state: %q, want %q", got, want)
	}
	if n := p.calls.Load(); n != 1 || s.fresh.Load() != 0 {
		t.Fatalf("%d fresh-state calls (pending %b), want 1", n, s.fresh.Load())
	}
}

// TestReplacedReceiverQueuesNoReset: a downstream replaced while its cursor
// had fallen out of the buffer (a stream writing its last batch) must not
// queue a sys.reset: its successor would get it as a second reset, with a
// second fresh state interleaving the first.
func TestReplacedReceiverQueuesNoReset(t *testing.T) {
	p := newFreshProbe()
	close(p.release)
	h := newTestHub(t, Config{ReplayEvents: 16, OnFresh: p.onFresh})
	s := h.NewSession("p", nil)
	old := newPollReceiver()
	if _, _, _, ok := s.attach(old, 0); !ok {
		t.Fatal("attach failed")
	}
	for i := range 40 {
		s.Send(comet.MustMessage("test.n", i))
	}
	c := holdSSE(t, h, s, 0, 0) // replaces old: sys.reset, fresh state
	recv(t, p.done, 5*time.Second, "the fresh-state call")

	// old's last batch, as a stream's writer takes it (stream.go flush).
	_, _, reset, _ := s.collect(old, nil, 0, 0, batchBytes)
	if reset {
		h.requestFresh(s, FreshReset)
	}
	s.Send(comet.MustMessage("fence", nil))
	got := readUntil(t, c, "fence")
	if len(got) != 4 || got[1] != "fresh.first" || got[2] != "fresh.last" {
		t.Fatalf("the successor read %q, want one sys.reset, its fresh state, the fence", got)
	}
	if reset || p.calls.Load() != 1 {
		t.Fatalf("the replaced receiver's batch queued a reset (%v; %d fresh-state calls)", reset, p.calls.Load())
	}
}

// TestResetLostDuringFreshStateWaits: a reset's fresh state is being sent
// when the reset itself leaves the buffer (a burst behind it), and the
// client resumes from before it. The new reset is queued only once that
// call has returned, so the client reads it, then one whole fresh state. It
// used to be queued at once: the running call's tail (fresh.last) came
// right after it, ahead of the fresh state that followed.
func TestResetLostDuringFreshStateWaits(t *testing.T) {
	p := newFreshProbe()
	h, s, _ := lostPollAnswer(t, p)
	for i := range 40 { // the reset and fresh.first leave the buffer
		s.Send(comet.MustMessage("test.n", i))
	}

	c := holdSSE(t, h, s, 1, 0)
	close(p.release)
	recv(t, p.done, 5*time.Second, "the end of the first fresh-state call")
	recv(t, p.done, 5*time.Second, "the end of the second fresh-state call")
	s.Send(comet.MustMessage("fence", nil))
	got := readUntil(t, c, "fence")
	if len(got) != 4 || !strings.HasPrefix(got[0], "sys.reset ") || got[1] != "fresh.first" || got[2] != "fresh.last" {
		t.Fatalf("resumed while the fresh state of a lost reset ran: %q, want sys.reset, fresh.first, fresh.last, fence", got)
	}
}
