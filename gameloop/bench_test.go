package gameloop_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes/arena"
)

// countSink is a session that only counts what it is sent.
type countSink struct{ bytes, msgs int }

func (s *countSink) Send(m *comet.Message) { s.bytes += len(m.Frame); s.msgs++ }

// BenchmarkArena1000 runs one arena room with 1,000 bot players at 20 Hz,
// each with a session, and measures whole ticks: inputs (bots' JSON through
// the decoder and queue), simulation, views, diffs, encoding and delivery.
func BenchmarkArena1000(b *testing.B) {
	const players, hz = 1000, 20
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: []gameloop.Mode{arena.Mode},
		Clock: gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
		Settings: map[string]gameloop.Settings{"arena": {
			TickHz: hz, Duration: 1000 * time.Hour, ScoreLimit: 1 << 30, MinPlayers: 1,
		}},
	})
	room := gameloop.NewHandRoom(m, "arena", players)
	sinks := make([]*countSink, players)
	for i := range sinks {
		sinks[i] = &countSink{}
		if err := room.Join(gameloop.Participant{ID: fmt.Sprintf("bot-%d", i), Name: fmt.Sprintf("Bot %d", i), Sink: sinks[i]}); err != nil {
			b.Fatal(err)
		}
	}
	room.Start()
	for range 200 { // ten seconds of play: bots spread out and start fighting
		room.Step()
	}
	sent := func() (n int) {
		for _, s := range sinks {
			n += s.bytes
		}
		return n
	}
	before := sent()
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		room.Step()
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns/tick")
	b.ReportMetric(pct(0.99), "p99-ns/tick")
	b.ReportMetric(float64(sent()-before)/float64(b.N)*hz/players, "diff-B/player/s")
	b.ReportMetric(float64(room.SnapshotBytes())*hz/players, "snapshot-B/player/s")
	b.ReportMetric(float64(room.Views()), "views")
	v, e := room.ViewEntities()
	b.Logf("views %d, entities in views %d, world %d", v, e/1000, e%1000)
}
