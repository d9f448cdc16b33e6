package gameloop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"comet"
	"comet/gameloop"
)

// handClock is a manager on a clock that moves only when the test says, so
// rooms tick only when time is advanced.
type handClock struct {
	*gameloop.ManualClock
	m       *gameloop.Manager
	mu      sync.Mutex
	changes []gameloop.RoomInfo
	closed  []string
}

func newHandClock(t *testing.T, store comet.MatchStore, reg prometheus.Registerer) *handClock {
	t.Helper()
	return newHandClockWith(t, func(cfg *gameloop.ManagerConfig) { cfg.Store, cfg.Registerer = store, reg })
}

// newHandClockWith is newHandClock with the config adjusted by edit.
func newHandClockWith(t *testing.T, edit func(*gameloop.ManagerConfig)) *handClock {
	t.Helper()
	h := &handClock{ManualClock: gameloop.NewManualClock(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), false)}
	cfg := gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: testModes, Clock: h.ManualClock,
		BotFillDelay: 5 * time.Second, EmptyTimeout: 30 * time.Second,
		Settings: map[string]gameloop.Settings{"walk": {Countdown: time.Second, Duration: time.Minute}},
		OnRoomChange: func(info gameloop.RoomInfo, closed bool) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if closed {
				h.closed = append(h.closed, info.ID)
			} else {
				h.changes = append(h.changes, info)
			}
		},
	}
	edit(&cfg)
	h.m = gameloop.NewManager(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return h
}

// until advances time a tick at a time until cond holds.
func (h *handClock) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		h.Advance(50 * time.Millisecond)
		time.Sleep(100 * time.Microsecond)
	}
}

func (h *handClock) closedRooms() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.closed)
}

var bg = context.Background()

func player(id string) (gameloop.Participant, *recSink) {
	s := newRecSink()
	return gameloop.Participant{ID: id, Name: "Name " + id, Sink: s}, s
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if comet.ErrorCode(err) != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}

func TestQuickJoinFillsOneRoomAndSwitchesModes(t *testing.T) {
	h := newHandClock(t, nil, nil)
	p1, s1 := player("p1")
	p2, _ := player("p2")
	a, err := h.m.QuickJoin(bg, "walk", p1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.m.QuickJoin(bg, "walk", p2)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || b.Players != 2 {
		t.Fatalf("second quick join got %+v, want the first room %s with 2 players", b, a.ID)
	}
	c, err := h.m.QuickJoin(bg, "crawl", p1)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := h.m.RoomOf("p1"); got.ID != c.ID || c.Mode != "crawl" {
		t.Fatalf("p1 is in %+v, want the snake room", got)
	}
	waitFor(t, time.Second, "room.left", func() bool { return s1.count("room.left") == 1 })
	raw, _ := s1.last("room.left")
	if left := decode[map[string]string](t, raw); left["room"] != a.ID {
		t.Errorf("room.left %s, want room %s", raw, a.ID)
	}
	rooms := h.m.Rooms()
	if len(rooms) != 2 || rooms[0].Mode != "crawl" || rooms[1].Players != 1 {
		t.Errorf("rooms %+v", rooms)
	}
	h.until(t, "lobby updates", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, info := range h.changes {
			if info.ID == c.ID && info.Players == 1 && info.State == "waiting" {
				return true
			}
		}
		return false
	})
}

func TestPrivateRoomsJoinByCodeOnly(t *testing.T) {
	h := newHandClock(t, nil, nil)
	owner, so := player("owner")
	info, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Name: " Friends ", Max: 4, Private: true}, owner)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "Friends" || !info.Private || info.Max != 4 || len(info.Code) != 6 || strings.Trim(info.Code, "ABCDEFGHJKMNPQRSTUVWXYZ23456789") != "" {
		t.Fatalf("created %+v", info)
	}
	raw, _ := so.last("room.joined")
	if j := decode[map[string]any](t, raw); j["code"] != info.Code {
		t.Errorf("creator's room.joined %s lacks code %s", raw, info.Code)
	}
	guest, sg := player("guest")
	_, err = h.m.Join(bg, info.ID, guest)
	wantCode(t, err, comet.EFORBIDDEN)
	if _, err := h.m.Join(bg, strings.ToLower(info.Code), guest); err != nil {
		t.Fatalf("join by code: %v", err)
	}
	raw, _ = sg.last("room.joined")
	if j := decode[map[string]any](t, raw); j["code"] != nil {
		t.Errorf("a guest was shown the join code: %s", raw)
	}
	other, _ := player("other")
	if q, err := h.m.QuickJoin(bg, "walk", other); err != nil || q.ID == info.ID {
		t.Errorf("quick play put a stranger in a private room: %+v %v", q, err)
	}
	if b, _ := json.Marshal(info); strings.Contains(string(b), info.Code) {
		t.Errorf("RoomInfo JSON leaks the code: %s", b)
	}
}

