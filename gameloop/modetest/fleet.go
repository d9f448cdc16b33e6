package modetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
)

// Fleet is a whole Manager on virtual time with rooms of several modes,
// driven tick by tick: two fleets given the same calls play the same matches
// bit for bit, and a frozen fleet thaws into a successor (ThawInto) that
// goes on as its twin does.
type Fleet struct {
	T     testing.TB
	M     *gameloop.Manager
	Clock *gameloop.ManualClock
	Sinks map[string]*Sink // every participant with a session, by id
	Store *Store

	mu      sync.Mutex
	seed    int64
	periods map[string]time.Duration // by mode
	step    time.Duration            // the clock's advance per Tick: the shortest period
	rooms   []*FleetRoom
	modes   []gameloop.Mode
	rules   gameloop.Settings
}

// FleetRoom is one room of a Fleet, named by the test.
type FleetRoom struct {
	Name      string
	Mode      gameloop.Mode
	ID        string
	Code      string   // a private room's join code
	Humans    []string // players with sessions, in join order
	Spectator string   // a watcher with a session ("" if none)
	base      uint64   // the room's tick at baseAt
	baseAt    time.Time
}

// fleetStart is the virtual time every first fleet starts at.
var fleetStart = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// FleetSettings are the match rules of fleet rooms: quick to start, a match
// of 20 s, an intermission long enough to compare results.
var FleetSettings = gameloop.Settings{
	Duration: 20 * time.Second, ScoreLimit: 1 << 30, Countdown: time.Second, Intermission: 30 * time.Second,
}

// NewFleet returns a fleet of modes at the common start time. Seeds are
// drawn from a counter, so twin fleets given the same calls draw the same.
func NewFleet(t testing.TB, modes []gameloop.Mode) *Fleet {
	return newFleet(t, modes, FleetSettings, fleetStart, 0)
}

// NewFleetWith is NewFleet with other match rules (zero fields: the mode's).
func NewFleetWith(t testing.TB, modes []gameloop.Mode, rules gameloop.Settings) *Fleet {
	return newFleet(t, modes, rules, fleetStart, 0)
}

func newFleet(t testing.TB, modes []gameloop.Mode, rules gameloop.Settings, start time.Time, seed int64) *Fleet {
	f := &Fleet{
		T: t, Clock: gameloop.NewManualClock(start, false), Sinks: map[string]*Sink{},
		Store: &Store{}, seed: seed, periods: map[string]time.Duration{}, modes: modes, rules: rules,
	}
	set := map[string]gameloop.Settings{}
	for _, md := range modes {
		set[md.Name()] = rules
	}
	f.M = gameloop.NewManager(gameloop.ManagerConfig{
		Bus: NewBus(), Modes: modes, Clock: f.Clock, Store: f.Store, Settings: set,
		BotFillDelay: time.Hour, EmptyTimeout: time.Hour,
		Seed: func() int64 {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.seed++
			return f.seed
		},
	})
	for _, info := range f.M.ModeInfos() {
		p := time.Second / time.Duration(info.TickHz)
		f.periods[info.Name] = p
		if f.step == 0 || p < f.step {
			f.step = p
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.M.Shutdown(ctx); err != nil {
			t.Errorf("fleet shutdown: %v", err)
		}
	})
	return f
}

// Open creates room name of md (private or not) with humans players with
// sessions, bots without sessions up to players in all (at least the mode's
// minimum), and a spectator; the first human creates it.
func (f *Fleet) Open(name string, md gameloop.Mode, players, humans int, private bool) *FleetRoom {
	f.T.Helper()
	ctx := context.Background()
	fr := &FleetRoom{Name: name, Mode: md, baseAt: f.Clock.Now()}
	for i := range humans {
		id := fmt.Sprintf("%s-h%d", name, i)
		s := NewSink()
		p := gameloop.Participant{ID: id, Name: fmt.Sprintf("H%d %s", i, name), Sink: s}
		var err error
		var info gameloop.RoomInfo
		if i == 0 {
			size := min(max(players, md.Defaults().MinPlayers, 2), md.Defaults().MaxPlayers)
			info, err = f.M.Create(ctx, gameloop.RoomSpec{Mode: md.Name(), Name: name, Max: size, Private: private}, p)
			fr.ID, fr.Code = info.ID, info.Code
		} else {
			_, err = f.M.Join(ctx, fr.ref(), p)
		}
		if err != nil {
			f.T.Fatalf("fleet: %s joins %s: %v", id, name, err)
		}
		f.Sinks[id] = s
		fr.Humans = append(fr.Humans, id)
	}
	for i := humans; i < players; i++ {
		p := gameloop.Participant{ID: fmt.Sprintf("bot-%s-%d", name, i), Name: fmt.Sprintf("B%d", i)}
		if _, err := f.M.Join(ctx, fr.ref(), p); err != nil {
			f.T.Fatalf("fleet: bot %d joins %s: %v", i, name, err)
		}
	}
	fr.Spectator = name + "-watch"
	s := NewSink()
	if _, err := f.M.Spectate(ctx, fr.ref(), gameloop.Participant{ID: fr.Spectator, Name: "W " + name, Sink: s}); err != nil {
		f.T.Fatalf("fleet: spectator of %s: %v", name, err)
	}
	f.Sinks[fr.Spectator] = s
	f.rooms = append(f.rooms, fr)
	return fr
}

