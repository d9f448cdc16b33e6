package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// throughputParams: publish MsgRate tagged lines a second for Duration to
// every stream the fleet holds.
type throughputParams struct {
	MsgRate  float64
	Duration time.Duration
}

// throughputResult: events delivered per CPU-second of the server.
type throughputResult struct {
	Name      string
	Held      int64
	Messages  int
	Expected  int64
	Got       int64
	PubErrs   int64
	CPU       time.Duration // server CPU from the first publish until delivery finished
	ClientCPU time.Duration // the agents' CPU over the same window
	Window    time.Duration
	PerCPUSec float64 // deliveries per server CPU-second
	PerSec    float64 // deliveries per second of the publishing window
	BytesPer  float64 // stream bytes the server wrote per delivery (from its metrics; NaN without)
	Lat       histSnap
	Dups      int64
	SeqGaps   int64
	SeqDups   int64
	Errs      []string

	// A baseline's memory (floorOn): RSS per held socket after the ramp
	// and after the traffic.
	RSSRampPer  float64
	RSSAfterPer float64
}

// runThroughput publishes at a fixed rate through pub and counts the
// deliveries the fleet sees against the CPU the target spent.
func runThroughput(ctx context.Context, t *target, f *fleet, pub publisher, p throughputParams) (throughputResult, error) {
	r := throughputResult{Name: t.Name}
	st0, err := f.stats(ctx, true)
	if err != nil {
		return r, err
	}
	r.Held = st0.Held
	r.Messages = int(math.Round(p.MsgRate * p.Duration.Seconds()))
	r.Expected = liveStreams(st0) * int64(r.Messages)
	m0, merr0 := t.metrics(ctx) // the raw writer has none
	s0, e0 := t.sample()
	c0 := f.cpu()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for k := 0; k < r.Messages; k++ {
		due := start.Add(time.Duration(float64(k) / p.MsgRate * float64(time.Second)))
		if err := sleepCtx(ctx, time.Until(due)); err != nil {
			return r, err
		}
		wg.Add(1)
		go func() { // a slow publish must not delay the schedule
			defer wg.Done()
			if err := pub.publish(ctx, k, time.Now()); err != nil {
				mu.Lock()
				r.PubErrs++
				if len(r.Errs) < maxErrs {
					r.Errs = append(r.Errs, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	window := time.Since(start)
	wg.Wait()
	st, err := waitTagged(ctx, f, r.Expected, 5*time.Second, 60*time.Second)
	if err != nil {
		return r, err
	}
	s1, e1 := t.sample()
	r.ClientCPU = f.cpu() - c0
	r.BytesPer = math.NaN()
	if m1, err := t.metrics(ctx); err == nil && merr0 == nil && st.Tagged > 0 {
		r.BytesPer = (m1.Sum("comet_stream_bytes_total") - m0.Sum("comet_stream_bytes_total")) / float64(st.Tagged)
	}
	r.Got, r.Lat = st.Tagged, st.Lat
	r.Dups, r.SeqGaps, r.SeqDups = st.TagDups, st.SeqGaps, st.SeqDups
	r.Errs = append(r.Errs, st.Errs...)
	r.Window = window
	if d := deltaOf(s0, s1, e0, e1); d.ok && d.CPU > 0 {
		r.CPU = d.CPU
		r.PerCPUSec = float64(r.Got) / d.CPU.Seconds()
	} else {
		r.PerCPUSec = math.NaN()
	}
	r.PerSec = float64(r.Got) / max(window.Seconds(), 1/p.MsgRate)
	return r, nil
}

// throughputRows compares the server with the raw writer (nil: not measured).
func throughputRows(c throughputResult, raw *throughputResult) []row {
	sc := fmt.Sprintf("throughput: %d lines × %s streams", c.Messages, count(c.Held))
	rows := []row{
		{sc, "deliveries (got / expected)", fmt.Sprintf("%s / %s", count(c.Got), count(c.Expected)), "all", verdict(c.Got == c.Expected && c.PubErrs == 0)},
		{sc, "duplicates / seq gaps / seq repeats", fmt.Sprintf("%d / %d / %d", c.Dups, c.SeqGaps, c.SeqDups), "0 / 0 / 0", verdict(c.Dups+c.SeqGaps+c.SeqDups == 0)},
		{sc, "deliveries per second", num(c.PerSec), "", ""},
		{sc, "server CPU / client CPU", fmt.Sprintf("%.2f s / %.2f s over %.1f s", c.CPU.Seconds(), c.ClientCPU.Seconds(), c.Window.Seconds()), "", ""},
		{sc, "stream bytes written per delivery", num(c.BytesPer), "", ""},
		{sc, "events delivered per server CPU-second", num(c.PerCPUSec), "", ""},
		{sc, "latency p50 / p99 / max", fmt.Sprintf("%s / %s / %s", ms(c.Lat.Quantile(.5)), ms(c.Lat.Quantile(.99)), ms(c.Lat.Max())), "", ""},
	}
	if raw != nil {
		rs := fmt.Sprintf("throughput limit: raw writer, %d lines × %s sockets", raw.Messages, count(raw.Held))
		rq := ratio(c.PerCPUSec, raw.PerCPUSec)
		rows = append(rows,
			row{rs, "deliveries (got / expected)", fmt.Sprintf("%s / %s", count(raw.Got), count(raw.Expected)), "", ""},
			row{rs, "writer CPU / client CPU", fmt.Sprintf("%.2f s / %.2f s", raw.CPU.Seconds(), raw.ClientCPU.Seconds()), "", ""},
			row{rs, "events delivered per CPU-second", num(raw.PerCPUSec), "", ""},
			row{rs, "latency p50 / p99 / max", fmt.Sprintf("%s / %s / %s", ms(raw.Lat.Quantile(.5)), ms(raw.Lat.Quantile(.99)), ms(raw.Lat.Max())), "", ""},
			row{"throughput: comet ÷ raw writer", "events per CPU-second, ratio", num(rq), "≥ 0.8", verdictIf(!math.IsNaN(rq), rq >= 0.8)},
		)
	}
	return rows
}
