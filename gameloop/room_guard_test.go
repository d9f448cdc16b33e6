package gameloop_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"comet"
	"comet/gameloop"
)

// gate is a test mode whose Tick blocks while the gate is shut, and which
// counts its renders: it stands for a mode with an endless loop, and for the
// cost of a view.
type gate struct {
	mu       sync.Mutex
	shut     chan struct{} // non-nil: the next Tick waits for it to close
	entered  chan struct{} // closed when a Tick starts waiting
	renders  atomic.Int64
	players  []uint32
	joinShut chan struct{} // non-nil: every Join waits for it to close
}

type gateGame struct{ g *gate }

func (gg gateGame) Join(p gameloop.Player) {
	gg.g.mu.Lock()
	gg.g.players = append(gg.g.players, p.Num)
	shut := gg.g.joinShut
	gg.g.mu.Unlock()
	if shut != nil {
		<-shut
	}
}
func (gg gateGame) Leave(uint32)                   {}
func (gg gateGame) Standings() []gameloop.Standing { return nil }
func (gg gateGame) Render(_ gameloop.ViewKey, w *gameloop.World) {
	gg.g.renders.Add(1)
	w.Add(gameloop.MaxPlayerNum, "g", 1)
}

func (gg gateGame) Tick(gameloop.Step[int]) bool {
	gg.g.mu.Lock()
	shut, entered := gg.g.shut, gg.g.entered
	gg.g.shut = nil
	gg.g.mu.Unlock()
	if shut != nil {
		close(entered)
		<-shut
	}
	return false
}

// block makes the next Tick hang until the returned release is called; the
// channel is closed when that Tick has started.
func (g *gate) block() (entered <-chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	shut, in := make(chan struct{}), make(chan struct{})
	g.shut, g.entered = shut, in
	var once sync.Once
	return in, func() { once.Do(func() { close(shut) }) }
}

func gateMode(g *gate) gameloop.Mode {
	return gameloop.Define(gameloop.ModeSpec[int]{
		Name:     "gate",
		Settings: gameloop.Settings{TickHz: 20, MinPlayers: 1, DefaultMax: 4, MaxPlayers: 4, Duration: time.Hour},
		Kinds:    []gameloop.Kind{{Name: "g", Fields: []string{"v"}}},
		Decode:   func([]byte) (int, error) { return 0, nil },
		New:      func(gameloop.Env) gameloop.Game[int] { return gateGame{g} },
	})
}

// newGateManager is a manager of the gate mode alone on a hand clock.
func newGateManager(t *testing.T, g *gate, edit func(*gameloop.ManagerConfig)) *handClock {
	t.Helper()
	return newHandClockWith(t, func(cfg *gameloop.ManagerConfig) {
		cfg.Modes = []gameloop.Mode{gateMode(g)}
		cfg.Settings = nil
		if edit != nil {
			edit(cfg)
		}
	})
}

// hang brings room id to a running match and makes its next tick hang; it
// returns release (also run at cleanup) and the room goroutine's exit.
func hang(t *testing.T, h *handClock, g *gate, id string) (release func(), exited <-chan struct{}) {
	t.Helper()
	h.until(t, "the match to run", func() bool {
		info, _ := h.m.RoomOf("p1")
		return info.State == gameloop.StateRunning
	})
	exited = h.m.RoomExited(id)
	entered, release := g.block()
	t.Cleanup(release)
	h.until(t, "a tick to hang", func() bool {
		select {
		case <-entered:
			return true
		default:
			return false
		}
	})
	return release, exited
}

