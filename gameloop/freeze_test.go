package gameloop_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modetest"
)

// TestFreezeThawContinuesEveryRoomAsItsTwin: rooms of several modes (tick
// rates differ, some private) frozen mid-match and thawed in a new manager
// go on tick for tick as twins that were never frozen.
func TestFreezeThawContinuesEveryRoomAsItsTwin(t *testing.T) {
	modetest.CheckFreezeThaw(t, []gameloop.Mode{walk, crawl, dot}, 2)
}

// runFleet opens one room per (name, mode) and plays until all run.
func runFleet(t *testing.T, rooms map[string]gameloop.Mode) *modetest.Fleet {
	t.Helper()
	f := modetest.NewFleet(t, []gameloop.Mode{walk, crawl, dot})
	for _, name := range []string{"one", "two", "three"} {
		if md, ok := rooms[name]; ok {
			f.Open(name, md, md.Defaults().MinPlayers+1, 2, name == "two")
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 60; i++ {
		f.Inputs(rng)
		f.Tick()
	}
	return f
}

// TestThawRefusesRoomsItCannotRestore: a room whose log was tampered with
// (one input changed) and a room of a mode this build lacks are refused
// whole: their members are told room.closed {"reason":"restart"} and nothing
// else, the error names both, and the third room goes on.
func TestThawRefusesRoomsItCannotRestore(t *testing.T) {
	a := runFleet(t, map[string]gameloop.Mode{"one": walk, "two": walk, "three": dot})
	saved := a.Freeze()
	byName := map[string]int{}
	for i, sv := range saved {
		byName[sv.Name] = i
	}
	one, two := &saved[byName["one"]], &saved[byName["two"]]
	input := regexp.MustCompile(`\[\[1,\{"m":(\d)\}\]`)
	loc := input.FindSubmatchIndex(one.Match.Log)
	if loc == nil {
		t.Fatalf("no input of player 1 in the log:\n%.1500s", one.Match.Log)
	}
	digit := one.Match.Log[loc[2]]
	one.Match.Log[loc[2]] = '0' + (digit-'0'+3)%9 // still a valid input, not the one played
	two.Mode = "chess"

	c := a.Successor()
	err := c.Thaw(a, saved)
	if err == nil || !strings.Contains(err.Error(), one.ID) || !strings.Contains(err.Error(), two.ID) || !errors.Is(err, gameloop.ErrDiverged) {
		t.Fatalf("thaw: %v; want refusals of %s (diverged) and %s", err, one.ID, two.ID)
	}
	if len(c.Rooms()) != 1 || c.Rooms()[0].Name != "three" {
		t.Fatalf("thawed %d rooms, want only three", len(c.Rooms()))
	}
	for _, fr := range a.Rooms() {
		for _, id := range append(fr.Humans, fr.Spectator) {
			types := c.Sinks[id].Types()
			if fr.Name == "three" {
				if len(types) == 0 || types[0] != "room.joined" {
					t.Errorf("%s of the restored room got %v", id, types)
				}
				continue
			}
			if len(types) != 1 || types[0] != "room.closed" {
				t.Fatalf("%s of refused room %s got %v, want room.closed alone", id, fr.Name, types)
			}
			raw, _ := c.Sinks[id].Last("room.closed")
			if got := decode[map[string]string](t, raw); got["reason"] != "restart" || got["room"] != fr.ID {
				t.Errorf("%s got room.closed %s", id, raw)
			}
			if _, in := c.M.RoomOf(id); in {
				t.Errorf("%s of a refused room is seated", id)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.M.Join(ctx, two.Code, gameloop.Participant{ID: "late", Name: "Late"}); comet.ErrorCode(err) != comet.ENOTFOUND {
		t.Errorf("join by the refused room's code: %v, want ENOTFOUND", err)
	}
}

// TestThawRemovesMembersWithoutSession: a participant whose session did not
// survive is taken out as a leave; the others play on.
func TestThawRemovesMembersWithoutSession(t *testing.T) {
	a := runFleet(t, map[string]gameloop.Mode{"one": walk})
	fr := a.Room("one")
	saved := a.Freeze()
	gone := fr.Humans[1]
	c := a.Successor(gone)
	if err := c.Thaw(a, saved); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	if _, in := c.M.RoomOf(gone); in {
		t.Errorf("%s has no session but is seated", gone)
	}
	info, in := c.M.RoomOf(fr.Humans[0])
	if !in || info.ID != fr.ID || info.Players != saved[0].Settings.MinPlayers {
		t.Fatalf("%s in %+v (%v), want room %s with one player fewer", fr.Humans[0], info, in, fr.ID)
	}
	st := c.Status(c.Room("one"))
	if len(st.Standings) != info.Players || st.Tick != saved[0].Tick || st.Match != saved[0].Match.ID {
		t.Errorf("thawed room: %+v", st)
	}
	c.Tick()
	if err := c.Input(fr.Humans[0], []byte(`{"m":5}`)); err != nil {
		t.Errorf("input after the thaw: %v", err)
	}
}

// TestFreezeClosesIntake: once frozen, a manager refuses inputs to the
// frozen rooms and opens no room; Shutdown afterwards saves nothing.
func TestFreezeClosesIntake(t *testing.T) {
	a := runFleet(t, map[string]gameloop.Mode{"one": walk})
	fr := a.Room("one")
	a.Freeze()
	if err := a.Input(fr.Humans[0], []byte(`{"m":5}`)); comet.ErrorCode(err) != comet.ENOTFOUND {
		t.Errorf("input after the freeze: %v, want ENOTFOUND", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.M.Create(ctx, gameloop.RoomSpec{Mode: "walk"}, gameloop.Participant{ID: "new", Name: "New"}); comet.ErrorCode(err) != comet.ECONFLICT {
		t.Errorf("create after the freeze: %v, want ECONFLICT", err)
	}
	if err := a.M.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(a.Store.Matches()); n != 0 {
		t.Errorf("shutdown after the freeze saved %d matches", n)
	}
}

// TestThawKeepsWaitingAndEndedRooms: a room still waiting for players and
// one showing its results are restored in their state, with their timers:
// the ended room starts its next match when its intermission would have
// ended, not a whole intermission after the thaw.
func TestThawKeepsWaitingAndEndedRooms(t *testing.T) {
	f := modetest.NewFleet(t, []gameloop.Mode{walk, dot})
	f.Open("waits", walk, 1, 1, false) // below walk's minimum: waits
	f.Open("ends", dot, 3, 1, false)
	ends := f.Room("ends")
	for i := 0; f.Status(ends).State != gameloop.StateEnded; i++ {
		if i > 5000 {
			t.Fatal("dot's match does not end")
		}
		f.Tick()
	}
	for range 20 { // 1 s into the 30 s intermission
		f.Tick()
	}
	frozenEnded := f.Status(ends)
	saved := f.Freeze()
	blob, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	c := f.Successor()
	if err := c.Thaw(f, saved); err != nil {
		t.Fatalf("thaw: %v (%d bytes)", err, len(blob))
	}
	if st := c.Status(c.Room("waits")); st.State != gameloop.StateWaiting {
		t.Errorf("waiting room thawed %s", st.State)
	}
	if st := c.Status(c.Room("ends")); st.State != gameloop.StateEnded || st.Match != frozenEnded.Match || st.Digest != frozenEnded.Digest {
		t.Fatalf("ended room thawed as %+v, frozen %+v", st, frozenEnded)
	}
	ticks := 0
	for c.Status(c.Room("ends")).State == gameloop.StateEnded {
		c.Tick()
		ticks++
		if ticks > 600 {
			t.Fatal("no next match")
		}
	}
	if want := 30*20 - 20; ticks < want-1 || ticks > want+1 {
		t.Errorf("the next match began %d ticks after the thaw, want about %d (the rest of the intermission)", ticks, want)
	}
	if st := c.Status(c.Room("ends")); st.Match == frozenEnded.Match {
		t.Errorf("still match %s", st.Match)
	}
}

// TestThawedRoomsFreezeAgain: a room thawed and played on freezes and thaws
// again (a second restart) to the same tick, match and digest, its log
// holding the whole match.
func TestThawedRoomsFreezeAgain(t *testing.T) {
	a := runFleet(t, map[string]gameloop.Mode{"one": walk, "two": dot})
	b := a.Successor()
	if err := b.Thaw(a, a.Freeze()); err != nil {
		t.Fatalf("first thaw: %v", err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 40 {
		b.Inputs(rng)
		b.Tick()
	}
	was := map[string]gameloop.RoomStatus{}
	for _, fr := range b.Rooms() {
		was[fr.Name] = b.Status(fr)
	}
	saved := b.Freeze()
	c := b.Successor()
	if err := c.Thaw(b, saved); err != nil {
		t.Fatalf("second thaw: %v", err)
	}
	for _, fr := range c.Rooms() {
		if got := c.Status(fr); got.Tick != was[fr.Name].Tick || got.Match != was[fr.Name].Match || got.Digest != was[fr.Name].Digest {
			t.Errorf("room %s after two restarts: %+v, want %+v", fr.Name, got, was[fr.Name])
		}
	}
	for _, sv := range saved {
		if steps := strings.Count(string(sv.Match.Log), `"s":1`); steps != sv.Match.Ticks || sv.Match.Ticks <= 40 {
			t.Errorf("room %s: %d steps in the log, %d ticks played", sv.Name, steps, sv.Match.Ticks)
		}
	}
}

// TestThawKeepsQueueRenamesAndLeavers: a player waiting in a mode's queue
// comes back queued (and takes a seat freed for the next match), a player renamed
// during the match keeps its new label, and one who left the match is still
// in its result.
func TestThawKeepsQueueRenamesAndLeavers(t *testing.T) {
	f := modetest.NewFleet(t, []gameloop.Mode{walk, duel})
	f.Open("w", walk, 4, 2, false)
	f.Open("d", duel, 2, 2, false)
	w, d := f.Room("w"), f.Room("d")
	for f.Status(w).State != gameloop.StateRunning || f.Status(d).State != gameloop.StateRunning {
		f.Tick()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q := modetest.NewSink()
	if _, err := f.M.Join(ctx, d.ID, gameloop.Participant{ID: "q", Name: "Queued", Sink: q}); err != nil {
		t.Fatalf("join during the duel: %v", err)
	}
	f.Sinks["q"] = q
	f.M.Rename(w.Humans[0], "Renamed")
	if err := f.M.Leave(ctx, w.Humans[1]); err != nil {
		t.Fatal(err)
	}
	delete(f.Sinks, w.Humans[1])
	for range 5 {
		f.Tick()
	}
	saved := f.Freeze()
	c := f.Successor()
	if err := c.Thaw(f, saved); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	if info, ok := c.M.RoomOf("q"); !ok || info.ID != d.ID || info.Queued != 1 {
		t.Fatalf("queued player after the thaw: %+v (%v)", info, ok)
	}
	raw, _ := c.Sinks["q"].Last("room.joined")
	if j := decode[map[string]any](t, raw); j["queued"] != true || j["spectator"] != true {
		t.Errorf("queued player told %s", raw)
	}
	snap, _ := c.Sinks[w.Humans[0]].Last("room.snapshot")
	if !strings.Contains(string(snap), `"Renamed"`) {
		t.Errorf("renamed player's snapshot after the thaw: %s", snap)
	}
	for i := 0; c.Status(c.Room("w")).State != gameloop.StateEnded || c.Status(c.Room("d")).State != gameloop.StateEnded; i++ {
		if i > 1000 {
			t.Fatal("the matches do not end")
		}
		c.Tick()
	}
	raw, _ = c.Sinks[w.Humans[0]].Last("match.result")
	res := decode[comet.MatchResult](t, raw)
	left := false
	for _, p := range res.Players {
		left = left || (p.PlayerID == w.Humans[1] && p.Stats["left"] == 1)
		if p.PlayerID == w.Humans[0] && p.Name != "Renamed" {
			t.Errorf("renamed player in the result as %q", p.Name)
		}
	}
	if !left || res.Aborted {
		t.Errorf("result after the thaw: %s", raw)
	}
	if err := c.M.Leave(ctx, d.Humans[1]); err != nil { // a seat for the queue at the next duel
		t.Fatal(err)
	}
	for i := 0; c.Status(c.Room("d")).State == gameloop.StateEnded; i++ {
		if i > 1000 {
			t.Fatal("no next duel")
		}
		c.Tick()
	}
	raw, _ = c.Sinks["q"].Last("room.joined")
	if j := decode[map[string]any](t, raw); j["spectator"] != false || j["queued"] != nil {
		t.Errorf("the queued player at the next match was told %s", raw)
	}
}

// TestThawLongMatchWithoutRecordingFile: a RecordTo that opens no file for a
// match (nil writer, no error: the server's when it records nothing) thaws a
// match whose log outgrew the recorder's 64 KiB buffer. The thaw once wrote
// that log to the nil writer and the new process panicked: every match older
// than about a minute was lost with its server on a restart.
func TestThawLongMatchWithoutRecordingFile(t *testing.T) {
	rules := modetest.FleetSettings
	rules.Duration = time.Hour
	a := modetest.NewFleetWith(t, []gameloop.Mode{walk}, rules)
	a.Open("long", walk, 4, 3, false)
	rng := rand.New(rand.NewPCG(3, 3))
	for range 3000 {
		a.Inputs(rng)
		a.Tick()
	}
	saved := a.Freeze()
	if len(saved) != 1 || len(saved[0].Match.Log) <= 64<<10 {
		t.Fatalf("want one room with a log over 64 KiB, got %d rooms (log %d bytes)", len(saved), len(saved[0].Match.Log))
	}
	opened := 0
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: modetest.NewBus(), Modes: []gameloop.Mode{walk}, Clock: gameloop.NewManualClock(a.Clock.Now(), false),
		Settings: map[string]gameloop.Settings{walk.Name(): rules}, BotFillDelay: time.Hour, EmptyTimeout: time.Hour,
		RecordTo: func(string, string) (io.WriteCloser, error) { opened++; return nil, nil },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer func() {
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	if err := m.Thaw(ctx, saved, func(string) comet.Sink { return modetest.NewSink() }); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	st, err := m.Inspect(ctx, saved[0].ID)
	if err != nil || st.Tick != saved[0].Tick || st.Match != saved[0].Match.ID || st.Digest != saved[0].Match.Digest || opened != 1 {
		t.Fatalf("thawed room %+v (%v), RecordTo called %d times; want tick %d of match %s", st, err, opened, saved[0].Tick, saved[0].Match.ID)
	}
}
