package gameloop_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
)

// inputKeys are the fields of each mode's room.input.
var inputKeys = map[string][]string{"arena": {"m", "a", "f"}, "snake": {"d"}, "tag": {"m"}}

// randomInput writes a random room.input for mode: its fields with values in
// and out of range, sometimes a missing or unknown field or malformed JSON.
func randomInput(rng *rand.Rand, mode string) []byte {
	switch rng.IntN(12) {
	case 0:
		return []byte(`{"m":`) // malformed
	case 1:
		return []byte(`{"zz":1}`)
	}
	b := []byte{'{'}
	for i, k := range inputKeys[mode] {
		if i > 0 && rng.IntN(8) == 0 {
			continue // a missing field
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":`...)
		switch k {
		case "f":
			b = strconv.AppendBool(b, rng.IntN(2) == 0)
		case "a":
			b = strconv.AppendFloat(b, rng.Float64()*760-380, 'f', 2, 64)
		case "d":
			b = strconv.AppendInt(b, int64(rng.IntN(5)), 10)
		default:
			b = strconv.AppendInt(b, int64(rng.IntN(10)), 10)
		}
	}
	return append(b, '}')
}

// TestStreamsRebuildEveryTickExactly drives rooms of every mode by hand with
// random inputs, joins, leaves, resyncs and bots, and checks after every
// tick that each viewer's replica (its snapshot plus every diff it got, in
// order) equals a fresh snapshot of its view.
func TestStreamsRebuildEveryTickExactly(t *testing.T) {
	for _, md := range modes.All() {
		t.Run(md.Name(), func(t *testing.T) {
			for seed := range uint64(2) {
				checkStreams(t, md.Name(), seed)
			}
		})
	}
}

func checkStreams(t *testing.T, mode string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: modes.All(),
		Clock:    gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
		Settings: map[string]gameloop.Settings{mode: {Duration: time.Hour, ScoreLimit: 1 << 30}},
	})
	room := gameloop.NewHandRoom(m, mode, 40) // arena: a field of 2×2+ view cells, so views differ
	sinks := map[string]*recSink{}
	join := func(id string, spectate bool) {
		s := newRecSink()
		sinks[id] = s
		p := gameloop.Participant{ID: id, Name: "N" + id, Sink: s}
		join := room.Join
		if spectate {
			join = room.Spectate
		}
		if err := join(p); err != nil {
			t.Fatalf("join %s: %v", id, err)
		}
	}
	for i := range 6 {
		join(fmt.Sprintf("p%d", i), false)
	}
	join("watcher", true)
	join("bot-seen", false) // a bot with a session: driven by its brain, streamed like a browser
	for i := range 10 {
		if err := room.Join(gameloop.Participant{ID: fmt.Sprintf("bot-%d", i), Name: "B"}); err != nil {
			t.Fatal(err)
		}
	}
	room.Start()
	for tick := range 150 {
		for i := range 6 {
			id := fmt.Sprintf("p%d", i)
			if _, in := sinks[id]; !in || rng.IntN(2) == 0 {
				continue
			}
			if err := room.Input(id, randomInput(rng, mode)); err != nil && comet.ErrorCode(err) != comet.EINVALID {
				t.Fatalf("input error %v is not EINVALID", err)
			}
		}
		switch rng.IntN(40) {
		case 0: // someone leaves; later they come back with a new session
			id := fmt.Sprintf("p%d", rng.IntN(6))
			if _, in := sinks[id]; in {
				room.Leave(id)
				delete(sinks, id)
			} else {
				join(id, false)
			}
		case 1:
			id := fmt.Sprintf("p%d", rng.IntN(6))
			if _, in := sinks[id]; in {
				room.Resync(id)
			}
		}
		room.Step()
		for id, s := range sinks {
			s.check(t)
			var want gameloop.Replica
			if err := want.ApplySnapshot(room.SnapshotFor(id)); err != nil {
				t.Fatal(err)
			}
			got := s.copyReplica()
			got.Tick = want.Tick // an unchanged view sends no diff, so the replica's tick may lag
			if !got.Equal(&want) {
				t.Fatalf("seed %d tick %d viewer %s: replica differs from a fresh snapshot\n got %v\nwant %v", seed, tick, id, got.Ents, want.Ents)
			}
		}
	}
}

// TestCrowdedArenaStreams runs a crowded arena room with many distinct
// views and viewers moving between them, and checks every viewer's stream as
// above.
func TestCrowdedArenaStreams(t *testing.T) {
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: modes.All(),
		Clock:    gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
		Settings: map[string]gameloop.Settings{"arena": {Duration: time.Hour, ScoreLimit: 1 << 30}},
	})
	room := gameloop.NewHandRoom(m, "arena", 1000)
	sinks := map[string]*recSink{}
	for i := range 300 {
		id := fmt.Sprintf("bot-%d", i)
		sinks[id] = newRecSink()
		if err := room.Join(gameloop.Participant{ID: id, Name: "B", Sink: sinks[id]}); err != nil {
			t.Fatal(err)
		}
	}
	room.Start()
	for tick := range 60 {
		room.Step()
		if room.Groups() < 16 {
			t.Fatalf("only %d groups: views are not exercised", room.Groups())
		}
		if tick%30 != 29 {
			continue
		}
		for id, s := range sinks {
			s.check(t)
			var want gameloop.Replica
			if err := want.ApplySnapshot(room.SnapshotFor(id)); err != nil {
				t.Fatal(err)
			}
			got := s.copyReplica()
			got.Tick = want.Tick
			if !got.Equal(&want) {
				t.Fatalf("tick %d viewer %s: replica differs from a fresh snapshot", tick, id)
			}
		}
	}
}