func TestWatchdogClosesHungRoom(t *testing.T) {
	g := &gate{}
	reg := prometheus.NewRegistry()
	var left sync.Map
	h := newGateManager(t, g, func(cfg *gameloop.ManagerConfig) {
		cfg.WatchdogTimeout = 150 * time.Millisecond
		cfg.Registerer = reg
		cfg.OnLeave = func(id, room string) { left.Store(id, room) }
	})
	p1, s1 := player("p1")
	info, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, p1)
	if err != nil {
		t.Fatal(err)
	}
	w, sw := player("w")
	if _, err := h.m.Spectate(bg, info.ID, w); err != nil {
		t.Fatal(err)
	}
	release, exited := hang(t, h, g, info.ID)

	for _, s := range []*recSink{s1, sw} {
		waitFor(t, 5*time.Second, "room.closed", func() bool { return s.count("room.closed") == 1 })
		raw, _ := s.last("room.closed")
		if c := decode[map[string]string](t, raw); c["reason"] != "error" || c["room"] != info.ID {
			t.Errorf("room.closed %s, want reason error for %s", raw, info.ID)
		}
	}
	if _, ok := h.m.RoomOf("p1"); ok {
		t.Error("p1 is still seated in the hung room")
	}
	if rooms := h.m.Rooms(); len(rooms) != 0 {
		t.Errorf("the hung room is still listed: %+v", rooms)
	}
	if got := h.closedRooms(); len(got) != 1 || got[0] != info.ID {
		t.Errorf("OnRoomChange closed %v, want %s", got, info.ID)
	}
	for _, id := range []string{"p1", "w"} {
		if room, ok := left.Load(id); !ok || room != info.ID {
			t.Errorf("OnLeave for %s: %v, want %s", id, room, info.ID)
		}
	}
	if got := gathered(t, reg, "comet_game_rooms_hung_total"); got != 1 {
		t.Errorf("comet_game_rooms_hung_total %v, want 1", got)
	}
	if got := gathered(t, reg, "comet_game_rooms"); got != 0 {
		t.Errorf("comet_game_rooms %v, want 0", got)
	}
	// The seat is free: p1 plays elsewhere at once.
	if other, err := h.m.QuickJoin(bg, "gate", p1); err != nil || other.ID == info.ID {
		t.Fatalf("joining elsewhere after the hang: %+v %v", other, err)
	}

	// The stuck goroutine comes back: it must see it was abandoned and send,
	// render and change nothing more.
	renders := g.renders.Load()
	msgs := len(sw.types())
	release()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the abandoned room goroutine did not return after its tick did")
	}
	if got := g.renders.Load() - renders; got != 0 {
		t.Errorf("the abandoned room rendered %d more views", got)
	}
	if got := sw.types()[msgs:]; len(got) != 0 {
		t.Errorf("the abandoned room sent %v after room.closed", got)
	}
}

func TestCallsIntoHungRoomTimeOut(t *testing.T) {
	g := &gate{}
	h := newGateManager(t, g, func(cfg *gameloop.ManagerConfig) {
		cfg.WatchdogTimeout = time.Hour // only the call timeout can end the waits
		cfg.CallTimeout = 100 * time.Millisecond
	})
	p1, _ := player("p1")
	info, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, p1)
	if err != nil {
		t.Fatal(err)
	}
	hang(t, h, g, info.ID)

	p2, _ := player("p2")
	for _, c := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"leave", func(ctx context.Context) error { return h.m.Leave(ctx, "p1") }},
		{"join", func(ctx context.Context) error { return second(h.m.Join(ctx, info.ID, p2)) }},
		{"spectate", func(ctx context.Context) error { return second(h.m.Spectate(ctx, info.ID, p2)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := c.do(context.Background()) // no deadline: the default applies
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), info.ID) {
				t.Errorf("error %v, want a deadline error naming the room", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v with a 100ms call timeout", took)
			}
			ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond) // the caller's deadline wins
			defer cancel()
			if err := c.do(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("with the caller's deadline: %v", err)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		for range 1000 {
			h.m.Resync("p1") // never waits for the room
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Resync blocked on a hung room")
	}
}

func TestShutdownReturnsByDeadlineWithHungRoom(t *testing.T) {
	for _, c := range []struct {
		name     string
		watchdog time.Duration
		wantErr  bool
	}{
		{"watchdog slower than the deadline", time.Hour, true},
		{"watchdog within the deadline", 100 * time.Millisecond, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &gate{}
			h := newGateManager(t, g, func(cfg *gameloop.ManagerConfig) {
				cfg.WatchdogTimeout = c.watchdog
			})
			p1, _ := player("p1")
			info, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, p1)
			if err != nil {
				t.Fatal(err)
			}
			hang(t, h, g, info.ID)
			ctx, cancel := context.WithTimeout(bg, 2*time.Second)
			defer cancel()
			start := time.Now()
			err = h.m.Shutdown(ctx)
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("Shutdown took %v with a 2s deadline", took)
			}
			if (err != nil) != c.wantErr {
				t.Errorf("Shutdown: %v, want error %v", err, c.wantErr)
			}
			if c.wantErr && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown error %v does not wrap the deadline", err)
			}
		})
	}
}