func TestJoinErrors(t *testing.T) {
	h := newHandClock(t, nil, nil)
	p1, _ := player("p1")
	p2, _ := player("p2")
	p3, _ := player("p3")
	small, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Max: 2}, p1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Join(bg, small.ID, p2); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"full room", second(h.m.Join(bg, small.ID, p3)), comet.ECONFLICT},
		{"unknown room", second(h.m.Join(bg, "r_nope", p3)), comet.ENOTFOUND},
		{"unknown mode", second(h.m.QuickJoin(bg, "chess", p3)), comet.EINVALID},
		{"max too small", second(h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Max: 1}, p3)), comet.EINVALID},
		{"max too large", second(h.m.Create(bg, gameloop.RoomSpec{Mode: "brawl", Max: 1001}, p3)), comet.EINVALID},
		{"long name", second(h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Name: strings.Repeat("x", 41)}, p3)), comet.EINVALID},
		{"control char", second(h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Name: "a\nb"}, p3)), comet.EINVALID},
		{"no id", second(h.m.QuickJoin(bg, "walk", gameloop.Participant{})), comet.EINVALID},
		{"input outside a room", h.m.Input("p3", json.RawMessage(`{"m":1}`)), comet.ENOTFOUND},
		{"bad input", h.m.Input("p1", json.RawMessage(`{"m":9}`)), comet.EINVALID},
		{"malformed input", h.m.Input("p1", json.RawMessage(`{"m":`)), comet.EINVALID},
	}
	for _, c := range cases {
		if comet.ErrorCode(c.err) != c.code {
			t.Errorf("%s: error %v, want code %s", c.name, c.err, c.code)
		}
	}
	if err := h.m.Input("p1", json.RawMessage(`{"m":3}`)); err != nil {
		t.Errorf("valid input: %v", err)
	}
	if err := h.m.Leave(bg, "nobody"); err != nil {
		t.Errorf("leave when in no room: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestSpectatorWatchesWithoutPlaying(t *testing.T) {
	h := newHandClock(t, nil, nil)
	p1, _ := player("p1")
	info, err := h.m.QuickJoin(bg, "walk", p1)
	if err != nil {
		t.Fatal(err)
	}
	w, sw := player("watcher")
	got, err := h.m.Spectate(bg, info.ID, w)
	if err != nil {
		t.Fatal(err)
	}
	if got.Players != 1 || got.Spectators != 1 {
		t.Errorf("after spectating %+v", got)
	}
	raw, _ := sw.last("room.joined")
	if j := decode[map[string]any](t, raw); j["spectator"] != true || j["you"] != 0.0 {
		t.Errorf("spectator's room.joined %s", raw)
	}
	if sw.count("room.snapshot") != 1 {
		t.Errorf("spectator got %v", sw.types())
	}
	wantCode(t, h.m.Input("watcher", json.RawMessage(`{"m":1}`)), comet.EINVALID)
	// Playing after watching switches roles in place.
	if got, err = h.m.Join(bg, info.ID, w); err != nil || got.Players != 2 || got.Spectators != 0 {
		t.Errorf("spectator joining to play: %+v %v", got, err)
	}
}

func TestResyncAndRejoinFromNewSession(t *testing.T) {
	h := newHandClock(t, nil, nil)
	p1, old := player("p1")
	info, err := h.m.QuickJoin(bg, "walk", p1)
	if err != nil {
		t.Fatal(err)
	}
	h.m.Resync("p1") // served at the next tick
	h.until(t, "resync", func() bool { return old.count("room.snapshot") == 2 })
	got := old.types()
	i := slices.Index(got[1:], "room.joined") + 1
	if i == 0 || got[i+1] != "room.state" || !slices.Contains(got[i:], "room.snapshot") {
		t.Errorf("resync sent %v, want room.joined, room.state, …, room.snapshot", got)
	}
	fresh := newRecSink()
	p1.Sink = fresh
	again, err := h.m.QuickJoin(bg, "walk", p1)
	if err != nil || again.ID != info.ID || again.Players != 1 {
		t.Fatalf("rejoin from a new session: %+v %v", again, err)
	}
	before := old.count("room.diff") + old.count("room.state")
	h.until(t, "diffs to the new session", func() bool { return fresh.count("room.diff") > 2 })
	if after := old.count("room.diff") + old.count("room.state"); after != before {
		t.Errorf("the old session still receives the room (%d → %d messages)", before, after)
	}
	fresh.check(t)
}

func TestBotsFillAfterDelayAndMakeWayForHumans(t *testing.T) {
	h := newHandClock(t, nil, nil)
	p1, _ := player("p1")
	info, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Max: 3}, p1)
	if err != nil {
		t.Fatal(err)
	}
	start := h.Now()
	h.until(t, "bots", func() bool { r, _ := h.m.RoomOf("p1"); return r.Players == 3 })
	if waited := h.Now().Sub(start); waited < 5*time.Second {
		t.Errorf("bots came after %v, want the 5 s fill delay", waited)
	}
	p2, _ := player("p2")
	got, err := h.m.Join(bg, info.ID, p2)
	if err != nil {
		t.Fatalf("a human could not take a bot's place: %v", err)
	}
	if got.Players != 3 || got.Bots != 1 {
		t.Errorf("players %d with %d bots, want 3 with 1 (a bot left)", got.Players, got.Bots)
	}
	p3, _ := player("p3")
	if _, err := h.m.Join(bg, info.ID, p3); err != nil {
		t.Fatalf("second human: %v", err)
	}
	p4, _ := player("p4")
	_, err = h.m.Join(bg, info.ID, p4)
	wantCode(t, err, comet.ECONFLICT)
}

