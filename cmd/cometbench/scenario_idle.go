package main

import (
	"context"
	"fmt"
	"math"
	"time"
)

// idleParams: hold Streams streams (opened at Rate per second, transports in
// turn) for Hold, heartbeats on.
type idleParams struct {
	Streams    int
	Rate       float64
	Hold       time.Duration
	Transports []string
	Settle     time.Duration // wait after the ramp before measuring (default 2 s)
}

// idleResult is what holding idle streams cost the server.
type idleResult struct {
	Name       string
	Added      int64 // streams held at the end that this run opened
	Failed     int64 // opens that failed
	Lost       int64 // streams lost after opening
	RampTook   time.Duration
	RSSPer     float64 // bytes of RSS per held stream at the end of the hold
	RSSRampPer float64 // bytes of RSS per held stream right after the ramp (and the settle)
	HeapPer    float64 // bytes of heap in use per held stream
	LivePer    float64 // bytes of heap marked live by the last GC per held stream (NaN: not exported)
	StackPer   float64 // bytes of goroutine stacks per held stream
	GorPer     float64 // goroutines per held stream
	GCAfter    bool    // a GC cycle completed after the ramp (heap figures free of ramp garbage)
	CPUPct     float64 // server CPU while idle, % of a core
	Heartbeats int64   // heartbeats the clients got during the hold
	Hold       time.Duration
	RSS        float64 // server RSS at the end
	Errs       []string

	// The baseline before the ramp, for later samples of the same streams.
	base     procSample
	baseErr  error
	baseHeap float64
}

// memNow is the memory per stream of r's streams now, against r's baseline:
// RSS and heap in use, for a look after traffic has flowed through them.
func (r idleResult) memNow(ctx context.Context, t *target) (rssPer, heapPer float64) {
	rssPer, heapPer = math.NaN(), math.NaN()
	if r.Added <= 0 {
		return
	}
	if m, err := t.metrics(ctx); err == nil {
		heapPer = (m.Sum("go_memstats_heap_inuse_bytes") - r.baseHeap) / float64(r.Added)
	}
	s, err := t.sample()
	if d := deltaOf(r.base, s, r.baseErr, err); d.ok {
		rssPer = float64(d.RSS) / float64(r.Added)
	}
	return
}

// runIdle opens p.Streams streams on f against t, holds them, and measures
// the memory they cost (deltas from before the ramp, per stream) and the
// server's CPU while they sit idle.
func runIdle(ctx context.Context, t *target, f *fleet, p idleParams) (idleResult, error) {
	r := idleResult{Name: t.Name, Hold: p.Hold}
	m0, err := t.metrics(ctx)
	if err != nil {
		return r, err
	}
	s0, e0 := t.sample()
	r.base, r.baseErr, r.baseHeap = s0, e0, m0.Sum("go_memstats_heap_inuse_bytes")
	st0, err := f.stats(ctx, false)
	if err != nil {
		return r, err
	}
	start := time.Now()
	st, err := f.open(ctx, p.Streams, p.Rate, p.Transports)
	r.RampTook = time.Since(start)
	if err != nil {
		return r, fmt.Errorf("idle %s: %w", t.Name, err)
	}
	r.Failed = st.OpenFailed - st0.OpenFailed
	if p.Settle <= 0 {
		p.Settle = 2 * time.Second
	}
	if err := sleepCtx(ctx, p.Settle); err != nil { // let the ramp's last requests finish
		return r, err
	}
	st1, err := f.stats(ctx, true)
	if err != nil {
		return r, err
	}
	gc1, _ := t.metrics(ctx)
	s1, e1 := t.sample()
	r.RSSRampPer = math.NaN()
	if d := deltaOf(s0, s1, e0, e1); d.ok && st1.Held > st0.Held {
		r.RSSRampPer = float64(d.RSS) / float64(st1.Held-st0.Held)
	}
	if err := sleepCtx(ctx, p.Hold); err != nil {
		return r, err
	}
	s2, e2 := t.sample()
	m2, err := t.metrics(ctx)
	if err != nil {
		return r, err
	}
	st2, err := f.stats(ctx, false)
	if err != nil {
		return r, err
	}
	r.Added = st2.Held - st0.Held
	r.Lost = st2.Lost - st0.Lost
	r.Heartbeats = st2.Heartbeats
	r.Errs = st2.Errs
	n := float64(r.Added)
	if n <= 0 {
		return r, fmt.Errorf("idle %s: no stream held (%v)", t.Name, st2.Errs)
	}
	per := func(name string) float64 {
		return (m2.Sum(name) - m0.Sum(name)) / n
	}
	r.HeapPer = per("go_memstats_heap_inuse_bytes")
	r.LivePer = per("go_gc_heap_live_bytes") // NaN from a server that does not export it
	r.StackPer = per("go_memstats_stack_inuse_bytes")
	r.GorPer = per("go_goroutines")
	r.GCAfter = m2.Sum("go_gc_duration_seconds_count") > gc1.Sum("go_gc_duration_seconds_count")
	if d := deltaOf(s0, s2, e0, e2); d.ok {
		r.RSSPer = float64(d.RSS) / n
		r.RSS = float64(s2.RSS)
	} else {
		r.RSSPer, r.RSS = math.NaN(), math.NaN()
	}
	r.CPUPct = deltaOf(s1, s2, e1, e2).CPUPct()
	return r, nil
}

