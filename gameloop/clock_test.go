package gameloop

import (
	"testing"
	"time"
)

func TestManualClockFiresTimersOnAdvance(t *testing.T) {
	start := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	c := NewManualClock(start, false)
	tm := c.NewTimer(50 * time.Millisecond)
	c.Advance(49 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	select {
	case at := <-tm.C():
		if !at.Equal(start.Add(50 * time.Millisecond)) {
			t.Errorf("fired at %v", at)
		}
	default:
		t.Fatal("did not fire when due")
	}
	tm.Reset(10 * time.Millisecond)
	tm.Stop()
	c.Advance(time.Second)
	select {
	case <-tm.C():
		t.Fatal("a stopped timer fired")
	default:
	}
}

func TestManualClockAutoJumpsToDeadlines(t *testing.T) {
	start := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	c := NewManualClock(start, true)
	tm := c.NewTimer(time.Hour)
	select {
	case <-tm.C():
	default:
		t.Fatal("an auto clock did not fire at once")
	}
	if got := c.Now().Sub(start); got != time.Hour {
		t.Errorf("time moved %v, want 1h", got)
	}
	tm.Reset(-time.Second) // already due: fires, time stays
	<-tm.C()
	if got := c.Now().Sub(start); got != time.Hour {
		t.Errorf("time moved %v for a past deadline", got)
	}
}