func TestEmptyRoomClosesAfterTimeout(t *testing.T) {
	h := newHandClock(t, nil, nil)
	p1, _ := player("p1")
	info, err := h.m.QuickJoin(bg, "walk", p1)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.m.Leave(bg, "p1"); err != nil {
		t.Fatal(err)
	}
	left := h.Now()
	h.until(t, "room closed", func() bool { return len(h.m.Rooms()) == 0 })
	if waited := h.Now().Sub(left); waited < 30*time.Second {
		t.Errorf("closed after %v, want the 30 s empty timeout", waited)
	}
	// The room leaves the list before its closing is reported: wait for
	// the report, then check it names this room alone.
	h.until(t, "room close reported", func() bool { return len(h.closedRooms()) > 0 })
	if got := h.closedRooms(); !slices.Equal(got, []string{info.ID}) {
		t.Errorf("OnRoomChange closed %v, want %s", got, info.ID)
	}
	if _, ok := h.m.RoomOf("p1"); ok {
		t.Error("a player is still seated in a closed room")
	}
}

func TestLifecycleStatesInOrder(t *testing.T) {
	h := newHandClock(t, nil, nil)
	p1, s := player("p1")
	if _, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Max: 3}, p1); err != nil {
		t.Fatal(err)
	}
	h.until(t, "the next match", func() bool { return len(compact(strings.Split(states(s), ","))) >= 5 })
	got := compact(strings.Split(states(s), ","))
	want := []string{"waiting", "countdown", "running", "ended", "waiting"}
	if !slices.Equal(got[:5], want) {
		t.Errorf("states %v, want %v", got, want)
	}
	// The new match starts from a fresh snapshot with a new match id.
	s.mu.Lock()
	var matches []string
	for _, m := range s.msgs {
		if m.Type == "room.snapshot" {
			matches = append(matches, decode[struct{ M string }](t, m.Data()).M)
		}
	}
	s.mu.Unlock()
	if len(matches) < 2 || matches[0] == matches[len(matches)-1] {
		t.Errorf("snapshots of matches %v, want a second match", matches)
	}
	s.check(t)
}