func (fr *FleetRoom) ref() string {
	if fr.Code != "" {
		return fr.Code
	}
	return fr.ID
}

// Rooms lists the fleet's rooms in the order they were opened.
func (f *Fleet) Rooms() []*FleetRoom { return f.rooms }

// Room finds a room by name.
func (f *Fleet) Room(name string) *FleetRoom {
	for _, fr := range f.rooms {
		if fr.Name == name {
			return fr
		}
	}
	f.T.Fatalf("fleet: no room %s", name)
	return nil
}

// Tick moves the clock by the shortest tick period and waits until every
// room has run the ticks that came due.
func (f *Fleet) Tick() {
	f.T.Helper()
	f.Clock.Advance(f.step)
	for _, fr := range f.rooms {
		want := fr.base + uint64(f.Clock.Now().Sub(fr.baseAt)/f.periods[fr.Mode.Name()])
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := f.Status(fr)
			if st.Tick == want {
				break
			}
			if st.Tick > want || time.Now().After(deadline) {
				f.T.Fatalf("fleet: room %s at tick %d, want %d", fr.Name, st.Tick, want)
			}
		}
	}
}

// Aligned reports whether every room is at the start of a tick period, so
// a room thawed now ticks when its twin does.
func (f *Fleet) Aligned() bool {
	for _, fr := range f.rooms {
		if f.Clock.Now().Sub(fr.baseAt)%f.periods[fr.Mode.Name()] != 0 {
			return false
		}
	}
	return true
}

// Status inspects a room between two ticks.
func (f *Fleet) Status(fr *FleetRoom) gameloop.RoomStatus {
	f.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := f.M.Inspect(ctx, fr.ID)
	if err != nil {
		f.T.Fatalf("fleet: %v", err)
	}
	return st
}

// Input sends participant id's input to its room (refusals are the test's
// business: it gets them back).
func (f *Fleet) Input(id string, data []byte) error { return f.M.Input(id, data) }

// Inputs sends every human of every room a valid input with probability
// one in two, drawn from rng: twin fleets given rngs of one seed send the
// same.
func (f *Fleet) Inputs(rng *rand.Rand) {
	f.T.Helper()
	for _, fr := range f.rooms {
		for _, id := range fr.Humans {
			if rng.IntN(2) == 0 {
				continue
			}
			if err := f.M.Input(id, ValidInput(rng, fr.Mode)); err != nil && comet.ErrorCode(err) != comet.ENOTFOUND {
				f.T.Fatalf("fleet: input of %s: %v", id, err)
			}
		}
	}
}

// Freeze freezes the fleet's manager and round-trips what it saved through
// JSON, as a hand-over stores it.
func (f *Fleet) Freeze() []gameloop.SavedRoom {
	f.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	saved, err := f.M.Freeze(ctx)
	if err != nil {
		f.T.Fatalf("freeze: %v", err)
	}
	blob, err := json.Marshal(saved)
	if err != nil {
		f.T.Fatalf("encode saved rooms: %v", err)
	}
	var back []gameloop.SavedRoom
	if err := json.Unmarshal(blob, &back); err != nil {
		f.T.Fatalf("decode saved rooms: %v", err)
	}
	return back
}

// Successor is a fleet at f's time with f's seed counter and rooms, a fresh
// manager and fresh sinks for every participant with a session: what Thaw
// gets in the next process. Drop lists participants whose session is gone.
func (f *Fleet) Successor(drop ...string) *Fleet {
	f.mu.Lock()
	seed := f.seed
	f.mu.Unlock()
	g := newFleet(f.T, f.modes, f.rules, f.Clock.Now(), seed)
	for id := range f.Sinks {
		if !slices.Contains(drop, id) {
			g.Sinks[id] = NewSink()
		}
	}
	return g
}

