package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// gameParams: Rooms arena rooms of Players bots each; inputs at InputHz per
// bot for Duration once every room runs.
type gameParams struct {
	Rooms      int
	Players    int
	Duration   time.Duration
	InputHz    float64
	Transports []string
	TickHz     int // the mode's tick rate (arena: 20), for the target
}

// gameResult is one game measurement.
type gameResult struct {
	Rooms, Players int
	Transports     []string
	Bots, Running  int64
	JoinFailed     int
	JoinTook       time.Duration
	Inputs         int64
	InputsWS       int64 // of which sent up a WebSocket
	Observed       int64
	Unobserved     int64
	InputErrs      int64
	Lat            histSnap
	PostLat        histSnap // input POST round trips
	CPUPct         float64
	TickP99        float64 // seconds: the upper bound of the histogram bucket
	Ticks          float64
	Overruns       float64
	Skipped        float64
	ViewsPerSec    float64
	ClientCPU      time.Duration // the agents' CPU during the inputs
	RSS            float64       // server RSS at the end of the inputs
	HeapInuse      float64       // server heap in use then
	Duration       time.Duration
	InputHz        float64
	TickHz         int
	Errs           []string
}

// errNoGame means the server under test has no arena mode registered.
var errNoGame = errors.New("the server has no arena mode")

