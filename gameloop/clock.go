package gameloop

import (
	"sync"
	"time"
)

// Clock is the engine's source of time, injectable so tests can run rooms on
// virtual time. Modes never see it: their time is ticks × dt.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the room loop uses.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// SystemClock is the wall clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time   { return t.t.C }
func (t sysTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t sysTimer) Stop()                 { t.t.Stop() }

// ManualClock is a Clock for tests. Its time moves only by Advance, or, when
// Auto is set, jumps to a timer's deadline as soon as the timer is armed, so a
// room runs as fast as the CPU allows and never sees a tick overrun.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	auto   bool
	timers []*manualTimer
}

// NewManualClock returns a clock at start. With auto, waiting costs no time.
func NewManualClock(start time.Time, auto bool) *ManualClock {
	return &ManualClock{now: start, auto: auto}
}

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves time forward by d and fires the timers that came due.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.fireLocked()
	c.mu.Unlock()
}

func (c *ManualClock) NewTimer(d time.Duration) Timer {
	t := &manualTimer{clock: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

func (c *ManualClock) fireLocked() {
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.armed && !t.when.After(c.now) {
			t.armed = false
			select {
			case t.ch <- c.now:
			default:
			}
			continue
		}
		if t.armed {
			kept = append(kept, t)
		}
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

type manualTimer struct {
	clock *ManualClock
	ch    chan time.Time
	when  time.Time
	armed bool
}

func (t *manualTimer) C() <-chan time.Time { return t.ch }

func (t *manualTimer) Reset(d time.Duration) {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.armed {
		c.timers = append(c.timers, t)
	}
	t.when, t.armed = c.now.Add(d), true
	select { // like time.Timer since Go 1.23: no stale value after Reset
	case <-t.ch:
	default:
	}
	if c.auto && t.when.After(c.now) {
		c.now = t.when
	}
	c.fireLocked()
}

func (t *manualTimer) Stop() {
	c := t.clock
	c.mu.Lock()
	t.armed = false
	c.mu.Unlock()
}
