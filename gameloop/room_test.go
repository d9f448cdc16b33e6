package gameloop

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"comet"
)

// sleepyGame is a mode whose ticks take as long as told, on the test clock.
type sleepyGame struct {
	clk    *ManualClock
	sleeps map[int]time.Duration // by step number, from 1
	mu     sync.Mutex
	starts []time.Time
}

func (g *sleepyGame) Join(Player)           {}
func (g *sleepyGame) Leave(uint32)          {}
func (g *sleepyGame) Standings() []Standing { return nil }
func (g *sleepyGame) Render(_ ViewKey, w *World) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w.Add(1, "n", int32(len(g.starts)))
}

func (g *sleepyGame) Tick(Step[struct{}]) bool {
	g.mu.Lock()
	g.starts = append(g.starts, g.clk.Now())
	d := g.sleeps[len(g.starts)]
	g.mu.Unlock()
	g.clk.Advance(d) // the tick "takes" d
	return false
}

func (g *sleepyGame) steps() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.starts...)
}

func sleepyMode(g *sleepyGame) Mode {
	return Define(ModeSpec[struct{}]{
		Name:     "sleepy",
		Settings: Settings{TickHz: 20, MinPlayers: 1, DefaultMax: 2, MaxPlayers: 2, Duration: time.Hour},
		Kinds:    []Kind{{Name: "n", Fields: []string{"steps"}}},
		Decode:   func([]byte) (struct{}, error) { return struct{}{}, nil },
		New:      func(Env) Game[struct{}] { return g },
	})
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// TestOverrunCatchesUpThenSkipsWithoutDrift: a 170 ms tick (budget 50 ms)
// is caught up by running three ticks back to back; a 1 s tick is caught up
// by MaxCatchUp ticks, then the rest are skipped. Both are counted, and
// every regular tick stays on the original 50 ms grid.
func TestOverrunCatchesUpThenSkipsWithoutDrift(t *testing.T) {
	clk := NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), true)
	g := &sleepyGame{clk: clk, sleeps: map[int]time.Duration{5: 170 * time.Millisecond, 20: time.Second}}
	reg := prometheus.NewRegistry()
	m := NewManager(ManagerConfig{Bus: nopBus{}, Modes: []Mode{sleepyMode(g)}, Clock: clk, Registerer: reg})
	defer func() {
		if err := m.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if _, err := m.QuickJoin(context.Background(), "sleepy", Participant{ID: "p1", Name: "Ada"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(g.steps()) < 60 {
		if time.Now().After(deadline) {
			t.Fatal("room did not step")
		}
		time.Sleep(time.Millisecond)
	}
	m.stop() // freeze the room before reading its history
	m.rooms.Wait()

	if got := metricValue(t, reg, "comet_game_tick_overruns_total"); got != 2 {
		t.Errorf("overruns %v, want 2", got)
	}
	if got := metricValue(t, reg, "comet_game_ticks_skipped_total"); got != 17 {
		t.Errorf("skipped %v, want 17 (1 s behind, 3 caught up: 20 - 3)", got)
	}
	starts := g.steps()
	first := starts[0]
	period := 50 * time.Millisecond
	for i, s := range starts {
		off := s.Sub(first)
		catchUp := (i >= 5 && i <= 7) || (i >= 20 && i <= 22)
		switch {
		case catchUp && !(s.Equal(starts[4].Add(170*time.Millisecond)) || s.Equal(starts[19].Add(time.Second))):
			t.Errorf("catch-up step %d started at +%v, not right after the slow tick", i+1, off)
		case !catchUp && off%period != 0:
			t.Errorf("step %d started at +%v: off the 50 ms grid (drift)", i+1, off)
		}
	}
	// No drift: the last step is where the schedule puts it, counting the
	// skipped ticks.
	last := len(starts) - 1
	if want := time.Duration(last+17) * period; starts[last].Sub(first) != want {
		t.Errorf("step %d at +%v, want +%v", last+1, starts[last].Sub(first), want)
	}
}

// nopBus is a bus nobody listens to.
type nopBus struct{}

func (nopBus) Publish(string, *comet.Message)                      {}
func (nopBus) Subscribe(t string, _ comet.Sink) comet.Subscription { return nopSub(t) }
func (nopBus) Subscribers(string) int                              { return 0 }

type nopSub string

func (s nopSub) Topic() string { return string(s) }
func (nopSub) Close()          {}

// crashGame panics in the Tick that gets an input, and its decoder on "boom".
type crashGame struct {
	steps  int
	broken bool
}

func (g *crashGame) Join(Player)                {}
func (g *crashGame) Leave(uint32)               {}
func (g *crashGame) Render(_ ViewKey, w *World) { w.Add(1, "n", int32(g.steps)) }
func (g *crashGame) Standings() []Standing {
	if g.broken {
		panic("standings of a broken game")
	}
	return nil
}
func (g *crashGame) Tick(s Step[struct{}]) bool {
	if g.steps++; len(s.Inputs) > 0 {
		g.broken = true
		panic("mode bug")
	}
	return false
}

// TestModePanicsCloseOnlyTheirRoom: a panicking mode closes its room (viewers
// are told, the manager forgets it) and the server goes on; a panicking
// decoder is an internal error for that input only.
func TestModePanicsCloseOnlyTheirRoom(t *testing.T) {
	crash := Define(ModeSpec[struct{}]{
		Name:     "crash",
		Settings: Settings{TickHz: 20, MinPlayers: 1, DefaultMax: 2, MaxPlayers: 2, Duration: time.Hour},
		Kinds:    []Kind{{Name: "n", Fields: []string{"steps"}}},
		Decode: func(b []byte) (struct{}, error) {
			if string(b) == "boom" {
				panic("decoder bug")
			}
			return struct{}{}, nil
		},
		New: func(Env) Game[struct{}] { return &crashGame{} },
	})
	clk := NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), true)
	left := make(chan string, 4)
	m := NewManager(ManagerConfig{Bus: nopBus{}, Modes: []Mode{crash}, Clock: clk,
		OnLeave: func(id, room string) { left <- id + "@" + room }})
	defer m.Shutdown(context.Background())
	sink := &chanSink{c: make(chan *comet.Message, 1024)}
	info, err := m.QuickJoin(context.Background(), "crash", Participant{ID: "p1", Name: "A", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Input("p1", []byte("boom")); comet.ErrorCode(err) != comet.EINTERNAL {
		t.Errorf("panicking decoder: %v, want an internal error", err)
	}
	deadline := time.After(5 * time.Second)
	for {
		_ = m.Input("p1", []byte("{}")) // the first tick running with an input crashes
		select {
		case msg := <-sink.c:
			if msg.Type != "room.closed" {
				continue
			}
			if !strings.Contains(string(msg.Data()), `"error"`) {
				t.Errorf("room.closed %s", msg.Data())
			}
			if rooms := m.Rooms(); len(rooms) != 0 {
				t.Errorf("crashed room still listed: %+v", rooms)
			}
			if _, ok := m.RoomOf("p1"); ok {
				t.Error("player still seated in the crashed room")
			}
			select { // OnLeave runs before room.closed is sent
			case got := <-left:
				if got != "p1@"+info.ID {
					t.Errorf("OnLeave(%s), want p1@%s", got, info.ID)
				}
			default:
				t.Error("OnLeave not called for the crashed room's player")
			}
			return
		case <-deadline:
			t.Fatal("the crashed room was not closed")
		case <-time.After(time.Millisecond):
		}
	}
}

// chanSink passes on room.closed events only.
type chanSink struct{ c chan *comet.Message }

func (s *chanSink) Send(m *comet.Message) {
	if m.Type == "room.closed" {
		s.c <- m
	}
}
