// Package tag is the game of tag: one player is "it" and tags others by
// touching them; everyone scores a point per second of not being it. It is
// the worked example of docs/MODES.md, so it stays short.
package tag

import (
	"hash"
	"math"
	"time"

	"comet/gameloop"
)

// Mode is tag as registered with the engine.
var Mode = gameloop.Define(gameloop.ModeSpec[Input]{
	Name:  "tag",
	Title: "Tag",
	Settings: gameloop.Settings{
		TickHz: 20, MinPlayers: 3, DefaultMax: 8, MaxPlayers: 16,
		Duration: 2 * time.Minute, Countdown: 3 * time.Second, Intermission: 8 * time.Second,
	},
	Kinds: []gameloop.Kind{
		{Name: "w", Fields: []string{"w", "h"}},
		{Name: "p", Fields: []string{"x", "y", "it", "frozen", "score"}, Label: true},
	},
	Input: []gameloop.InputField{
		{Name: "m", Type: gameloop.InputInt, Min: 0, Max: 8, Required: true, Doc: "move: 0 stand, 1..8 clockwise from north"},
	},
	Decode: Decode,
	New:    New,
})

// Units: positions are in tenths of a world unit (the wire's units too).
const (
	Radius     = 200 // a player's radius
	Speed      = 110 // per tick at 20 Hz: 220 units/s
	ItSpeed    = 121 // "it" is 10% faster
	FieldW     = 16000
	FieldH     = 10000
	WorldID    = gameloop.MaxPlayerNum // the "w" entity: the field's size
	freezeTime = time.Second           // a new "it" stands still this long
	immuneTime = 2 * time.Second       // the one who tagged it cannot be tagged back until a second after
)

// dirs are the 8 moves of Input.Move (1 = north, clockwise), scaled by 1000.
var dirs = [9][2]int32{{0, 0}, {0, -1000}, {707, -707}, {1000, 0}, {707, 707}, {0, 1000}, {-707, 707}, {-1000, 0}, {-707, -707}}

type player struct {
	gameloop.Player
	x, y     int32
	move     int8
	frozen   int // ticks left standing still
	immune   int // ticks during which "it" cannot tag this player
	free     int // ticks not being it: the score
	tags     int
	taggedBy int
}

// Game is one match of tag.
type Game struct {
	env     gameloop.Env
	players []*player // in join order: every loop is deterministic
	it      *player
}

// New starts an empty field.
func New(env gameloop.Env) gameloop.Game[Input] { return &Game{env: env} }

// Join places a player at the free spot farthest from "it" of a few tries.
func (g *Game) Join(p gameloop.Player) {
	pl := &player{Player: p}
	best := int64(-1)
	for range 8 {
		x := Radius + g.env.Rand.Int32N(FieldW-2*Radius)
		y := Radius + g.env.Rand.Int32N(FieldH-2*Radius)
		d := int64(math.MaxInt64)
		if g.it != nil {
			d = dist2(x, y, g.it.x, g.it.y)
		}
		if d > best {
			best, pl.x, pl.y = d, x, y
		}
	}
	g.players = append(g.players, pl)
}

// Leave removes a player; if it was "it", the next tick picks another.
func (g *Game) Leave(num uint32) {
	for i, pl := range g.players {
		if pl.Num == num {
			g.players = append(g.players[:i], g.players[i+1:]...)
			if g.it == pl {
				g.it = nil
			}
			return
		}
	}
}

// Tick applies the latest move of each player, moves everyone, then tags.
func (g *Game) Tick(s gameloop.Step[Input]) bool {
	for _, in := range s.Inputs {
		if pl := g.find(in.Player); pl != nil {
			pl.move = in.In.Move
		}
	}
	if g.it == nil && len(g.players) > 0 {
		g.it = g.players[g.env.Rand.IntN(len(g.players))]
		g.it.frozen = g.env.Ticks(freezeTime)
	}
	for _, pl := range g.players {
		speed := int32(Speed * 20 / g.env.TickHz)
		if pl == g.it {
			speed = int32(ItSpeed * 20 / g.env.TickHz)
		}
		if pl.frozen > 0 {
			pl.frozen--
		} else {
			d := dirs[pl.move]
			pl.x = clamp(pl.x+d[0]*speed/1000, Radius, FieldW-Radius)
			pl.y = clamp(pl.y+d[1]*speed/1000, Radius, FieldH-Radius)
		}
		if pl.immune > 0 {
			pl.immune--
		}
		if pl != g.it {
			pl.free++
		}
	}
	if it := g.it; it != nil && it.frozen == 0 {
		for _, pl := range g.players {
			if pl != it && pl.immune == 0 && dist2(pl.x, pl.y, it.x, it.y) < 4*Radius*Radius {
				it.tags++
				it.immune = g.env.Ticks(immuneTime)
				pl.taggedBy++
				pl.frozen = g.env.Ticks(freezeTime)
				g.it = pl
				break
			}
		}
	}
	return false // tag ends on the time limit only
}

// Render writes the field and every player (tag has no hidden information).
func (g *Game) Render(_ gameloop.ViewKey, w *gameloop.World) {
	w.Add(WorldID, "w", FieldW, FieldH)
	for _, pl := range g.players {
		w.AddLabeled(pl.Num, "p", pl.Name, pl.x, pl.y, b2i(pl == g.it), b2i(pl.frozen > 0), int32(g.score(pl)))
	}
}

// Standings ranks players by seconds not being it.
func (g *Game) Standings() []gameloop.Standing {
	out := make([]gameloop.Standing, 0, len(g.players))
	for _, pl := range g.players {
		out = append(out, gameloop.Standing{Player: pl.Num, Score: g.score(pl), Stats: map[string]int{"tags": pl.tags, "tagged": pl.taggedBy}})
	}
	return out
}

// Digest writes the state Render does not show (moves, timers).
func (g *Game) Digest(h hash.Hash) {
	for _, pl := range g.players {
		h.Write([]byte{byte(pl.move), byte(pl.frozen), byte(pl.immune), byte(pl.free), byte(pl.free >> 8), byte(pl.free >> 16)})
	}
}

func (g *Game) score(pl *player) int { return pl.free / g.env.TickHz }

func (g *Game) find(num uint32) *player {
	for _, pl := range g.players {
		if pl.Num == num {
			return pl
		}
	}
	return nil
}

func dist2(x1, y1, x2, y2 int32) int64 {
	dx, dy := int64(x1-x2), int64(y1-y2)
	return dx*dx + dy*dy
}

func clamp(v, lo, hi int32) int32 { return max(lo, min(v, hi)) }

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
