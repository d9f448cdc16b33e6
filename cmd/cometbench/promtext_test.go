package main

import (
	"math"
	"strings"
	"testing"
)

const promSample = `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.2345e+07
comet_streams{transport="multipart"} 10
comet_streams{transport="sse"} 5
comet_streams{transport="poll"} 0
weird{a="x\"y",b="line\nbreak",c="back\\slash"} 1
comet_game_tick_seconds_bucket{mode="arena",le="0.001"} 10
comet_game_tick_seconds_bucket{mode="arena",le="0.01"} 90
comet_game_tick_seconds_bucket{mode="arena",le="+Inf"} 100
comet_game_tick_seconds_bucket{mode="tag",le="0.001"} 7
comet_game_tick_seconds_count{mode="arena"} 100
with_timestamp 3 1700000000000
`

func TestParseProm(t *testing.T) {
	p, err := parseProm(strings.NewReader(promSample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		match []string
		want  float64
	}{
		{"go_goroutines", nil, 42},
		{"go_memstats_heap_inuse_bytes", nil, 12345000},
		{"comet_streams", nil, 15},
		{"comet_streams", []string{"transport", "sse"}, 5},
		{"weird", []string{"a", `x"y`, "b", "line\nbreak", "c", `back\slash`}, 1},
		{"with_timestamp", nil, 3},
		{"comet_game_tick_seconds_count", []string{"mode", "arena"}, 100},
	}
	for _, tt := range tests {
		if got := p.Sum(tt.name, tt.match...); got != tt.want {
			t.Errorf("Sum(%s, %q) = %v, want %v", tt.name, tt.match, got, tt.want)
		}
	}
	if got := p.Sum("absent"); !math.IsNaN(got) {
		t.Errorf("absent series = %v, want NaN", got)
	}
	b := p.Buckets("comet_game_tick_seconds", "mode", "arena")
	if len(b) != 3 || b[0.01] != 90 || b[math.Inf(1)] != 100 {
		t.Errorf("buckets = %v", b)
	}
}

func TestParsePromErrors(t *testing.T) {
	for _, in := range []string{"novalue", `x{a="b"`, `x{a=b} 1`, `x{a="b} 1`, "x abc", `x{="b"} 1`} {
		if _, err := parseProm(strings.NewReader(in)); err == nil {
			t.Errorf("parseProm(%q): no error", in)
		}
	}
}

func TestBucketQuantile(t *testing.T) {
	inf := math.Inf(1)
	before := map[float64]float64{0.001: 10, 0.01: 20, 0.1: 20, inf: 20}
	tests := []struct {
		name  string
		after map[float64]float64
		q     float64
		want  float64
	}{
		{"all fast", map[float64]float64{0.001: 110, 0.01: 120, 0.1: 120, inf: 120}, 0.99, 0.001},
		{"p99 in the second bucket", map[float64]float64{0.001: 108, 0.01: 119, 0.1: 120, inf: 120}, 0.99, 0.01},
		{"beyond the last bucket", map[float64]float64{0.001: 10, 0.01: 20, 0.1: 20, inf: 30}, 0.5, inf},
		{"no new samples", before, 0.99, math.NaN()},
	}
	for _, tt := range tests {
		got := bucketQuantile(before, tt.after, tt.q)
		if got != tt.want && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzParseProm(f *testing.F) {
	f.Add(promSample)
	f.Add(`x{a="\`)
	f.Add("x{} 1\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := parseProm(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, s := range p {
			if s.Name == "" {
				t.Fatalf("series without a name from %q", in)
			}
		}
	})
}
