package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistIndexRoundTrip(t *testing.T) {
	for _, us := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 12345, 1 << 20, 1<<40 + 7} {
		i := histIndex(us)
		if i < 0 || i >= histBuckets {
			t.Fatalf("index(%d) = %d out of range", us, i)
		}
		lo, hi := histLow(i), histLow(i+1)
		if us < lo || us >= hi {
			t.Fatalf("%d µs in bucket %d = [%d, %d)", us, i, lo, hi)
		}
		if us >= histLinear && float64(hi-lo)/float64(lo) > 1.0/histSub+1e-9 {
			t.Fatalf("bucket %d [%d, %d) wider than 1/%d", i, lo, hi, histSub)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
		tol     float64 // relative
	}{
		{"empty", nil, 0.5, 0, 0},
		{"one", []time.Duration{42 * time.Microsecond}, 0.99, 42 * time.Microsecond, 0},
		{"exact below 64µs", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Microsecond}, 0.5, 20 * time.Microsecond, 0},
		{"max is exact", []time.Duration{time.Millisecond, 250 * time.Millisecond}, 1, 250 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hist
			for _, d := range tt.samples {
				h.Record(d)
			}
			got := h.Snapshot(false).Quantile(tt.q)
			if diff := float64(got - tt.want); diff > tt.tol*float64(tt.want) || -diff > tt.tol*float64(tt.want) {
				t.Fatalf("q%.2f = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestHistAgainstSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b hist
	var all []time.Duration
	for i := 0; i < 20000; i++ {
		d := time.Duration(rng.ExpFloat64()*20e3) * time.Microsecond
		all = append(all, d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	s := a.Snapshot(false)
	s.Merge(b.Snapshot(true)) // two agents' histograms add up
	if s.N != uint64(len(all)) {
		t.Fatalf("merged %d samples, want %d", s.N, len(all))
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := s.Quantile(q)
		if float64(got) < float64(exact)*0.97 || float64(got) > float64(exact)*1.04 {
			t.Errorf("q%v = %v, exact %v: more than 3%% off", q, got, exact)
		}
	}
	if s.Max() != all[len(all)-1].Truncate(time.Microsecond) {
		t.Errorf("max = %v, want %v", s.Max(), all[len(all)-1])
	}
	if b.Snapshot(false).N != 0 {
		t.Error("a reset snapshot left counts behind")
	}
}