// Thaw thaws saved into g (a Successor) and takes over f's rooms, based at
// their saved ticks. It returns Thaw's error.
func (g *Fleet) Thaw(f *Fleet, saved []gameloop.SavedRoom) error {
	g.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := g.M.Thaw(ctx, saved, func(id string) comet.Sink {
		if s, ok := g.Sinks[id]; ok {
			return s
		}
		return nil
	})
	for _, fr := range f.rooms {
		i := slices.IndexFunc(saved, func(sv gameloop.SavedRoom) bool { return sv.ID == fr.ID })
		if i < 0 {
			continue
		}
		if _, ierr := g.M.Inspect(ctx, fr.ID); ierr != nil {
			continue // refused
		}
		c := *fr
		c.base, c.baseAt = saved[i].Tick, g.Clock.Now()
		g.rooms = append(g.rooms, &c)
	}
	return err
}

// Store is a comet.MatchStore that keeps results in memory.
type Store struct {
	mu      sync.Mutex
	matches []*comet.MatchResult
}

// SaveMatch keeps r.
func (s *Store) SaveMatch(_ context.Context, r *comet.MatchResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.matches = append(s.matches, r)
	return nil
}

// Leaderboard is not kept.
func (s *Store) Leaderboard(context.Context, comet.LeaderQuery) ([]comet.LeaderRow, error) {
	return nil, comet.Errorf(comet.ENOTFOUND, "no leaderboard in modetest.Store")
}

// PlayerMatches is not kept.
func (s *Store) PlayerMatches(context.Context, string, int) ([]comet.PlayerMatch, error) {
	return nil, comet.Errorf(comet.ENOTFOUND, "no match history in modetest.Store")
}

// Matches are the results saved so far.
func (s *Store) Matches() []*comet.MatchResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.matches)
}

