package gameloop_test

import (
	"strings"
	"testing"
	"time"

	"comet/gameloop"
)

// TestResultTimesAreUTCMilliseconds: a match result's started and ended are
// UTC to the millisecond even on a clock that is neither, so match.result
// and /api/players/{id}/matches (the stores keep milliseconds) agree.
func TestResultTimesAreUTCMilliseconds(t *testing.T) {
	store := &memStore{}
	clk := gameloop.NewManualClock(time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.FixedZone("CET", 3600)), false)
	h := newHandClockWith(t, func(cfg *gameloop.ManagerConfig) { cfg.Store, cfg.Clock = store, clk })
	h.ManualClock = clk
	p1, s := player("p1")
	if _, err := h.m.QuickJoin(bg, "walk", p1); err != nil {
		t.Fatal(err)
	}
	h.until(t, "running", func() bool { return strings.Contains(states(s), "running") })
	h.Advance(1234567 * time.Nanosecond)
	if err := h.m.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	saved := store.saved()
	if len(saved) != 1 {
		t.Fatalf("saved %d matches, want 1", len(saved))
	}
	for name, ts := range map[string]time.Time{"started": saved[0].Started, "ended": saved[0].Ended} {
		if ts.Location() != time.UTC || ts.Nanosecond()%int(time.Millisecond) != 0 || ts.IsZero() {
			t.Errorf("%s = %s: want UTC to the millisecond", name, ts.Format(time.RFC3339Nano))
		}
	}
}
