package push

import (
	"math/rand/v2"
	"testing"

	"comet"
)

// TestUpstreamSeqExact: a client seq is taken exactly once within the
// window, in any order; below the window it is refused, never silently
// dropped.
func TestUpstreamSeqExact(t *testing.T) {
	h := newTestHub(t, Config{})
	s := h.NewSession("u", nil)
	steps := []struct {
		seq  uint64
		want Upstream
	}{
		{1, UpstreamNew}, {1, UpstreamDuplicate},
		{7, UpstreamNew}, // 2–6 skipped, still open
		{5, UpstreamNew}, // the case: never sent before, so it runs
		{5, UpstreamDuplicate}, {7, UpstreamDuplicate}, {6, UpstreamNew}, {2, UpstreamNew},
		{1, UpstreamDuplicate},
		{7 + UpstreamWindow, UpstreamNew}, // 7 is now the oldest remembered
		{7, UpstreamDuplicate}, {3, UpstreamTooOld}, {8, UpstreamNew},
		{1000, UpstreamNew}, {999, UpstreamNew}, {1000 - UpstreamWindow, UpstreamNew},
		{1000 - UpstreamWindow - 1, UpstreamTooOld}, {1000 - UpstreamWindow, UpstreamDuplicate},
	}
	for i, st := range steps {
		if got := s.TakeUpstreamSeq(st.seq); got != st.want {
			t.Fatalf("step %d: seq %d: got %d, want %d", i, st.seq, got, st.want)
		}
	}
}

// TestUpstreamSeqModel checks the window against a set that remembers every
// seq: within the window the answers agree; below it the answer is TooOld.
func TestUpstreamSeqModel(t *testing.T) {
	h := newTestHub(t, Config{})
	for round := range 50 {
		s := h.NewSession("u", nil)
		rng := rand.New(rand.NewPCG(uint64(round), 1))
		taken := map[uint64]bool{}
		var hi uint64
		for range 2000 {
			seq := uint64(1 + rng.IntN(int(hi)+100))
			got := s.TakeUpstreamSeq(seq)
			var want Upstream
			switch {
			case seq+UpstreamWindow < hi:
				want = UpstreamTooOld
			case taken[seq]:
				want = UpstreamDuplicate
			default:
				want = UpstreamNew
			}
			if got != want {
				t.Fatalf("round %d: seq %d (highest %d): got %d, want %d", round, seq, hi, got, want)
			}
			if got == UpstreamNew {
				taken[seq] = true
				hi = max(hi, seq)
			}
		}
	}
}

// TestResetAfterFutureLast: a cursor beyond the newest seq gets a sys.reset
// numbered after it, so a client that drops seq <= last keeps the reset and
// the fresh state after it, and numbering goes on from there.
func TestResetAfterFutureLast(t *testing.T) {
	h := newTestHub(t, Config{})
	s := h.NewSession("u", nil)
	for range 3 {
		s.Send(comet.MustMessage("t.x", struct{}{}))
	}
	pr := newPollReceiver()
	cursor, reset, _, ok := s.attach(pr, 50)
	if !ok || !reset || cursor != 50 {
		t.Fatalf("attach(last=50) with 3 events: cursor %d reset %v ok %v; want 50 true true", cursor, reset, ok)
	}
	s.Send(comet.MustMessage("t.fresh", struct{}{}))
	evs, _, _, _ := s.collect(pr, nil, cursor, 0, 1<<20)
	if len(evs) != 2 || evs[0].seq != 51 || evs[0].msg.Type != "sys.reset" || evs[1].seq != 52 || evs[1].msg.Type != "t.fresh" {
		var got []string
		for _, e := range evs {
			got = append(got, e.msg.Type)
		}
		t.Fatalf("after a future last: %d events %v (first seq %v); want sys.reset 51, t.fresh 52", len(evs), got, evs)
	}
	// Resuming from the reset itself goes on without another reset.
	cursor, reset, _, _ = s.attach(pr, 51)
	if reset || cursor != 51 {
		t.Fatalf("attach(last=51) after the reset: cursor %d reset %v", cursor, reset)
	}
}
