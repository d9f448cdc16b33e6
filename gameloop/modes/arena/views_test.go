package arena

import (
	"fmt"
	"testing"
	"time"

	"comet/gameloop"
	"comet/gameloop/modetest"
)

// TestCrowdedArenaStreams runs a crowded arena room with many distinct
// views and viewers moving between them, and checks every viewer's stream:
// its snapshot plus every diff equals a fresh snapshot of its view.
func TestCrowdedArenaStreams(t *testing.T) {
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: modetest.NewBus(), Modes: []gameloop.Mode{Mode},
		Clock:    gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
		Settings: map[string]gameloop.Settings{"arena": {Duration: time.Hour, ScoreLimit: 1 << 30}},
	})
	room := gameloop.NewHandRoom(m, "arena", 1000)
	sinks := map[string]*modetest.Sink{}
	for i := range 300 {
		id := fmt.Sprintf("bot-%d", i)
		sinks[id] = modetest.NewSink()
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
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			var want gameloop.Replica
			if err := want.ApplySnapshot(room.SnapshotFor(id)); err != nil {
				t.Fatal(err)
			}
			got := s.Replica()
			got.Tick = want.Tick
			if !got.Equal(&want) {
				t.Fatalf("tick %d viewer %s: replica differs from a fresh snapshot", tick, id)
			}
		}
	}
}

// FuzzKitDecode fuzzes the decoder with the kit's seeds from the declaration.
func FuzzKitDecode(f *testing.F) { modetest.FuzzDecoder(f, Mode) }

// TestFreshRoomSeatsHumansTogether: two humans who join a fresh quick-play
// room see each other on one screen in the first snapshot of the match,
// on the smallest field.
func TestFreshRoomSeatsHumansTogether(t *testing.T) {
	for i := range 20 {
		m := gameloop.NewManager(gameloop.ManagerConfig{
			Bus: modetest.NewBus(), Modes: []gameloop.Mode{Mode},
			Clock: gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, i, 0, time.UTC), false),
		})
		room := gameloop.NewHandRoom(m, "arena", 0)
		for _, id := range []string{"ada", "bob"} {
			if err := room.Join(gameloop.Participant{ID: id, Name: id, Sink: modetest.NewSink()}); err != nil {
				t.Fatal(err)
			}
		}
		room.Start()
		room.Step()
		var w gameloop.Replica
		if err := w.ApplySnapshot(room.SnapshotFor("ada")); err != nil {
			t.Fatal(err)
		}
		pos := map[string][]int32{}
		for _, e := range w.Ents {
			if e.Kind == "p" {
				pos[e.Label] = e.Vals
			}
		}
		if room.Players() < 2 || w.Ents[WorldID].Vals[0] != MinField {
			t.Fatalf("room %d: %d players on a field of %v", i, room.Players(), w.Ents[WorldID].Vals)
		}
		a, b := pos["ada"], pos["bob"]
		if a == nil || b == nil || abs(a[0]-b[0]) > SpawnNear || abs(a[1]-b[1]) > SpawnNear {
			t.Fatalf("room %d: ada at %v, bob at %v", i, a, b)
		}
	}
}
