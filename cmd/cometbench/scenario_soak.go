package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// soakParams is a long run with lobby streams and bot rooms at once, sampled
// at intervals, to show that memory, goroutines and open files stay flat.
type soakParams struct {
	Streams    int
	Rate       float64
	Rooms      int
	Players    int
	InputHz    float64
	Duration   time.Duration
	Every      time.Duration // sampling interval
	Warmup     time.Duration // the baseline sample is taken after this
	Transports []string
}

// soakSample is one point of the curve.
type soakSample struct {
	At         time.Duration
	RSS        float64
	Heap       float64
	Goroutines float64
	FDs        float64
	Streams    float64
	Sessions   float64
}

// soakResult is the curve and its verdict.
type soakResult struct {
	P       soakParams
	Samples []soakSample
	Errs    []string
}

// runSoak opens the streams, fills the rooms with bots that keep sending
// inputs, then samples the server until Duration has passed. Streams recycle
// (every 5 min by default) and reconnect during the run, so it also covers
// churn.
func runSoak(ctx context.Context, t *target, f *fleet, p soakParams) (soakResult, error) {
	r := soakResult{P: p}
	defer f.closeAll(context.Background())
	if _, err := f.open(ctx, p.Streams, p.Rate, p.Transports); err != nil {
		return r, fmt.Errorf("soak: open streams: %w", err)
	}
	if p.Rooms > 0 {
		if _, _, err := addRoomBots(ctx, f, gameParams{Rooms: p.Rooms, Players: p.Players, Transports: p.Transports}); err != nil {
			return r, fmt.Errorf("soak: bots: %w", err)
		}
		if err := f.inputs(ctx, p.InputHz); err != nil {
			return r, err
		}
	}
	start := time.Now()
	for {
		s, err := soakSampleOf(ctx, t, time.Since(start))
		if err != nil {
			return r, err
		}
		r.Samples = append(r.Samples, s)
		if s.At >= p.Duration {
			break
		}
		if err := sleepCtx(ctx, min(p.Every, p.Duration-s.At+time.Second)); err != nil {
			return r, err
		}
	}
	if err := f.inputs(ctx, 0); err != nil {
		return r, err
	}
	st, err := f.stats(ctx, false)
	if err == nil {
		r.Errs = st.Errs
	}
	return r, nil
}

func soakSampleOf(ctx context.Context, t *target, at time.Duration) (soakSample, error) {
	m, err := t.metrics(ctx)
	if err != nil {
		return soakSample{}, err
	}
	s := soakSample{
		At:         at,
		Heap:       m.Sum("go_memstats_heap_inuse_bytes"),
		Goroutines: m.Sum("go_goroutines"),
		FDs:        m.Sum("process_open_fds"),
		Streams:    m.Sum("comet_streams"),
		Sessions:   m.Sum("comet_sessions"),
	}
	if ps, err := t.sample(); err == nil {
		s.RSS = float64(ps.RSS)
	}
	return s, nil
}

// window averages up to three samples from i on, so one sample taken just
// before a garbage collection does not decide the verdict.
func (r soakResult) window(i int) soakSample {
	var w soakSample
	n := 0
	for ; n < 3 && i+n < len(r.Samples); n++ {
		s := r.Samples[i+n]
		w.RSS += s.RSS
		w.Heap += s.Heap
		w.Goroutines += s.Goroutines
		w.FDs += s.FDs
	}
	w.RSS, w.Heap, w.Goroutines, w.FDs = w.RSS/float64(n), w.Heap/float64(n), w.Goroutines/float64(n), w.FDs/float64(n)
	return w
}

// ends returns the averaged window after the warm-up and the last one.
func (r soakResult) ends() (base, last soakSample) {
	bi := 0
	for i, s := range r.Samples {
		if s.At >= r.P.Warmup {
			bi = i
			break
		}
	}
	return r.window(bi), r.window(max(len(r.Samples)-3, bi))
}

