package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"comet/server"
)

func TestRunIdle(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *target
	}{
		{"comet", func(t *testing.T) *target { return startCometT(t) }},
		{"naive", func(t *testing.T) *target { return startHelperT(t, "naive-server", 300*time.Millisecond) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := tc.start(t)
			f := fleetT(t, tg, 2, playerT(t, tg))
			trs := []string{"multipart", "sse", "iframe", "ws"}
			r, err := runIdle(ctx, tg, f, idleParams{Streams: 20, Rate: 200, Hold: time.Second, Transports: trs, Settle: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if r.Added != 20 || r.Failed != 0 || r.Lost != 0 {
				t.Fatalf("held %d, failed %d, lost %d: %v", r.Added, r.Failed, r.Lost, r.Errs)
			}
			if r.Heartbeats < 20 { // 300 ms heartbeats over a 1 s hold
				t.Fatalf("%d heartbeats in 1s from 20 streams beating every 300ms", r.Heartbeats)
			}
			if r.RSS <= 0 || r.CPUPct < 0 {
				t.Fatalf("no process figures: %+v", r)
			}
			if math.IsNaN(r.RSSRampPer) {
				t.Fatalf("no RSS right after the ramp: %+v", r)
			}
			rows := idleRows(r, &r, 0, trs)
			if len(rows) < 8 || rows[0].Verdict != "met" {
				t.Fatalf("rows: %+v", rows)
			}
		})
	}
}

func TestRunBroadcast(t *testing.T) {
	ctx := context.Background()
	tg := startCometT(t)
	f := fleetT(t, tg, 2, playerT(t, tg))
	if _, err := f.open(ctx, 9, 200, []string{"multipart", "sse", "iframe"}); err != nil {
		t.Fatal(err)
	}
	r, err := runBroadcast(ctx, tg, f, broadcastParams{Messages: 3, Spacing: 200 * time.Millisecond, Extra: 3, ExtraTransports: []string{"longpoll"}, Rate: 100}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if r.Held != 12 || r.Expected != 36 || r.Got != 36 || r.Dups != 0 || r.SeqGaps != 0 || r.MinPerMsg != 12 || r.Refused != 0 {
		t.Fatalf("broadcast of 3 lines to 12 streams: %+v", r)
	}
	if r.Lat.N != 36 || r.Lat.Max() <= 0 {
		t.Fatalf("latency: %+v", r.Lat)
	}
	rows := broadcastRows(r, 0)
	if rows[0].Verdict != "met" || rows[1].Verdict != "met" {
		t.Fatalf("rows: %+v", rows)
	}
}

func TestRunThroughput(t *testing.T) {
	ctx := context.Background()
	tg := startCometT(t)
	f := fleetT(t, tg, 1, playerT(t, tg))
	if _, err := f.open(ctx, 5, 200, []string{"multipart"}); err != nil {
		t.Fatal(err)
	}
	pub, err := newCometPublishers(ctx, tg.Base, 6, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	c, err := runThroughput(ctx, tg, f, pub, throughputParams{MsgRate: 5, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.Messages != 5 || c.Got != 25 || c.PubErrs != 0 {
		t.Fatalf("comet: %+v", c)
	}

	raw := startHelperT(t, "raw-writer", 0)
	rf := fleetT(t, raw, 1, "")
	if _, err := rf.open(ctx, 5, 200, []string{"multipart"}); err != nil {
		t.Fatal(err)
	}
	rp := newRawPublisher(raw.Base)
	defer rp.close()
	r, err := runThroughput(ctx, raw, rf, rp, throughputParams{MsgRate: 5, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Got != 25 || r.PubErrs != 0 {
		t.Fatalf("raw: %+v", r)
	}
	rows := throughputRows(c, &r)
	if last := rows[len(rows)-1]; !strings.Contains(last.Scenario, "÷") || last.Target != "≥ 0.8" {
		t.Fatalf("no ratio row: %+v", last)
	}
}

func TestRunGame(t *testing.T) {
	ctx := context.Background()
	tg := startCometT(t)
	f := fleetT(t, tg, 2, "")
	r, err := runGame(ctx, tg, f, gameParams{Rooms: 2, Players: 4, Duration: 1500 * time.Millisecond, InputHz: 4, Transports: []string{"multipart", "sse", "iframe"}, TickHz: 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Bots != 8 || r.Running != 8 || r.JoinFailed != 0 {
		t.Fatalf("bots %d running %d failed %d: %v", r.Bots, r.Running, r.JoinFailed, r.Errs)
	}
	if r.Inputs < 8 || r.Observed == 0 || r.InputErrs != 0 || r.Lat.N != uint64(r.Observed) {
		t.Fatalf("inputs %d observed %d errs %d: %+v", r.Inputs, r.Observed, r.InputErrs, r)
	}
	if r.Ticks < 20 || r.ViewsPerSec <= 0 {
		t.Fatalf("ticks %v views/s %v", r.Ticks, r.ViewsPerSec)
	}
	if s, _ := f.stats(ctx, false); s.Bots != 0 || s.Held != 0 {
		t.Fatalf("bots left behind: %+v", s)
	}
}

func TestRunGameWithoutModes(t *testing.T) {
	tg := startHelperT(t, "naive-server", time.Second) // has no /api/modes
	f := fleetT(t, tg, 1, "")
	_, err := runGame(context.Background(), tg, f, gameParams{Rooms: 1, Players: 2, Duration: time.Second, InputHz: 1})
	if err == nil {
		t.Fatal("a server without game modes measured a game")
	}
}

// TestSuiteInProcess runs the whole short suite, tiny, with every server in
// this process, and checks the report has every scenario's rows.
func TestSuiteInProcess(t *testing.T) {
	var out bytes.Buffer
	cfg := testConfig(t)
	cfg.Out = &out
	if testing.Verbose() {
		cfg.Stderr = os.Stderr
	}
	cfg.StartComet = func(ctx context.Context, name string) (*target, error) {
		return startCometInProcess(ctx, t.TempDir(), func(c *server.Config) { c.Hub.Heartbeat = 20 * time.Second })
	}
	cfg.StartNaive = func(ctx context.Context) (*target, error) {
		return startHelperT(t, "naive-server", 20*time.Second), nil
	}
	cfg.StartRaw = func(ctx context.Context) (*target, error) { return startHelperT(t, "raw-writer", 0), nil }
	b, err := newBench(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := shortSuite()
	s.Streams, s.Rate, s.Hold, s.Longpoll, s.History = 12, 500, 500*time.Millisecond, 3, 6
	s.Settle, s.HistoryHold = 200*time.Millisecond, 200*time.Millisecond
	s.MsgRate, s.TPDuration = 4, time.Second
	s.Messages, s.Spacing = 2, 300*time.Millisecond
	s.GameDuration, s.InputHz = time.Second, 4
	s.Games = []gameParams{{Rooms: 1, Players: 3}}
	if err := b.run(context.Background(), s); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{"| idle: 12 streams held", "idle baseline: naive Echo handler", "throughput: 4 lines × 12 streams",
		"throughput limit: raw writer", "broadcast: 2 chat lines to 15 streams", "lobby chat history full", "game: 1 arena room(s) × 3 bots", "load average"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "| error |") {
		t.Errorf("a part failed:\n%s", report)
	}
}

func TestParseGames(t *testing.T) {
	g, err := parseGames("1x1000, 100x10")
	if err != nil || len(g) != 2 || g[0].Rooms != 1 || g[0].Players != 1000 || g[1].Rooms != 100 || g[1].Players != 10 {
		t.Fatalf("= %+v, %v", g, err)
	}
	for _, bad := range []string{"x10", "1x1", "1x2000", "0x5", "ax5", "1*5"} {
		if _, err := parseGames(bad); err == nil {
			t.Errorf("parseGames(%q): no error", bad)
		}
	}
}

func TestDispatch(t *testing.T) {
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if code := run(ctx, []string{"help"}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "cometbench short") {
		t.Fatalf("help: %d %q", code, out.String())
	}
	if code := run(ctx, []string{"bogus"}, nil, &out, &errOut); code != 1 {
		t.Fatalf("unknown command exit %d", code)
	}
	if err := dispatch(ctx, []string{"idle", "--transports", "longpoll"}, nil, &out, &errOut); err == nil {
		t.Fatal("--transports longpoll accepted for held streams")
	}
	if err := dispatch(ctx, []string{"ws", "--game-transports", "multipart+carrier-pigeon"}, nil, &out, &errOut); err == nil {
		t.Fatal("bad --game-transports accepted")
	}
	if v, err := parseVariants("multipart+sse+iframe,ws"); err != nil || len(v) != 2 || len(v[0]) != 3 || v[1][0] != "ws" {
		t.Fatalf("parseVariants = %v, %v", v, err)
	}
	if err := dispatch(ctx, []string{"short", "--games", "3"}, nil, &out, &errOut); err == nil {
		t.Fatal("bad --games accepted")
	}
	if err := dispatch(ctx, []string{"naive-server", "--addr", "256.0.0.1:1"}, nil, &out, &errOut); err == nil {
		t.Fatal("naive-server listened on a bad address")
	}
	if errors.Is(dispatch(ctx, []string{"short", "-h"}, nil, &out, &errOut), nil) {
		t.Fatal("-h ran the suite")
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, []row{{"a|b", "m", "1", "", "met"}})
	want := "| scenario | metric | measured | target | result |\n|---|---|---|---|---|\n| a\\|b | m | 1 |   | met |\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if count(1234567) != "1,234,567" || count(-1000) != "-1,000" || count(12) != "12" {
		t.Fatalf("count: %s %s %s", count(1234567), count(-1000), count(12))
	}
}

// TestLiveStreams: a line is expected on every stream opened and not given
// up, held at the instant or not (mid-recycle); never fewer than those held.
func TestLiveStreams(t *testing.T) {
	for _, c := range []struct {
		st   agentStats
		want int64
	}{
		{agentStats{Held: 12, Opened: 12}, 12},
		{agentStats{Held: 59589, Opened: 60000}, 60000}, // 411 between a recycle and its resume
		{agentStats{Held: 9, Opened: 12, Lost: 2}, 10},  // two given up: not expected
		{agentStats{Held: 5, Opened: 3}, 5},             // never fewer than held
	} {
		if got := liveStreams(c.st); got != c.want {
			t.Errorf("liveStreams(%+v) = %d, want %d", c.st, got, c.want)
		}
	}
}