// states lists the "state" of every room.state received, comma-separated.
func states(s *recSink) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		if m.Type == "room.state" {
			var d struct{ State string }
			_ = json.Unmarshal(m.Data(), &d)
			out = append(out, d.State)
		}
	}
	return strings.Join(out, ",")
}

func compact(s []string) []string { return slices.Compact(s) }

func TestShutdownSavesRunningMatchAsAborted(t *testing.T) {
	store := &memStore{}
	h := newHandClock(t, store, nil)
	p1, s := player("p1")
	if _, err := h.m.QuickJoin(bg, "walk", p1); err != nil {
		t.Fatal(err)
	}
	h.until(t, "running", func() bool { return strings.Contains(states(s), "running") })
	if err := h.m.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	saved := store.saved()
	if len(saved) != 1 || !saved[0].Aborted || len(saved[0].Players) != 3 {
		t.Fatalf("saved %+v, want one aborted match of 3", saved)
	}
	if s.count("room.closed") != 1 {
		t.Errorf("no room.closed: %v", s.types())
	}
	p2, _ := player("p2")
	_, err := h.m.QuickJoin(bg, "walk", p2)
	wantCode(t, err, comet.ECONFLICT)
}

func TestFloodedInputsAreDroppedAndCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHandClock(t, nil, reg)
	p1, _ := player("p1")
	if _, err := h.m.QuickJoin(bg, "walk", p1); err != nil {
		t.Fatal(err)
	}
	for range gameloop.MaxInputsPerTick + 12 {
		if err := h.m.Input("p1", json.RawMessage(`{"m":1}`)); err != nil {
			t.Fatalf("a flooded input returned %v; it must be dropped silently", err)
		}
	}
	if got := gathered(t, reg, "comet_game_inputs_dropped_total"); got != 12 {
		t.Errorf("dropped %v, want 12", got)
	}
	_ = h.m.Input("p1", json.RawMessage(`{"m":99}`))
	if got := gathered(t, reg, "comet_game_inputs_invalid_total"); got != 1 {
		t.Errorf("invalid %v, want 1", got)
	}
	if got := gathered(t, reg, "comet_game_rooms"); got != 1 {
		t.Errorf("rooms gauge %v, want 1", got)
	}
}

func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return sum
		}
	}
	return 0
}

func TestCanceledJoinLeavesConsistentState(t *testing.T) {
	h := newHandClock(t, nil, nil)
	p1, _ := player("p1")
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err := h.m.QuickJoin(ctx, "walk", p1)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled join: %v", err)
	}
	// Whatever happened, the seat and the room agree.
	waitFor(t, time.Second, "consistency", func() bool {
		info, seated := h.m.RoomOf("p1")
		rooms := h.m.Rooms()
		return !seated || (len(rooms) == 1 && info.ID == rooms[0].ID && rooms[0].Players == 1)
	})
}

