package push

import (
	"testing"

	"comet"
)

func seqs(evs []event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.seq
	}
	return out
}

func TestReplayKeepsNewestByCountAndBytes(t *testing.T) {
	small := comet.MustMessage("t", "x")
	tests := []struct {
		name       string
		maxEvents  int
		maxBytes   int
		push       int
		wantOldest uint64
		wantLen    int
	}{
		{"under both limits", 8, 1 << 20, 5, 1, 5},
		{"count limit", 8, 1 << 20, 20, 13, 8},
		{"byte limit", 1024, small.Size() * 3, 10, 8, 3},
		{"single oversized kept", 1024, 1, 3, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := replay{maxEvents: int32(tt.maxEvents), maxBytes: int32(tt.maxBytes)}
			for i := 1; i <= tt.push; i++ {
				r.push(event{seq: uint64(i), msg: small})
			}
			if r.oldest() != tt.wantOldest || int(r.n) != tt.wantLen {
				t.Fatalf("oldest=%d n=%d, want %d and %d", r.oldest(), r.n, tt.wantOldest, tt.wantLen)
			}
			got := seqs(r.after(nil, 0, 1<<30))
			for i, s := range got {
				if s != tt.wantOldest+uint64(i) {
					t.Fatalf("after(0) = %v: not contiguous from %d", got, tt.wantOldest)
				}
			}
			if int(r.bytes) != tt.wantLen*small.Size() {
				t.Fatalf("bytes accounting %d, want %d", r.bytes, tt.wantLen*small.Size())
			}
		})
	}
}

func TestReplayAfterResumesAndCapsBatch(t *testing.T) {
	m := comet.MustMessage("t", "x")
	r := replay{maxEvents: 16, maxBytes: 1 << 20}
	for i := 1; i <= 10; i++ {
		r.push(event{seq: uint64(i), msg: m})
	}
	if got := seqs(r.after(nil, 7, 1<<20)); len(got) != 3 || got[0] != 8 || got[2] != 10 {
		t.Fatalf("after(7) = %v, want [8 9 10]", got)
	}
	if got := r.after(nil, 10, 1<<20); len(got) != 0 {
		t.Fatalf("after(10) = %v, want none", seqs(got))
	}
	if got := seqs(r.after(nil, 0, m.Size()*2)); len(got) != 2 {
		t.Fatalf("byte-capped batch = %v, want 2 events", got)
	}
	if got := seqs(r.after(nil, 0, 1)); len(got) != 1 {
		t.Fatalf("a batch always takes at least one event, got %v", got)
	}
}

func TestReplayReleaseDropsDeliveredAndShrinks(t *testing.T) {
	m := comet.MustMessage("t", 1)
	r := replay{maxEvents: 1024, maxBytes: 1 << 30}
	for i := 1; i <= 200; i++ {
		r.push(event{seq: uint64(i), msg: m})
	}
	big := len(r.buf)
	r.release(190)
	if r.n != 10 || r.oldest() != 191 || int(r.bytes) != 10*m.Size() {
		t.Fatalf("after release(190): n=%d oldest=%d bytes=%d", r.n, r.oldest(), r.bytes)
	}
	if len(r.buf) >= big {
		t.Fatalf("ring kept %d slots for 10 events (was %d)", len(r.buf), big)
	}
	if got := seqs(r.after(nil, 190, 1<<30)); len(got) != 10 || got[0] != 191 || got[9] != 200 {
		t.Fatalf("events after release: %v", got)
	}
	r.release(100) // already gone: a no-op
	if r.n != 10 {
		t.Fatalf("release below the oldest dropped events: n=%d", r.n)
	}
	r.push(event{seq: 201, msg: m})
	r.release(201)
	if r.buf != nil || r.n != 0 || r.bytes != 0 {
		t.Fatalf("empty ring kept buf=%d n=%d bytes=%d", len(r.buf), r.n, r.bytes)
	}
}

func TestReplayTrimWrittenKeepsNewestWrittenAndAllUnwritten(t *testing.T) {
	m := comet.MustMessage("t", 1)
	tests := []struct {
		name              string
		push, written     int
		keep              int
		wantOldest, wantN int
	}{
		{"keeps the newest written", 200, 200, 64, 137, 64},
		{"never drops unwritten", 200, 100, 64, 101, 100},
		{"under keep: untouched", 50, 50, 64, 1, 50},
		{"nothing written", 200, 0, 64, 1, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := replay{maxEvents: 1024, maxBytes: 1 << 30}
			for i := 1; i <= tt.push; i++ {
				r.push(event{seq: uint64(i), msg: m})
			}
			r.trimWritten(uint64(tt.written), tt.keep)
			if int(r.n) != tt.wantN || r.oldest() != uint64(tt.wantOldest) || int(r.bytes) != tt.wantN*m.Size() {
				t.Fatalf("n=%d oldest=%d bytes=%d, want n=%d oldest=%d", r.n, r.oldest(), r.bytes, tt.wantN, tt.wantOldest)
			}
		})
	}
}
