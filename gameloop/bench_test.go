package gameloop_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	// Wall time includes time this process waits for a CPU on a shared
	// machine; the CPU time of the room's thread is its own work (GC assists
	// included, the background GC worker on the other core not). Both are
	// reported.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wall := make([]time.Duration, 0, b.N)
	cpu := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start, startCPU := time.Now(), threadCPU()
		room.Step()
		wall = append(wall, time.Since(start))
		cpu = append(cpu, threadCPU()-startCPU)
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		slices.Sort(ds)
		return float64(ds[int(p*float64(len(ds)-1))].Nanoseconds())
	}
	b.ReportMetric(pct(wall, 0.50), "p50-ns/tick")
	b.ReportMetric(pct(wall, 0.99), "p99-ns/tick")
	b.ReportMetric(pct(cpu, 0.50), "p50-cpu-ns/tick")
	b.ReportMetric(pct(cpu, 0.99), "p99-cpu-ns/tick")
	b.ReportMetric(float64(sent()-before)/float64(b.N)*hz/players, "diff-B/player/s")
	b.ReportMetric(float64(room.SnapshotBytes())*hz/players, "snapshot-B/player/s")
	b.ReportMetric(float64(room.Views()), "views")
}

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}