// TestRefusedJoinKeepsCurrentRoom: every refusal of a join, create, quick
// play or spectate leaves the player in the room it was in, told nothing.
func TestRefusedJoinKeepsCurrentRoom(t *testing.T) {
	h := newHandClockWith(t, func(cfg *gameloop.ManagerConfig) { cfg.MaxRooms = 3 })
	a, _ := player("a")
	b, _ := player("b")
	full, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Max: 2}, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Join(bg, full.ID, b); err != nil {
		t.Fatal(err)
	}
	owner, _ := player("owner")
	private, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Private: true}, owner)
	if err != nil {
		t.Fatal(err)
	}
	p, sp := player("p")
	home, err := h.m.QuickJoin(bg, "crawl", p) // the third room: no more may open
	if err != nil {
		t.Fatal(err)
	}
	w, sw := player("w")
	if _, err := h.m.Spectate(bg, full.ID, w); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name      string
		who       string
		do        func() error
		code      string
		room      string
		spectator bool
	}{
		{"full room", "p", func() error { return second(h.m.Join(bg, full.ID, p)) }, comet.ECONFLICT, home.ID, false},
		{"unknown room", "p", func() error { return second(h.m.Join(bg, "r_nope", p)) }, comet.ENOTFOUND, home.ID, false},
		{"unknown code", "p", func() error { return second(h.m.Spectate(bg, "ZZZZZZ", p)) }, comet.ENOTFOUND, home.ID, false},
		{"private id", "p", func() error { return second(h.m.Join(bg, private.ID, p)) }, comet.EFORBIDDEN, home.ID, false},
		{"too many rooms (create)", "p", func() error { return second(h.m.Create(bg, gameloop.RoomSpec{Mode: "walk"}, p)) }, comet.ERATELIMIT, home.ID, false},
		{"too many rooms (quick play)", "p", func() error { return second(h.m.QuickJoin(bg, "brawl", p)) }, comet.ERATELIMIT, home.ID, false},
		{"spectator asks for a seat in a full room", "w", func() error { return second(h.m.Join(bg, full.ID, w)) }, comet.ECONFLICT, full.ID, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, c.do(), c.code)
			info, ok := h.m.RoomOf(c.who)
			if !ok || info.ID != c.room {
				t.Fatalf("%s is in %+v (seated %v), want still in %s", c.who, info, ok, c.room)
			}
			if c.spectator && info.Spectators != 1 {
				t.Errorf("room %+v lost its spectator", info)
			}
		})
	}
	if n := sp.count("room.left") + sw.count("room.left"); n != 0 {
		t.Errorf("refused players were sent room.left %d times", n)
	}
	// Still there for real: the rooms keep streaming to them.
	before := sp.count("room.diff") + sp.count("room.state")
	h.until(t, "the home room streams on", func() bool { return sp.count("room.diff")+sp.count("room.state") > before })
	sp.check(t)
	sw.check(t)
}

