package gameloop_test

import (
	"fmt"
	"hash"
	"math/rand/v2"
	"time"

	"comet/gameloop"
)

// The engine tests' own modes, so they name no real one: players walk on a
// line, their input field setting a speed, from a random start. In dot,
// views are bands of the line (see ViewOf).
var (
	dot   = lineMode("dot", "v", -1, 1, gameloop.Settings{TickHz: 20, MinPlayers: 2, DefaultMax: 4, MaxPlayers: 8, Duration: time.Minute})
	walk  = lineMode("walk", "m", 0, 8, gameloop.Settings{TickHz: 20, MinPlayers: 3, DefaultMax: 8, MaxPlayers: 16, Duration: 2 * time.Minute, Countdown: 3 * time.Second, Intermission: 8 * time.Second})
	crawl = lineMode("crawl", "d", 0, 3, gameloop.Settings{TickHz: 10, MinPlayers: 4, DefaultMax: 12, MaxPlayers: 64, Duration: 3 * time.Minute, Countdown: 3 * time.Second, Intermission: 8 * time.Second})
	brawl = lineMode("brawl", "m", 0, 8, gameloop.Settings{TickHz: 20, MinPlayers: 6, DefaultMax: 64, MaxPlayers: 1000, Duration: 5 * time.Minute, Countdown: 3 * time.Second, Intermission: 10 * time.Second})

	testModes = []gameloop.Mode{walk, crawl, brawl}
)

// lineMode is a mode whose one input field key, lo..hi, sets a player's
// speed to value - (lo+hi)/2.
func lineMode(name, key string, lo, hi int64, set gameloop.Settings) gameloop.Mode {
	return gameloop.Define(gameloop.ModeSpec[int]{
		Name:     name,
		Settings: set,
		Kinds:    []gameloop.Kind{{Name: "d", Fields: []string{"x"}, Label: true}},
		Input:    []gameloop.InputField{{Name: key, Type: gameloop.InputInt, Min: float64(lo), Max: float64(hi), Required: true}},
		Decode: func(data []byte) (int, error) {
			v, has := 0, false
			err := gameloop.DecodeFlat(name, data, func(k []byte, fv gameloop.FlatValue) error {
				if string(k) != key {
					return fmt.Errorf("unknown field %q", k)
				}
				n, err := fv.Int(key, int(lo), int(hi))
				v, has = n-int(lo+hi)/2, true
				return err
			})
			if err == nil && !has {
				err = fmt.Errorf("%q is required", key)
			}
			if err != nil {
				return 0, gameloop.InvalidInput(name, err)
			}
			return v, nil
		},
		New: func(env gameloop.Env) gameloop.Game[int] {
			return &dotGame{env: env, key: key, mid: (lo + hi) / 2, bands: name == "dot"}
		},
	})
}

type dotPlayer struct {
	gameloop.Player
	x, v int32
}

type dotGame struct {
	env     gameloop.Env
	key     string
	mid     int64
	bands   bool // players see only their band of the line
	players []*dotPlayer
}

// NewBot returns a bot that picks a random speed now and then.
func (g *dotGame) NewBot(p gameloop.Player, rng *rand.Rand) gameloop.Bot {
	return dotBot{g: g, rng: rng, num: p.Num}
}

type dotBot struct {
	g   *dotGame
	rng *rand.Rand
	num uint32
}

func (b dotBot) Think(tick uint64, dst []byte) []byte {
	if (tick+uint64(b.num))%5 != 0 {
		return dst
	}
	return fmt.Appendf(dst, `{%q:%d}`, b.g.key, b.g.mid+1-2*int64(b.rng.IntN(2))) // never still: every tick changes the view
}

func (g *dotGame) Join(p gameloop.Player) {
	g.players = append(g.players, &dotPlayer{Player: p, x: g.env.Rand.Int32N(1000)})
}

func (g *dotGame) Leave(num uint32) {
	for i, p := range g.players {
		if p.Num == num {
			g.players = append(g.players[:i], g.players[i+1:]...)
			return
		}
	}
}

func (g *dotGame) Tick(s gameloop.Step[int]) bool {
	for _, in := range s.Inputs {
		for _, p := range g.players {
			if p.Num == in.Player {
				p.v = int32(in.In)
			}
		}
	}
	for _, p := range g.players {
		p.x += p.v
	}
	return false
}

// ViewOf gives each player of dot the band of the line around it (bands of
// 50), so viewers share, change and overlap views; spectators see it all.
func (g *dotGame) ViewOf(num uint32) gameloop.ViewKey {
	if !g.bands {
		return 0
	}
	for _, p := range g.players {
		if p.Num == num {
			return gameloop.ViewKey(band(p.x) + 1<<20)
		}
	}
	return 0
}

func band(x int32) int64 { return int64(x) / 50 }

func (g *dotGame) Render(key gameloop.ViewKey, w *gameloop.World) {
	for _, p := range g.players {
		if d := band(p.x) - (int64(key) - 1<<20); key == 0 || (d >= -1 && d <= 1) {
			w.AddLabeled(p.Num, "d", p.Name, p.x)
		}
	}
}

func (g *dotGame) Standings() []gameloop.Standing {
	out := make([]gameloop.Standing, 0, len(g.players))
	for _, p := range g.players {
		out = append(out, gameloop.Standing{Player: p.Num, Score: int(p.x)})
	}
	return out
}

func (g *dotGame) Digest(h hash.Hash) {
	for _, p := range g.players {
		h.Write([]byte{byte(p.v + 1)})
	}
}
