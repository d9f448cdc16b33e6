package gameloop_test

import (
	"testing"
	"time"

	"comet"
	"comet/gameloop"
)

// duel is dot for two with a Seater: joins during a match wait in the queue
// and a player named "Banned" is refused.
var duel = gameloop.Define(gameloop.ModeSpec[int]{
	Name:     "duel",
	Settings: gameloop.Settings{TickHz: 20, MinPlayers: 2, DefaultMax: 2, MaxPlayers: 2, Duration: 2 * time.Second, Intermission: time.Second},
	Kinds:    dot.Kinds(),
	Input:    dot.Input(),
	Decode: func(data []byte) (int, error) {
		var v int
		err := gameloop.DecodeFlat("duel", data, func(key []byte, fv gameloop.FlatValue) error {
			n, err := fv.Int("v", -1, 1)
			v = int(n)
			return err
		})
		return v, err
	},
	New: func(env gameloop.Env) gameloop.Game[int] { return &duelGame{dotGame{env: env}} },
})

type duelGame struct{ dotGame }

func (g *duelGame) JoinAttempt(a gameloop.JoinAttempt) gameloop.Seating {
	switch {
	case a.Player.Name == "Banned":
		return gameloop.Seating{Refuse: "not you"}
	case a.Running:
		return gameloop.Seating{Queue: true}
	}
	return gameloop.Seating{}
}

func TestSeaterQueuesRefusesAndNeverOverfills(t *testing.T) {
	clk := gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false)
	m := gameloop.NewManager(gameloop.ManagerConfig{Bus: newMemBus(), Modes: []gameloop.Mode{duel}, Clock: clk})
	room := gameloop.NewHandRoom(m, "duel", 0)
	sinks := map[string]*recSink{}
	join := func(id, name string) error {
		sinks[id] = newRecSink()
		return room.Join(gameloop.Participant{ID: id, Name: name, Sink: sinks[id]})
	}
	for _, id := range []string{"p1", "p2"} {
		if err := join(id, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := join("p9", "p9"); comet.ErrorCode(err) != comet.ECONFLICT {
		t.Fatalf("a third player between matches in a room of two: %v, want full", err)
	}
	room.Start()
	room.Step()
	err := join("banned", "Banned")
	if comet.ErrorCode(err) != comet.ECONFLICT || comet.ErrorMessage(err) != "room duel: not you" {
		t.Errorf("refused join: %v, want the mode's reason", err)
	}
	if err := join("p3", "p3"); err != nil {
		t.Fatalf("a join during the match: %v, want queued", err)
	}
	if !room.Queued("p3") || room.Players() != 2 {
		t.Fatalf("p3 queued %v with %d players, want queued beside 2", room.Queued("p3"), room.Players())
	}
	raw, _ := sinks["p3"].last("room.joined")
	if j := decode[map[string]any](t, raw); j["queued"] != true || j["spectator"] != true || j["you"] != 0.0 {
		t.Errorf("queued player's room.joined %s", raw)
	}
	if err := room.Input("p3", []byte(`{"v":1}`)); comet.ErrorCode(err) != comet.ENOTFOUND {
		t.Errorf("input from the queue: %v, want refused", err)
	}
	room.Leave("p2") // a seat frees mid-match: the queue still waits for the next match
	room.Step()
	if !room.Queued("p3") || room.Players() != 1 {
		t.Fatalf("mid-match: p3 queued %v, %d players", room.Queued("p3"), room.Players())
	}
	for i := 0; room.Queued("p3"); i++ {
		if i > 200 {
			t.Fatal("the queue was never seated")
		}
		clk.Advance(50 * time.Millisecond)
		room.Step()
	}
	if room.Players() != 2 || room.State() != gameloop.StateWaiting && room.State() != gameloop.StateCountdown {
		t.Errorf("after the match: %d players, state %s", room.Players(), room.State())
	}
	raw, _ = sinks["p3"].last("room.joined")
	if j := decode[map[string]any](t, raw); j["queued"] != nil || j["spectator"] != false || j["you"] == 0.0 {
		t.Errorf("seated player's room.joined %s", raw)
	}
	clk.Advance(50 * time.Millisecond)
	room.Step() // the seated player's first view arrives with the next output
	sinks["p3"].check(t)
	if n := sinks["p3"].count("room.snapshot"); n < 2 {
		t.Errorf("the seated player got %d snapshots, want a fresh one", n)
	}
}

// TestReplacedBotKeepsItsScore: a human taking a server bot's seat mid-match
// leaves the bot's standing in the result, marked replaced.
func TestReplacedBotKeepsItsScore(t *testing.T) {
	clk := gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false)
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: []gameloop.Mode{dot}, Clock: clk,
		Settings: map[string]gameloop.Settings{"dot": {Duration: 2 * time.Second}},
	})
	room := gameloop.NewHandRoom(m, "dot", 0)
	p1, s1 := player("p1")
	if err := room.Join(p1); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bot-a", "bot-b", "bot-c"} {
		if err := room.Join(gameloop.Participant{ID: id, Name: "Bot " + id}); err != nil {
			t.Fatal(err)
		}
	}
	room.Start()
	for range 10 {
		room.Step()
	}
	p2, _ := player("p2")
	if err := room.Join(p2); err != nil {
		t.Fatalf("a human into a room full of bots: %v", err)
	}
	if room.Players() != 4 {
		t.Fatalf("%d players in a room of 4", room.Players())
	}
	for room.State() == gameloop.StateRunning {
		room.Step()
	}
	raw, ok := s1.last("match.result")
	if !ok {
		t.Fatal("no match.result")
	}
	res := decode[comet.MatchResult](t, raw)
	found := false
	for _, p := range res.Players {
		if p.PlayerID == "bot-c" { // the most recent bot yields its seat
			found = true
			if p.Stats["replaced"] != 1 || p.Stats["left"] != 1 || !p.Bot {
				t.Errorf("replaced bot %+v, want stats replaced and left", p)
			}
		}
	}
	if !found || len(res.Players) != 5 {
		t.Errorf("result %+v, want 4 present and the replaced bot", res.Players)
	}
}
