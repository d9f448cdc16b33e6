package gameloop_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
)

// short are match rules that make a whole match take a moment of CPU.
var short = gameloop.Settings{Duration: 20 * time.Second, Countdown: 500 * time.Millisecond, Intermission: time.Second}

// fastManager runs rooms of every mode on a virtual clock with short matches.
func fastManager(t *testing.T, store comet.MatchStore, tweak ...func(*gameloop.ManagerConfig)) (*gameloop.Manager, *memBus) {
	t.Helper()
	bus := newMemBus()
	cfg := gameloop.ManagerConfig{
		Bus: bus, Store: store, Modes: modes.All(),
		Clock:        gameloop.NewManualClock(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), true),
		BotFillDelay: time.Second, EmptyTimeout: time.Minute,
		Settings:     map[string]gameloop.Settings{"tag": short, "snake": short, "arena": short},
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
	waitFor(t, 5*time.Second, "saved result", func() bool { return len(store.saved()) == 1 })
	if s := store.saved()[0]; s.ID != res.ID {
		t.Errorf("saved %s, published %s", s.ID, res.ID)
	}
}

func TestJoinedEventShape(t *testing.T) {
	m, _ := fastManager(t, nil)
	sink := newRecSink()
	if _, err := m.Create(context.Background(), gameloop.RoomSpec{Mode: "tag", Name: "Mine", Max: 4, Private: true},
		gameloop.Participant{ID: "p1", Name: "Ada", Sink: sink}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "room.joined", func() bool { return sink.count("room.joined") > 0 })
	raw, _ := sink.last("room.joined")
	var j map[string]any
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	if j["name"] != "Mine" || j["mode"] != "tag" || j["private"] != true || j["max"] != 4.0 || j["tick_hz"] != 20.0 {
		t.Errorf("room.joined %s", raw)
	}
	if code, _ := j["code"].(string); len(code) != 6 {
		t.Errorf("creator of a private room got no join code: %s", raw)
	}
}
