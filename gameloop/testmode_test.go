package gameloop_test

import (
	"fmt"
	"hash"
	"time"

	"comet/gameloop"
)

// dot is the engine tests' own mode, so they name no real one: players walk
// on a line, {"v": -1..1} each tick, from a random start.
var dot = gameloop.Define(gameloop.ModeSpec[int]{
	Name:     "dot",
	Settings: gameloop.Settings{TickHz: 20, MinPlayers: 2, DefaultMax: 4, MaxPlayers: 8, Duration: time.Minute},
	Kinds:    []gameloop.Kind{{Name: "d", Fields: []string{"x"}, Label: true}},
	Input:    []gameloop.InputField{{Name: "v", Type: gameloop.InputInt, Min: -1, Max: 1, Required: true}},
	Decode: func(data []byte) (int, error) {
		v, has := 0, false
		err := gameloop.DecodeFlat("dot", data, func(key []byte, fv gameloop.FlatValue) error {
			if string(key) != "v" {
				return fmt.Errorf("unknown field %q", key)
			}
			n, err := fv.Int("v", -1, 1)
			v, has = int(n), true
			return err
		})
		if err == nil && !has {
			err = fmt.Errorf(`"v" is required`)
		}
		if err != nil {
			return 0, gameloop.InvalidInput("dot", err)
		}
		return v, nil
	},
	New: func(env gameloop.Env) gameloop.Game[int] { return &dotGame{env: env} },
})

type dotPlayer struct {
	gameloop.Player
	x, v int32
}

type dotGame struct {
	env     gameloop.Env
	players []*dotPlayer
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

// ViewOf gives each player the band of the line around it (bands of 50),
// so viewers share, change and overlap views; spectators see it all.
func (g *dotGame) ViewOf(num uint32) gameloop.ViewKey {
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
