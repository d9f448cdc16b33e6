package modetest_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"comet/gameloop"
	"comet/gameloop/modetest"
)

// duel is a 1v1 mode with a queue: the kit must hold for modes of two seats
// whose joins wait for the next match.
var duel = gameloop.Define(gameloop.ModeSpec[int]{
	Name:     "duel",
	Title:    "Duel",
	Settings: gameloop.Settings{TickHz: 20, MinPlayers: 2, DefaultMax: 2, MaxPlayers: 2, Duration: time.Minute},
	Kinds:    []gameloop.Kind{{Name: "p", Fields: []string{"x"}, Label: true}},
	Input:    []gameloop.InputField{{Name: "v", Type: gameloop.InputInt, Min: -1, Max: 1, Required: true}},
	Decode: func(data []byte) (int, error) {
		v, has := 0, false
		err := gameloop.DecodeFlat("duel", data, func(k []byte, fv gameloop.FlatValue) error {
			if string(k) != "v" {
				return fmt.Errorf("unknown field %q", k)
			}
			n, err := fv.Int("v", -1, 1)
			v, has = n, true
			return err
		})
		if err == nil && !has {
			err = fmt.Errorf(`"v" is required`)
		}
		if err != nil {
			return 0, gameloop.InvalidInput("duel", err)
		}
		return v, nil
	},
	New: func(env gameloop.Env) gameloop.Game[int] { return &game{env: env} },
})

type game struct {
	env     gameloop.Env
	nums    []uint32
	x, v    []int32
	started bool
}

func (g *game) JoinAttempt(a gameloop.JoinAttempt) gameloop.Seating {
	if a.Running {
		return gameloop.Seating{Queue: true}
	}
	return gameloop.Seating{}
}

func (g *game) Join(p gameloop.Player) {
	g.nums = append(g.nums, p.Num)
	g.x = append(g.x, g.env.Rand.Int32N(100))
	g.v = append(g.v, 0)
}

func (g *game) Leave(num uint32) {
	for i, n := range g.nums {
		if n == num {
			g.nums = append(g.nums[:i], g.nums[i+1:]...)
			g.x = append(g.x[:i], g.x[i+1:]...)
			g.v = append(g.v[:i], g.v[i+1:]...)
			return
		}
	}
}

func (g *game) Tick(s gameloop.Step[int]) bool {
	for _, in := range s.Inputs {
		for i, n := range g.nums {
			if n == in.Player {
				g.v[i] = int32(in.In)
			}
		}
	}
	for i := range g.x {
		g.x[i] += g.v[i]
	}
	return false
}

func (g *game) Render(_ gameloop.ViewKey, w *gameloop.World) {
	for i, n := range g.nums {
		w.AddLabeled(n, "p", "", g.x[i])
	}
}

func (g *game) Standings() []gameloop.Standing {
	var out []gameloop.Standing
	for i, n := range g.nums {
		out = append(out, gameloop.Standing{Player: n, Score: int(g.x[i])})
	}
	return out
}

func TestKitHoldsForAOneOnOneModeWithAQueue(t *testing.T) {
	modetest.Check(t, duel)
}

func TestPlayScriptsInputsAndDigests(t *testing.T) {
	run := modetest.Play(t, duel, modetest.Options{Seed: 1, Ticks: 30})
	if len(run.Digests) != 30 {
		t.Fatalf("%d digests for 30 ticks", len(run.Digests))
	}
	if run.Digests[0] == run.Digests[29] {
		t.Error("the game did not change in 30 ticks of generated inputs")
	}
	if run.Room.Players() > run.Room.Max() || run.Room.Max() != 2 {
		t.Errorf("%d players in a room of %d", run.Room.Players(), run.Room.Max())
	}
}

func FuzzDecode(f *testing.F) { modetest.FuzzDecoder(f, duel) }

// spy is a testing.TB that records failures; Fatal ends its goroutine.
type spy struct {
	testing.TB
	failed bool
	msg    string
}

func (s *spy) Helper() {}
func (s *spy) Errorf(format string, args ...any) {
	if !s.failed {
		s.msg = fmt.Sprintf(format, args...)
	}
	s.failed = true
}
func (s *spy) Error(args ...any)                 { s.Errorf("%s", fmt.Sprint(args...)) }
func (s *spy) Fatalf(format string, args ...any) { s.Errorf(format, args...); runtime.Goexit() }
func (s *spy) Fatal(args ...any)                 { s.Error(args...); runtime.Goexit() }