// TestRaceForLastSeatLeavesLoserHome: two players in rooms of their own race
// for the last seat of a room; one gets it, the other stays where it was.
func TestRaceForLastSeatLeavesLoserHome(t *testing.T) {
	h := newHandClock(t, nil, nil)
	a, _ := player("a")
	target, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Max: 2}, a)
	if err != nil {
		t.Fatal(err)
	}
	var homes [2]gameloop.RoomInfo
	var ps [2]gameloop.Participant
	for i := range ps {
		ps[i], _ = player([]string{"x", "y"}[i])
		if homes[i], err = h.m.Create(bg, gameloop.RoomSpec{Mode: "crawl"}, ps[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var errs [2]error
	for i := range ps {
		wg.Go(func() { _, errs[i] = h.m.Join(bg, target.ID, ps[i]) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		info, ok := h.m.RoomOf(ps[i].ID)
		switch {
		case err == nil:
			won++
			if !ok || info.ID != target.ID {
				t.Errorf("%s won the seat but is in %+v", ps[i].ID, info)
			}
		case comet.ErrorCode(err) == comet.ECONFLICT:
			if !ok || info.ID != homes[i].ID {
				t.Errorf("%s lost the race and is in %+v (seated %v), want its room %s", ps[i].ID, info, ok, homes[i].ID)
			}
		default:
			t.Errorf("%s: %v", ps[i].ID, err)
		}
	}
	if won != 1 {
		t.Errorf("%d players got the last seat, want 1", won)
	}
}

// TestRenameReachesLabelsScoresAndResults: a renamed player's entity label
// is re-sent in the next diff, and room.scores and match.result carry the
// new name.
func TestRenameReachesLabelsScoresAndResults(t *testing.T) {
	store := &memStore{}
	h := newHandClock(t, store, nil)
	p1, s := player("p1")
	if _, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Max: 3}, p1); err != nil {
		t.Fatal(err)
	}
	h.until(t, "running", func() bool { return strings.Contains(states(s), "running") })
	num := decode[struct{ You uint32 }](t, must(s.last("room.joined"))).You
	if got := s.copyReplica().Ents[num].Label; got != p1.Name {
		t.Fatalf("label %q before renaming, want %q", got, p1.Name)
	}
	diffs := s.count("room.diff")
	h.m.Rename("p1", "Zoé")
	h.until(t, "the new label", func() bool { return s.copyReplica().Ents[num].Label == "Zoé" })
	if s.count("room.diff") == diffs {
		t.Error("the label changed without a diff")
	}
	h.until(t, "scores with the new name", func() bool {
		raw, ok := s.last("room.scores")
		return ok && strings.Contains(string(raw), `"name":"Zoé"`)
	})
	h.until(t, "match.result", func() bool { return s.count("match.result") == 1 })
	res := decode[comet.MatchResult](t, must(s.last("match.result")))
	i := slices.IndexFunc(res.Players, func(p comet.MatchPlayer) bool { return p.PlayerID == "p1" })
	if i < 0 || res.Players[i].Name != "Zoé" {
		t.Errorf("match.result players %+v, want p1 named Zoé", res.Players)
	}
	h.until(t, "the next match", func() bool { return strings.HasSuffix(states(s), "waiting") })
	if got := s.copyReplica().Ents[num].Label; got != "Zoé" {
		t.Errorf("label %q in the next match, want Zoé", got)
	}
	h.m.Rename("nobody", "X") // outside any room: a no-op
	s.check(t)
}

func must(raw json.RawMessage, ok bool) json.RawMessage {
	if !ok {
		panic("message not received")
	}
	return raw
}

// TestOnLeaveReportsOnlyEngineRemovals: OnLeave hears of the participants a
// closing room unseats (players and spectators, not server bots), never of
// leaves and moves the participant asked for.
func TestOnLeaveReportsOnlyEngineRemovals(t *testing.T) {
	var mu sync.Mutex
	var got []string
	h := newHandClockWith(t, func(cfg *gameloop.ManagerConfig) {
		cfg.OnLeave = func(id, room string) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, id+"@"+room)
		}
	})
	p1, _ := player("p1")
	info, err := h.m.Create(bg, gameloop.RoomSpec{Mode: "walk", Max: 3}, p1)
	if err != nil {
		t.Fatal(err)
	}
	h.until(t, "bots", func() bool { r, _ := h.m.RoomOf("p1"); return r.Bots > 0 })
	w, _ := player("w")
	if _, err := h.m.Spectate(bg, info.ID, w); err != nil {
		t.Fatal(err)
	}
	mover, _ := player("mover")
	if _, err := h.m.Join(bg, info.ID, mover); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.QuickJoin(bg, "crawl", mover); err != nil { // a move it asked for
		t.Fatal(err)
	}
	if err := h.m.Leave(bg, "mover"); err != nil { // a leave it asked for
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 0 {
		t.Errorf("OnLeave reported asked-for leaves: %v", got)
	}
	mu.Unlock()
	if err := h.m.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got)
	if want := []string{"p1@" + info.ID, "w@" + info.ID}; !slices.Equal(got, want) {
		t.Errorf("OnLeave calls %v, want %v", got, want)
	}
}

// TestQuickJoinAtOnceMeetsInOneRoom: players quick playing a mode with no
// room at the same moment all land in one new room, not one room each
// (picking a room and opening one are one step). Many rounds, each on a
// fresh manager, so that the goroutines really race.
func TestQuickJoinAtOnceMeetsInOneRoom(t *testing.T) {
	const players = 6 // walk seats 8
	for round := range 300 {
		h := newHandClock(t, nil, nil)
		start := make(chan struct{})
		rooms := make([]string, players)
		var wg sync.WaitGroup
		for i := range players {
			p, _ := player(fmt.Sprintf("p%d", i))
			wg.Go(func() {
				<-start
				info, err := h.m.QuickJoin(bg, "walk", p)
				if err != nil {
					t.Errorf("round %d: quick join %s: %v", round, p.ID, err)
				}
				rooms[i] = info.ID
			})
		}
		close(start)
		wg.Wait()
		if got := h.m.Rooms(); len(got) != 1 || got[0].Players != players {
			t.Fatalf("round %d: %d quick plays at once opened %d rooms %+v (joined %v), want one with all", round, players, len(got), got, rooms)
		}
	}
}