func TestResyncsCoalesceIntoOneSnapshotPerTick(t *testing.T) {
	g := &gate{}
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: []gameloop.Mode{gateMode(g)},
		Clock: gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
	})
	room := gameloop.NewHandRoom(m, "gate", 0)
	sinks := map[string]*recSink{}
	for i := range 4 {
		id := fmt.Sprintf("p%d", i)
		sinks[id] = newRecSink()
		if err := room.Join(gameloop.Participant{ID: id, Name: id, Sink: sinks[id]}); err != nil {
			t.Fatal(err)
		}
	}
	room.Start()
	room.Step()
	before := map[string]int{}
	for id, s := range sinks {
		before[id] = s.count("room.snapshot")
	}
	renders := g.renders.Load()
	for i := range 1280 { // 20 POSTs of 64 room.resync, spread over the tabs
		m.Resync(fmt.Sprintf("p%d", i%4))
	}
	if got := g.renders.Load() - renders; got != 0 {
		t.Fatalf("Resync rendered %d views before the tick", got)
	}
	room.Step()
	if got := g.renders.Load() - renders; got != 1 {
		t.Errorf("1,280 resyncs cost %d renders in the tick, want 1 (one shared view)", got)
	}
	for id, s := range sinks {
		if got := s.count("room.snapshot") - before[id]; got != 1 {
			t.Errorf("%s got %d snapshots in the tick, want 1", id, got)
		}
		if got := s.count("room.joined"); got != 2 {
			t.Errorf("%s got room.joined %d times, want 2 (join and one resync)", id, got)
		}
	}
	room.Step() // the fence: the next tick sends no snapshot
	for id, s := range sinks {
		s.check(t)
		if got := s.count("room.snapshot") - before[id]; got != 1 {
			t.Errorf("%s got %d snapshots by the next tick, want still 1", id, got)
		}
	}
}

func TestRoomsPerCreatorAndServerCap(t *testing.T) {
	g := &gate{}
	h := newGateManager(t, g, func(cfg *gameloop.ManagerConfig) {
		cfg.MaxRoomsPerCreator = 2
		cfg.MaxRooms = 3
	})
	p, _ := player("p")
	first, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, p)
	if err != nil {
		t.Fatal(err)
	}
	next, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, p) // p moves on; first stays open, empty
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, p)
	wantCode(t, err, comet.ERATELIMIT)
	if !strings.Contains(comet.ErrorMessage(err), "2 open rooms") {
		t.Errorf("message %q does not say why", comet.ErrorMessage(err))
	}
	if info, _ := h.m.RoomOf("p"); info.ID != next.ID {
		t.Errorf("refused creator moved to %s, want still in %s", info.ID, next.ID)
	}
	q, _ := player("q")
	if _, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, q); err != nil {
		t.Fatalf("another creator: %v", err)
	}
	r, _ := player("r")
	_, err = h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, r)
	wantCode(t, err, comet.ERATELIMIT)
	if !strings.Contains(comet.ErrorMessage(err), "server full") {
		t.Errorf("message %q does not say the server is full", comet.ErrorMessage(err))
	}
	// The empty room closes; its creator may open one again.
	h.until(t, "the empty room to close", func() bool { return len(h.closedRooms()) == 1 })
	if got := h.closedRooms(); got[0] != first.ID {
		t.Fatalf("closed %v, want %s", got, first.ID)
	}
	if _, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, p); err != nil {
		t.Errorf("creating after a room closed: %v", err)
	}
}

// TestWatchdogClosesRoomHungInAJoin: a mode's Join that never returns (on the
// room goroutine, inside a join call) costs the joiner a timeout and the room
// its life, not the caller's goroutine nor the other members' seats.
func TestWatchdogClosesRoomHungInAJoin(t *testing.T) {
	g := &gate{}
	h := newGateManager(t, g, func(cfg *gameloop.ManagerConfig) {
		cfg.WatchdogTimeout = 150 * time.Millisecond
		cfg.CallTimeout = 100 * time.Millisecond
	})
	p1, s1 := player("p1")
	info, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "gate"}, p1)
	if err != nil {
		t.Fatal(err)
	}
	shut := make(chan struct{})
	t.Cleanup(func() { close(shut) })
	g.mu.Lock()
	g.joinShut = shut
	g.mu.Unlock()
	p2, _ := player("p2")
	if _, err := h.m.Join(bg, info.ID, p2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("join into a room that hangs in it: %v, want a deadline error", err)
	}
	waitFor(t, 5*time.Second, "room.closed", func() bool { return s1.count("room.closed") == 1 })
	for _, id := range []string{"p1", "p2"} {
		if _, ok := h.m.RoomOf(id); ok {
			t.Errorf("%s still seated in the hung room", id)
		}
	}
}
