package gameloop_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/gameloop/modetest"
)

// short are match rules that make a whole match take a moment of CPU.
var short = gameloop.Settings{Duration: 20 * time.Second, Countdown: 500 * time.Millisecond, Intermission: time.Second}

// fastManager runs rooms of every mode on a virtual clock with short matches.
func fastManager(t *testing.T, store comet.MatchStore, tweak ...func(*gameloop.ManagerConfig)) (*gameloop.Manager, *modetest.Bus) {
	t.Helper()
	bus := newMemBus()
	cfg := gameloop.ManagerConfig{
		Bus: bus, Store: store, Modes: append(slices.Clone(modes.All()), testModes...),
		Clock:        gameloop.NewManualClock(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), true),
		BotFillDelay: time.Second, EmptyTimeout: time.Minute,
		Settings: map[string]gameloop.Settings{},
	}
	for _, md := range cfg.Modes {
		cfg.Settings[md.Name()] = short
	}
	for _, f := range tweak {
		f(&cfg)
	}
	m := gameloop.NewManager(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m, bus
}

func TestBotsFillRoomAndPlayWholeMatch(t *testing.T) {
	for _, md := range modes.All() {
		t.Run(md.Name(), func(t *testing.T) { playWholeMatch(t, md.Name(), md.Defaults().MinPlayers) })
	}
}

func playWholeMatch(t *testing.T, mode string, minPlayers int) {
	store := &memStore{}
	m, _ := fastManager(t, store)
	sink := newRecSink()
	info, err := m.QuickJoin(context.Background(), mode, gameloop.Participant{ID: "p1", Name: "Ada", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode != mode || info.Players != 1 || info.State != "waiting" {
		t.Fatalf("joined %+v", info)
	}
	waitFor(t, 10*time.Second, "match.result", func() bool { return sink.count("match.result") > 0 })
	sink.check(t)

	got := sink.types()
	if got[0] != "room.joined" || got[1] != "room.state" || got[2] != "room.snapshot" {
		t.Fatalf("first messages %v, want room.joined, room.state, room.snapshot", got[:3])
	}
	raw, _ := sink.last("match.result")
	res := decode[comet.MatchResult](t, raw)
	if len(res.Players) != minPlayers || res.Aborted || res.Mode != mode || res.RoomID != info.ID {
		t.Fatalf("result %+v", res)
	}
	bots, ranks := 0, map[int]int{}
	for _, p := range res.Players {
		if p.Bot {
			bots++
		}
		ranks[p.Rank]++
	}
	if bots != minPlayers-1 || ranks[1] == 0 {
		t.Errorf("want 2 bots and a winner, got %+v", res.Players)
	}
	// More than one match may have finished by now (the clock is fast):
	// the published result must be among the saved ones, with its players.
	var saved *comet.MatchResult
	waitFor(t, 5*time.Second, "saved result", func() bool {
		for _, s := range store.saved() {
			if s.ID == res.ID {
				saved = s
				return true
			}
		}
		return false
	})
	if len(saved.Players) != len(res.Players) || saved.Mode != res.Mode || saved.Seed != res.Seed {
		t.Errorf("saved %+v, published %+v", saved, res)
	}
}

func TestJoinedEventShape(t *testing.T) {
	m, _ := fastManager(t, nil)
	sink := newRecSink()
	if _, err := m.Create(context.Background(), gameloop.RoomSpec{Mode: "walk", Name: "Mine", Max: 4, Private: true},
		gameloop.Participant{ID: "p1", Name: "Ada", Sink: sink}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "room.joined", func() bool { return sink.count("room.joined") > 0 })
	raw, _ := sink.last("room.joined")
	var j map[string]any
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	if j["name"] != "Mine" || j["mode"] != "walk" || j["private"] != true || j["max"] != 4.0 || j["tick_hz"] != 20.0 {
		t.Errorf("room.joined %s", raw)
	}
	if code, _ := j["code"].(string); len(code) != 6 {
		t.Errorf("creator of a private room got no join code: %s", raw)
	}
}

// TestResultsRankPresentPlayersThenLeavers: a player who left is listed
// after those present with stats.left = 1; one who left and came back is
// listed once.
func TestResultsRankPresentPlayersThenLeavers(t *testing.T) {
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: testModes,
		Clock:    gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
		Settings: map[string]gameloop.Settings{"walk": {Duration: 10 * time.Second}},
	})
	room := gameloop.NewHandRoom(m, "walk", 0)
	stay, s := player("stay")
	for _, p := range []gameloop.Participant{stay, {ID: "quitter", Name: "Q"}, {ID: "back", Name: "B"}, {ID: "bot-1", Name: "Bot"}} {
		if err := room.Join(p); err != nil {
			t.Fatal(err)
		}
	}
	room.Start()
	for step := 0; room.State() == gameloop.StateRunning; step++ {
		switch step {
		case 40:
			room.Leave("quitter")
			room.Leave("back")
		case 60:
			if err := room.Join(gameloop.Participant{ID: "back", Name: "B"}); err != nil {
				t.Fatal(err)
			}
		}
		room.Step()
	}
	raw, ok := s.last("match.result")
	if !ok {
		t.Fatal("no match.result")
	}
	res := decode[comet.MatchResult](t, raw)
	var ids []string
	for i, p := range res.Players {
		ids = append(ids, p.PlayerID)
		left := p.Stats["left"] == 1
		if left != (p.PlayerID == "quitter") {
			t.Errorf("%s: left=%v", p.PlayerID, left)
		}
		if i > 0 && p.Rank < res.Players[i-1].Rank {
			t.Errorf("ranks not ascending: %+v", res.Players)
		}
		if p.Rank < 1 || p.Rank > i+1 {
			t.Errorf("%s ranked %d at position %d", p.PlayerID, p.Rank, i+1)
		}
		if p.Bot != (p.PlayerID == "bot-1") {
			t.Errorf("%s: bot=%v", p.PlayerID, p.Bot)
		}
	}
	if len(ids) != 4 || ids[3] != "quitter" {
		t.Errorf("result players %v, want 4 with the quitter last", ids)
	}
	if res.Started.IsZero() || res.Ended.Before(res.Started) || res.Seed == 0 {
		t.Errorf("result times or seed: %+v", res)
	}
}

// TestWallClockRoomTicks runs a room on the real clock for about a second:
// bots fill it, the match starts and diffs arrive at the tick rate.
func TestWallClockRoomTicks(t *testing.T) {
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: testModes, BotFillDelay: 100 * time.Millisecond,
		Settings: map[string]gameloop.Settings{"walk": {MinPlayers: 2, Countdown: 100 * time.Millisecond}},
	})
	defer m.Shutdown(context.Background())
	sink := newRecSink()
	start := time.Now()
	if _, err := m.QuickJoin(context.Background(), "walk", gameloop.Participant{ID: "p1", Name: "A", Sink: sink}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "10 diffs", func() bool { return sink.count("room.diff") >= 10 })
	// 100 ms bot fill + 100 ms countdown + 10 ticks of 50 ms, give or take a tick.
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("10 diffs after %v: faster than 20 Hz", took)
	}
	if info, _ := m.RoomOf("p1"); info.Players != 2 || info.State != gameloop.StateRunning {
		t.Errorf("room %+v, want 2 players running", info)
	}
	sink.check(t)
}