// CheckFreezeThaw plays twin fleets with rooms of every mode in modes
// (public and private), freezes one mid-match and thaws it into a successor:
// each thawed room must be at the frozen tick with the same match, digest
// and standings as its never-frozen twin, welcome every viewer afresh, and
// then play tick for tick as the twin does through the end of the match, to
// the same results, none saved as aborted by the freeze.
func CheckFreezeThaw(t testing.TB, modes []gameloop.Mode, roomsPerMode int) {
	t.Helper()
	a, b := NewFleet(t, modes), NewFleet(t, modes)
	for _, md := range modes {
		set := md.Defaults()
		players := min(max(set.MinPlayers, 5), set.MaxPlayers)
		for j := range roomsPerMode {
			name := fmt.Sprintf("%s-%d", md.Name(), j)
			a.Open(name, md, players, 2, j%2 == 1)
			b.Open(name, md, players, 2, j%2 == 1)
		}
	}
	ra, rb := rand.New(rand.NewPCG(7, 8)), rand.New(rand.NewPCG(7, 8))
	running := 0
	for tick := 0; running < 60; tick++ {
		if tick > 2000 {
			t.Fatal("the rooms do not start")
		}
		a.Inputs(ra)
		b.Inputs(rb)
		a.Tick()
		b.Tick()
		if allIn(a, gameloop.StateRunning) {
			running++
		}
	}
	for !a.Aligned() {
		a.Inputs(ra)
		b.Inputs(rb)
		a.Tick()
		b.Tick()
	}
	a.Inputs(ra) // queued at the freeze: the thawed room's next tick applies them
	b.Inputs(rb)
	before := map[string]gameloop.RoomStatus{}
	for _, fr := range a.Rooms() {
		before[fr.ID] = a.Status(fr)
	}
	saved := a.Freeze()
	if len(saved) != len(a.Rooms()) {
		t.Fatalf("froze %d rooms of %d", len(saved), len(a.Rooms()))
	}
	for _, s := range a.Sinks {
		if n := s.Count("room.closed"); n != 0 {
			t.Fatalf("a member was told room.closed %d times at the freeze", n)
		}
	}
	if ms := a.Store.Matches(); len(ms) != 0 {
		t.Fatalf("the freeze saved %d matches (first: aborted %v)", len(ms), ms[0].Aborted)
	}
	for _, sv := range saved {
		st := before[sv.ID]
		if sv.Tick != st.Tick || sv.Match.ID != st.Match || sv.Match.Digest != st.Digest || sv.State != gameloop.StateRunning {
			t.Fatalf("room %s saved at tick %d, match %s, digest %.8s, %s; it was at %d, %s, %.8s",
				sv.Name, sv.Tick, sv.Match.ID, sv.Match.Digest, sv.State, st.Tick, st.Match, st.Digest)
		}
		if len(sv.Pending) == 0 {
			t.Errorf("room %s: no queued input saved", sv.Name)
		}
	}

	c := a.Successor()
	if err := c.Thaw(a, saved); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	if len(c.Rooms()) != len(saved) {
		t.Fatalf("thawed %d rooms of %d", len(c.Rooms()), len(saved))
	}
	for _, fr := range c.Rooms() {
		got, twin, was := c.Status(fr), b.Status(b.Room(fr.Name)), before[fr.ID]
		if got.Tick != was.Tick || got.Match != was.Match || got.Digest != was.Digest || got.State != gameloop.StateRunning {
			t.Fatalf("room %s thawed at tick %d, match %s, digest %.8s; frozen at %d, %s, %.8s",
				fr.Name, got.Tick, got.Match, got.Digest, was.Tick, was.Match, was.Digest)
		}
		if got.Digest != twin.Digest || !slices.EqualFunc(got.Standings, twin.Standings, sameStanding) {
			t.Fatalf("room %s thawed to digest %.8s, standings %v; its twin has %.8s, %v", fr.Name, got.Digest, got.Standings, twin.Digest, twin.Standings)
		}
		for _, id := range append(slices.Clone(fr.Humans), fr.Spectator) {
			if types := c.Sinks[id].Types(); len(types) < 3 || types[0] != "room.joined" || types[1] != "room.state" || types[len(types)-1] != "room.snapshot" {
				t.Fatalf("%s got %v at the thaw, want room.joined, room.state, (room.scores), room.snapshot", id, types)
			}
		}
	}

	rc := ra // the thawed fleet goes on with the frozen one's draws
	ended := 0
	for tick := 0; ended < 3; tick++ {
		if tick > 4000 {
			t.Fatal("the thawed matches do not end")
		}
		b.Inputs(rb)
		c.Inputs(rc)
		b.Tick()
		c.Tick()
		for _, fr := range c.Rooms() {
			got, twin := c.Status(fr), b.Status(b.Room(fr.Name))
			if got.Tick != twin.Tick || got.State != twin.State || got.Digest != twin.Digest || !slices.EqualFunc(got.Standings, twin.Standings, sameStanding) {
				t.Fatalf("room %s, %d ticks after the thaw: tick %d %s digest %.8s standings %v; its twin: tick %d %s %.8s %v",
					fr.Name, tick+1, got.Tick, got.State, got.Digest, got.Standings, twin.Tick, twin.State, twin.Digest, twin.Standings)
			}
		}
		if allIn(c, gameloop.StateEnded) {
			ended++
		}
	}
	for _, fr := range c.Rooms() {
		got, twin := result(t, c.Sinks[fr.Humans[0]]), result(t, b.Sinks[fr.Humans[0]])
		if got.ID != before[fr.ID].Match || got.Aborted || got.RoomID != fr.ID {
			t.Errorf("room %s: result of match %s (aborted %v) in room %s, want match %s", fr.Name, got.ID, got.Aborted, got.RoomID, before[fr.ID].Match)
		}
		if g, w := ranking(got), ranking(twin); !slices.Equal(g, w) {
			t.Errorf("room %s: thawed result %v, its twin's %v", fr.Name, g, w)
		}
	}
	for id, s := range c.Sinks {
		if err := s.Err(); err != nil {
			t.Errorf("%s after the thaw: %v", id, err)
		}
	}
}

func allIn(f *Fleet, state string) bool {
	for _, fr := range f.Rooms() {
		if f.Status(fr).State != state {
			return false
		}
	}
	return true
}

func sameStanding(a, b gameloop.Standing) bool {
	if a.Player != b.Player || a.Score != b.Score || len(a.Stats) != len(b.Stats) {
		return false
	}
	for k, v := range a.Stats {
		if b.Stats[k] != v {
			return false
		}
	}
	return true
}

func result(t testing.TB, s *Sink) comet.MatchResult {
	t.Helper()
	raw, ok := s.Last("match.result")
	if !ok {
		t.Fatal("no match.result")
	}
	var res comet.MatchResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("match.result %s: %v", raw, err)
	}
	return res
}

// ranking is a result without its ids: name, score, rank, bot, stats.
func ranking(res comet.MatchResult) []string {
	out := make([]string, len(res.Players))
	for i, p := range res.Players {
		out[i] = fmt.Sprintf("%s %d #%d bot=%v %v", p.Name, p.Score, p.Rank, p.Bot, p.Stats)
	}
	return out
}