// gameModes asks the server which game modes it has.
func gameModes(ctx context.Context, t *target) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Base+"/api/modes", nil)
	if err != nil {
		return nil, fmt.Errorf("modes: %w", err)
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("modes: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("modes: status %d: %.100s", resp.StatusCode, body)
	}
	var m struct {
		Modes []struct {
			Name string `json:"name"`
		} `json:"modes"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("modes: %w", err)
	}
	names := make([]string, len(m.Modes))
	for i, md := range m.Modes {
		names[i] = md.Name
	}
	return names, nil
}

// runGame fills the rooms with bots through room.create and room.join, waits
// until every room runs, then has every bot send inputs and times each until
// its own view shows it; it also reads the game loop's tick metrics.
func runGame(ctx context.Context, t *target, f *fleet, p gameParams) (gameResult, error) {
	r := gameResult{Rooms: p.Rooms, Players: p.Players, Transports: p.Transports, Duration: p.Duration, InputHz: p.InputHz, TickHz: p.TickHz}
	modes, err := gameModes(ctx, t)
	if err != nil {
		return r, err
	}
	if !contains(modes, "arena") {
		return r, fmt.Errorf("%w (modes: %v)", errNoGame, modes)
	}
	defer f.closeAll(context.Background())
	joinStart := time.Now()
	rooms, failed, err := addRoomBots(ctx, f, p)
	r.JoinFailed = failed
	r.JoinTook = time.Since(joinStart)
	if err != nil {
		return r, err
	}
	if len(rooms) == 0 {
		st, _ := f.stats(ctx, false)
		return r, fmt.Errorf("game: no room could be created (%v)", st.Errs)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := f.stats(ctx, false)
		if err != nil {
			return r, err
		}
		r.Bots, r.Running = st.Bots, st.BotsRunning
		if st.BotsRunning >= st.Bots || time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return r, err
		}
	}
	m0, err := t.metrics(ctx)
	if err != nil {
		return r, err
	}
	s0, e0 := t.sample()
	c0 := f.cpu()
	if _, err := f.stats(ctx, true); err != nil {
		return r, err
	}
	if err := f.inputs(ctx, p.InputHz); err != nil {
		return r, err
	}
	if err := sleepCtx(ctx, p.Duration); err != nil {
		return r, err
	}
	s1, e1 := t.sample()
	r.ClientCPU = f.cpu() - c0
	m1, err := t.metrics(ctx)
	if err != nil {
		return r, err
	}
	views, err := f.stats(ctx, false)
	if err != nil {
		return r, err
	}
	if err := f.inputs(ctx, 0); err != nil { // stop, and wait for the last inputs to show
		return r, err
	}
	st, err := f.stats(ctx, false)
	if err != nil {
		return r, err
	}
	r.Inputs, r.Observed, r.Unobserved, r.InputErrs = st.Inputs, st.Observed, st.Unobserved, st.InputErrs
	r.InputsWS = st.InputsWS
	r.Lat, r.PostLat, r.Errs = st.GameLat, st.PostLat, st.Errs
	r.ViewsPerSec = float64(views.Views) / p.Duration.Seconds()
	r.CPUPct = deltaOf(s0, s1, e0, e1).CPUPct()
	r.RSS, r.HeapInuse = math.NaN(), m1.Sum("go_memstats_heap_inuse_bytes")
	if e1 == nil {
		r.RSS = float64(s1.RSS)
	}
	const tick = "comet_game_tick_seconds"
	r.TickP99 = bucketQuantile(m0.Buckets(tick, "mode", "arena"), m1.Buckets(tick, "mode", "arena"), 0.99)
	r.Ticks = m1.Sum(tick+"_count", "mode", "arena") - m0.Sum(tick+"_count", "mode", "arena")
	r.Overruns = m1.Sum("comet_game_tick_overruns_total", "mode", "arena") - m0.Sum("comet_game_tick_overruns_total", "mode", "arena")
	r.Skipped = m1.Sum("comet_game_ticks_skipped_total", "mode", "arena") - m0.Sum("comet_game_ticks_skipped_total", "mode", "arena")
	return r, nil
}

// addRoomBots makes p.Rooms rooms (a creator bot each, spread over the
// agents) and fills each with p.Players-1 joiners.
func addRoomBots(ctx context.Context, f *fleet, p gameParams) (rooms []string, failed int, err error) {
	var mu sync.Mutex
	var errs []error
	each := func(i int, req botsReq) botsResp {
		resp, err := f.bots(ctx, i, req)
		mu.Lock()
		defer mu.Unlock()
		failed += resp.Failed
		if err != nil {
			errs = append(errs, err)
		}
		return resp
	}
	var wg sync.WaitGroup
	for i := range f.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := each(i, botsReq{Count: f.share(p.Rooms, i), Create: true, Mode: "arena", Max: p.Players, Transports: p.Transports})
			mu.Lock()
			rooms = append(rooms, resp.Rooms...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range f.agents { // each agent joins its share of every room, rooms one after another
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, room := range rooms {
				if n := f.share(p.Players-1, i); n > 0 {
					each(i, botsReq{Count: n, Room: room, Mode: "arena", Transports: p.Transports})
				}
			}
		}()
	}
	wg.Wait()
	return rooms, failed, errors.Join(errs...)
}

// gameRows reports one game measurement.
func gameRows(r gameResult) []row {
	path := "inputs by POST"
	if contains(r.Transports, "ws") {
		path = "inputs up the WebSocket"
	}
	sc := fmt.Sprintf("game: %d arena room(s) × %d bots on %s (%s), %s, %g inputs/s per bot, %d Hz ticks",
		r.Rooms, r.Players, strings.Join(r.Transports, "/"), path, r.Duration.Round(time.Second), r.InputHz, r.TickHz)
	post := fmt.Sprintf("%s / %s", ms(r.PostLat.Quantile(0.5)), ms(r.PostLat.Quantile(0.99)))
	if r.PostLat.N == 0 {
		post = "none (no input went by POST)"
	}
	budget := time.Second/time.Duration(max(r.TickHz, 1)) + 10*time.Millisecond
	p99 := r.Lat.Quantile(0.99)
	tickBudget := 1 / float64(max(r.TickHz, 1))
	rows := []row{
		{sc, "bots joined / running / join failures", fmt.Sprintf("%s / %s / %d (joins took %s)", count(r.Bots), count(r.Running), r.JoinFailed, r.JoinTook.Round(100*time.Millisecond)), "all running", verdict(r.Running == r.Bots && r.JoinFailed == 0)},
		{sc, "inputs sent (up a WebSocket) / seen applied / never seen / failed", fmt.Sprintf("%s (%s) / %s / %s / %d", count(r.Inputs), count(r.InputsWS), count(r.Observed), count(r.Unobserved), r.InputErrs), "", ""},
		{sc, "input → observed diff p50", ms(r.Lat.Quantile(0.5)), "", ""},
		{sc, "input → observed diff p99", ms(p99), fmt.Sprintf("≤ %s (one tick + 10 ms)", ms(budget)), verdictIf(r.Lat.N > 0, p99 <= budget)},
		{sc, "input → observed diff max", ms(r.Lat.Max()), "", ""},
		{sc, "input POST round trip p50 / p99 (part of the above)", post, "", ""},
		{sc, "server CPU (client processes)", fmt.Sprintf("%s (%s)", pct(r.CPUPct), pct(100*r.ClientCPU.Seconds()/r.Duration.Seconds())), "", ""},
		{sc, "tick duration p99 (bucket bound)", tickSeconds(r.TickP99), fmt.Sprintf("< %s (the tick)", ms(time.Duration(tickBudget*float64(time.Second)))), verdictIf(!math.IsNaN(r.TickP99), r.TickP99 < tickBudget)},
		{sc, "ticks / overruns / skipped", fmt.Sprintf("%s / %s / %s", num(r.Ticks), num(r.Overruns), num(r.Skipped)), "0 overruns", verdict(r.Overruns == 0 && r.Skipped == 0)},
		{sc, "views (snapshots + diffs) delivered per second", num(r.ViewsPerSec), "", ""},
		{sc, "server RSS / heap in use at the end", fmt.Sprintf("%s / %s (%s / %s per bot)", mib(r.RSS), mib(r.HeapInuse),
			kib(r.RSS/float64(max(r.Bots, 1))), kib(r.HeapInuse/float64(max(r.Bots, 1)))), "", ""},
	}
	return rows
}

func tickSeconds(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "> 100 ms"
	}
	return fmt.Sprintf("≤ %s", ms(time.Duration(v*float64(time.Second))))
}