// flat reports whether the end of the run is within the allowed growth of
// the start: RSS and heap +15 %, goroutines and open files +5 % (+20).
func (r soakResult) flat() (rss, heap, gor, fds bool) {
	b, last := r.ends()
	within := func(v, base, frac, abs float64) bool { return v <= base*(1+frac)+abs }
	return within(last.RSS, b.RSS, 0.15, 0), within(last.Heap, b.Heap, 0.15, 0),
		within(last.Goroutines, b.Goroutines, 0.05, 20), within(last.FDs, b.FDs, 0.05, 20)
}

// soakRows is the curve (one row per sample) and the verdicts.
func soakRows(r soakResult) []row {
	sc := fmt.Sprintf("soak: %d streams + %d rooms × %d bots, %s", r.P.Streams, r.P.Rooms, r.P.Players, r.P.Duration)
	var rows []row
	for _, s := range r.Samples {
		rows = append(rows, row{sc, fmt.Sprintf("t=%s", s.At.Round(time.Second)),
			fmt.Sprintf("RSS %s, heap %s, %s goroutines, %s open files, %s streams, %s sessions",
				mib(s.RSS), mib(s.Heap), num(s.Goroutines), num(s.FDs), num(s.Streams), num(s.Sessions)), "", ""})
	}
	rss, heap, gor, fds := r.flat()
	b, last := r.ends()
	rows = append(rows,
		row{sc, "RSS, mean of 3 samples: after warm-up → end", fmt.Sprintf("%s → %s", mib(b.RSS), mib(last.RSS)), "≤ +15 %", verdict(rss)},
		row{sc, "heap in use, mean of 3 samples: after warm-up → end", fmt.Sprintf("%s → %s", mib(b.Heap), mib(last.Heap)), "≤ +15 %", verdict(heap)},
		row{sc, "goroutines: after warm-up → end", fmt.Sprintf("%s → %s", num(b.Goroutines), num(last.Goroutines)), "≤ +5 % + 20", verdict(gor)},
		row{sc, "open files: after warm-up → end", fmt.Sprintf("%s → %s", num(b.FDs), num(last.FDs)), "≤ +5 % + 20", verdict(fds)},
	)
	return rows
}

// runSoakCmd is `cometbench soak`: one long run, its curve and verdicts.
func runSoakCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := soakParams{Transports: []string{"multipart", "sse", "iframe"}}
	fs.IntVar(&p.Streams, "streams", 3000, "lobby streams held")
	fs.Float64Var(&p.Rate, "rate", 300, "streams opened per second")
	fs.IntVar(&p.Rooms, "rooms", 20, "arena rooms")
	fs.IntVar(&p.Players, "players", 10, "bots per room")
	fs.Float64Var(&p.InputHz, "input-hz", 2, "inputs per second per bot")
	fs.DurationVar(&p.Duration, "duration", 10*time.Minute, "how long to run")
	fs.DurationVar(&p.Every, "every", time.Minute, "sampling interval")
	fs.DurationVar(&p.Warmup, "warmup", 2*time.Minute, "the baseline sample is the first after this")
	out := fs.String("out", "", "also write the report to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.Duration+5*time.Minute)
	defer cancel()
	var report strings.Builder
	b, err := newBench(Config{Out: io.MultiWriter(stdout, &report), Stderr: stderr})
	if err != nil {
		return err
	}
	defer os.RemoveAll(b.cfg.Work)
	t, err := b.comet(ctx, "comet-soak")
	if err != nil {
		return err
	}
	defer t.Close()
	agents := (p.Streams+b.cfg.PerAgent-1)/b.cfg.PerAgent + (p.Rooms*p.Players+499)/500
	f, err := b.fleetOf(ctx, t, agents, false)
	if err != nil {
		return err
	}
	defer f.close()
	b.progress("soak: %d streams, %d rooms × %d bots, %s", p.Streams, p.Rooms, p.Players, p.Duration)
	r, err := runSoak(ctx, t, f, p)
	if err != nil {
		return err
	}
	b.add(soakRows(r)...)
	b.noteErrs("soak", r.Errs)
	b.report("cometbench soak", []string{fmt.Sprintf("sampled every %s; baseline after a %s warm-up; streams recycle every 5 min (server default) and reconnect", p.Every, p.Warmup)})
	if *out != "" {
		return os.WriteFile(*out, []byte(report.String()), 0o644)
	}
	return nil
}
