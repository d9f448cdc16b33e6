package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies are kept in a log-linear histogram of microseconds: exact below
// 64 µs, then 32 sub-buckets per power of two (at most about 3 % error), so
// agents can merge theirs by adding counts and a million samples cost nothing.
const (
	histSub     = 32
	histLinear  = 2 * histSub // values below this are exact
	histBuckets = histLinear + (64-6)*histSub
)

// hist is safe for concurrent Record.
type hist struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
}

func histIndex(us int64) int {
	if us < histLinear {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 6 // us >> e lies in [32, 64)
	m := int(us>>e) - histSub
	return histLinear + (e-1)*histSub + m
}

// histLow is the smallest value of bucket i.
func histLow(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	e := (i-histLinear)/histSub + 1
	m := (i-histLinear)%histSub + histSub
	return int64(m) << e
}

// Record adds one latency.
func (h *hist) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.counts[histIndex(us)].Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// Snapshot returns the counts as a sparse, mergeable summary and optionally
// resets them.
func (h *hist) Snapshot(reset bool) histSnap {
	s := histSnap{Counts: map[int]uint64{}}
	for i := range h.counts {
		var n uint64
		if reset {
			n = h.counts[i].Swap(0)
		} else {
			n = h.counts[i].Load()
		}
		if n > 0 {
			s.Counts[i] = n
			s.N += n
		}
	}
	if reset {
		s.MaxUS = h.max.Swap(0)
	} else {
		s.MaxUS = h.max.Load()
	}
	return s
}

// histSnap is a histogram as it travels between processes.
type histSnap struct {
	Counts map[int]uint64 `json:"c,omitempty"`
	N      uint64         `json:"n"`
	MaxUS  int64          `json:"max_us"`
}

func (s *histSnap) Merge(o histSnap) {
	if s.Counts == nil {
		s.Counts = map[int]uint64{}
	}
	for i, n := range o.Counts {
		s.Counts[i] += n
	}
	s.N += o.N
	s.MaxUS = max(s.MaxUS, o.MaxUS)
}

// Quantile returns the q-quantile (0..1) as a duration: the upper edge of the
// bucket it falls in, clamped to the maximum seen. Zero samples give 0.
func (s histSnap) Quantile(q float64) time.Duration {
	if s.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.N)))
	rank = min(max(rank, 1), s.N)
	var seen uint64
	for i := 0; i < histBuckets; i++ {
		seen += s.Counts[i]
		if seen >= rank {
			us := histLow(i+1) - 1
			if i < histLinear {
				us = int64(i)
			}
			return time.Duration(min(us, s.MaxUS)) * time.Microsecond
		}
	}
	return time.Duration(s.MaxUS) * time.Microsecond
}

func (s histSnap) Max() time.Duration { return time.Duration(s.MaxUS) * time.Microsecond }