// idleRows compares the server with the naive baseline (nil: not measured)
// on the given transports. goal is the number of streams the run must hold
// (0: no target, a short run).
func idleRows(c idleResult, naive *idleResult, goal int, transports []string) []row {
	sc := fmt.Sprintf("idle: %s streams held %s", count(c.Added), c.Hold.Round(time.Second))
	held := row{sc, "streams held / open failures / lost", fmt.Sprintf("%s / %d / %d", count(c.Added), c.Failed, c.Lost), "0 failed, 0 lost", verdict(c.Lost == 0 && c.Failed == 0)}
	if goal > 0 {
		held.Target = fmt.Sprintf("≥ %s held, 0 failed, 0 lost", count(int64(goal)))
		held.Verdict = verdict(c.Added >= int64(goal) && c.Lost == 0 && c.Failed == 0)
	}
	rows := []row{held,
		{sc, "ramp", fmt.Sprintf("%s in %s", count(c.Added), c.RampTook.Round(100*time.Millisecond)), "", ""},
		{sc, "server RSS per held stream right after the ramp", kib(c.RSSRampPer), "≤ 2 KiB (issue 14)", verdictIf(!math.IsNaN(c.RSSRampPer), c.RSSRampPer <= 2048)},
		{sc, "server RSS per held stream after the hold (settled)", kib(c.RSSPer), "≤ 1 KiB (issue 14)", verdictIf(!math.IsNaN(c.RSSPer), c.RSSPer <= 1024)},
	}
	if naive != nil {
		rows = append(rows,
			row{sc, "RSS per stream right after the ramp, naive ÷ comet", fmt.Sprintf("%.1f×", ratio(naive.RSSRampPer, c.RSSRampPer)), "", ""},
			row{sc, "RSS per stream after the hold, naive ÷ comet", fmt.Sprintf("%.1f×", ratio(naive.RSSPer, c.RSSPer)), "", ""})
	}
	rows = append(rows,
		row{sc, "server heap in use per held stream", kib(c.HeapPer) + gcNote(c.GCAfter), "", ""},
		row{sc, "server live heap per held stream (after the last GC)", kibOrNA(c.LivePer), "", ""},
		row{sc, "goroutine stacks per held stream", kib(c.StackPer), "", ""},
		row{sc, "goroutines per held stream", fmt.Sprintf("%.3f", c.GorPer), "0 (no goroutine per idle stream)", verdict(c.GorPer < 0.01)},
		row{sc, "server CPU while idle", pct(c.CPUPct), "", ""},
		row{sc, "heartbeats received while idle", count(c.Heartbeats), "", ""},
	)
	if naive != nil {
		ns := fmt.Sprintf("idle baseline: %s, %s streams", naiveName(transports), count(naive.Added))
		rows = append(rows,
			row{ns, "RSS per held stream right after the ramp", kib(naive.RSSRampPer), "", ""},
			row{ns, "RSS per held stream after the hold", kib(naive.RSSPer), "", ""},
			row{ns, "heap in use per held stream", kib(naive.HeapPer) + gcNote(naive.GCAfter), "", ""},
			row{ns, "goroutine stacks per held stream", kib(naive.StackPer), "", ""},
			row{ns, "goroutines per held stream", fmt.Sprintf("%.3f", naive.GorPer), "", ""},
			row{ns, "CPU while idle", pct(naive.CPUPct), "", ""},
			row{ns, "open failures / lost", fmt.Sprintf("%d / %d", naive.Failed, naive.Lost), "", ""},
		)
	}
	return rows
}

func verdictIf(measured, ok bool) string {
	if !measured {
		return ""
	}
	return verdict(ok)
}

func gcNote(gc bool) string {
	if gc {
		return ""
	}
	return " (no GC since the ramp: includes its garbage)"
}

func kibOrNA(v float64) string {
	if math.IsNaN(v) {
		return "not exported"
	}
	return kib(v)
}

// naiveName names the naive baseline that served transports: the Echo
// handler, gorilla/websocket for ws.
func naiveName(transports []string) string {
	ws := contains(transports, "ws")
	switch {
	case ws && len(transports) == 1:
		return "naive gorilla/websocket server"
	case ws:
		return "naive Echo handler (gorilla/websocket for ws)"
	}
	return "naive Echo handler"
}