// fails runs check against md with a spy and returns what it reported.
func fails(t *testing.T, check func(testing.TB, gameloop.Mode), md gameloop.Mode) (bool, string) {
	s := &spy{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(s, md)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the check did not finish")
	}
	return s.failed, s.msg
}

// broken returns duel with one flaw.
func broken(name string, newGame func(env gameloop.Env) gameloop.Game[int], decode func([]byte) (int, error)) gameloop.Mode {
	spec := gameloop.ModeSpec[int]{
		Name: name, Title: name, Settings: duel.Defaults(), Kinds: duel.Kinds(), Input: duel.Input(),
		Decode: decode, New: newGame,
	}
	if spec.Decode == nil {
		spec.Decode = func(data []byte) (int, error) {
			var v int
			err := gameloop.CheckInput(duel, data)
			if err == nil {
				v = 1
			}
			return v, err
		}
	}
	return gameloop.Define(spec)
}

var clock int32 // what a nondeterministic mode reads: state outside the seed

type clocked struct{ game }

func (g *clocked) Tick(s gameloop.Step[int]) bool {
	clock++
	if len(g.x) > 0 {
		g.x[0] += clock
	}
	return g.game.Tick(s)
}

type undeclared struct{ game }

func (g *undeclared) Render(k gameloop.ViewKey, w *gameloop.World) {
	g.game.Render(k, w)
	w.Add(gameloop.MaxPlayerNum, "ghost", 1)
}

type deaf struct{ game }

func (g *deaf) Tick(gameloop.Step[int]) bool { return false }

type greedy struct{ game }

func (g *greedy) JoinAttempt(gameloop.JoinAttempt) gameloop.Seating { return gameloop.Seating{} }

// TestKitCatchesBrokenModes: each check fails on a mode with its flaw.
func TestKitCatchesBrokenModes(t *testing.T) {
	plain := func(env gameloop.Env) *game { return &game{env: env} }
	cases := []struct {
		name  string
		check func(testing.TB, gameloop.Mode)
		md    gameloop.Mode
		want  string
	}{
		{"nondeterministic", modetest.CheckDeterminism,
			broken("clocked", func(env gameloop.Env) gameloop.Game[int] { return &clocked{*plain(env)} }, nil), "differ"},
		{"undeclared kind", modetest.CheckStreams,
			broken("undeclared", func(env gameloop.Env) gameloop.Game[int] { return &undeclared{*plain(env)} }, nil), "kind"},
		{"inputs ignored", modetest.CheckReplay,
			broken("deaf", func(env gameloop.Env) gameloop.Game[int] { return &deaf{*plain(env)} }, nil), "without the inputs"},
		{"decoder panics", modetest.CheckDecoder,
			broken("panicky", func(env gameloop.Env) gameloop.Game[int] { return plain(env) }, func(data []byte) (int, error) {
				if len(data) > 10 {
					panic("long input")
				}
				return 0, nil
			}), "not EINVALID"},
		{"decoder refuses valid input", modetest.CheckDecoder,
			broken("strict", func(env gameloop.Env) gameloop.Game[int] { return plain(env) }, func([]byte) (int, error) {
				return 0, gameloop.InvalidInput("strict", fmt.Errorf("no"))
			}), "refused"},
		{"no declaration", modetest.CheckDeclaration, gameloop.Define(gameloop.ModeSpec[int]{
			Name: "bare", Settings: duel.Defaults(), Kinds: duel.Kinds(),
			Decode: func([]byte) (int, error) { return 0, nil }, New: func(env gameloop.Env) gameloop.Game[int] { return plain(env) },
		}), "declares no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			failed, msg := fails(t, c.check, c.md)
			if !failed || !strings.Contains(msg, c.want) {
				t.Errorf("failed %v with %q, want a failure mentioning %q", failed, msg, c.want)
			}
		})
	}
	// The engine, not the mode, bounds the room: a Seater that seats everyone
	// still cannot overfill it, so the capacity check passes.
	if failed, msg := fails(t, modetest.CheckCapacity, broken("greedy", func(env gameloop.Env) gameloop.Game[int] { return &greedy{*plain(env)} }, nil)); failed {
		t.Errorf("capacity check failed for a greedy Seater: %s", msg)
	}
}
