// Package koth is king of the hill: players shove each other off a round
// hill in the middle of the field; whoever stands on it alone scores a point
// per second. It was built through the mode platform alone (gameloop,
// gameloop/modetest and one registration line).
//
// Entities, for the renderer (positions and lengths in tenths of a unit):
//
//	"w" (id gameloop.MaxPlayerNum): w, h   the field's size, origin top-left
//	                                hx, hy the hill's centre, hr its radius
//	                                king   the player number on the hill alone (0: none)
//	"p" (id: the player's number, labelled with its name):
//	    x, y   centre (a player is a disc of radius Radius = 250)
//	    aim    degrees clockwise from east (+y down), 0..359: where a shove goes
//	    cd     ticks until the player may shove again (CooldownTicks after a shove)
//	    stun   ticks left of being shoved (sliding, not steering)
//	    score  seconds as king
//	    on     1 while on the hill
//
// A shove is visible as cd jumping to its maximum; the renderer may draw an
// arc of ShoveReach in front of the pusher then.
package koth

import (
	"hash"
	"math"
	"time"

	"comet/gameloop"
)

// Mode is king of the hill as registered with the engine.
var Mode = gameloop.Define(gameloop.ModeSpec[Input]{
	Name:  "koth",
	Title: "King of the Hill",
	Settings: gameloop.Settings{
		TickHz: 20, MinPlayers: 4, DefaultMax: 8, MaxPlayers: 16,
		Duration: 3 * time.Minute, ScoreLimit: 60, Countdown: 3 * time.Second, Intermission: 8 * time.Second,
	},
	Kinds: []gameloop.Kind{
		{Name: "w", Fields: []string{"w", "h", "hx", "hy", "hr", "king"}},
		{Name: "p", Fields: []string{"x", "y", "aim", "cd", "stun", "score", "on"}, Label: true},
	},
	Input: []gameloop.InputField{
		{Name: "m", Type: gameloop.InputInt, Min: 0, Max: 8, Required: true, Doc: "move: 0 stand, 1..8 clockwise from north"},
		{Name: "a", Type: gameloop.InputNumber, Min: -360, Max: 360, Doc: "aim in degrees clockwise from east (default: the way it moves)"},
		{Name: "f", Type: gameloop.InputBool, Doc: "shove held"},
	},
	Decode: Decode,
	New:    New,
})

// Units are tenths of a world unit; speeds are per tick at 20 Hz.
const (
	FieldW, FieldH = 12000, 12000
	HillR          = 2000 // the hill's radius
	Radius         = 250
	Speed          = 100
	ShoveReach     = 2*Radius + 700 // centre to centre
	ShovePower     = 420            // the shoved player's first slide per tick
	CooldownTicks  = 20             // at 20 Hz: one shove a second
	WorldID        = gameloop.MaxPlayerNum
)

// dirs are the 8 moves of Input.Move (1 = north, clockwise), scaled by 1000.
var dirs = [9][2]int32{{0, 0}, {0, -1000}, {707, -707}, {1000, 0}, {707, 707}, {0, 1000}, {-707, 707}, {-1000, 0}, {-707, -707}}

// unit[a] is the direction of aim a (degrees clockwise from east) scaled by
// 1000, rounded once so every step is integer arithmetic.
var unit = func() (u [360][2]int32) {
	for a := range u {
		r := float64(a) * math.Pi / 180
		u[a] = [2]int32{int32(math.Round(math.Cos(r) * 1000)), int32(math.Round(math.Sin(r) * 1000))}
	}
	return u
}()

// moveAim is the aim of each move, for players who send no "a".
var moveAim = [9]int16{0, 270, 315, 0, 45, 90, 135, 180, 225}

type player struct {
	gameloop.Player
	x, y   int32
	move   int8
	aim    int16
	aimSet bool // the player sends its own aim
	shove  bool
	cd     int
	vx, vy int32 // slide after a shove
	stun   int
	king   int // ticks as king: the score
	shoves int
	shoved int
}

// Game is one match of king of the hill.
type Game struct {
	env     gameloop.Env
	players []*player // join order: every loop is deterministic
	king    *player
	over    bool
}

// New starts an empty field.
func New(env gameloop.Env) gameloop.Game[Input] { return &Game{env: env} }

// Join places a player at a random spot off the hill.
func (g *Game) Join(p gameloop.Player) {
	pl := &player{Player: p}
	for range 64 { // most spots are off the hill: the first try nearly always is
		pl.x = Radius + g.env.Rand.Int32N(FieldW-2*Radius)
		pl.y = Radius + g.env.Rand.Int32N(FieldH-2*Radius)
		if !onHill(pl.x, pl.y, HillR+Radius*4) {
			break
		}
	}
	g.players = append(g.players, pl)
}

// Leave removes a player.
func (g *Game) Leave(num uint32) {
	for i, pl := range g.players {
		if pl.Num == num {
			g.players = append(g.players[:i], g.players[i+1:]...)
			if g.king == pl {
				g.king = nil
			}
			return
		}
	}
}

// Tick applies inputs, shoves, moves everyone and scores the king.
func (g *Game) Tick(s gameloop.Step[Input]) bool {
	for _, in := range s.Inputs {
		if pl := g.find(in.Player); pl != nil {
			pl.move, pl.shove, pl.aimSet = in.In.Move, in.In.Shove, in.In.HasAim
			if in.In.HasAim {
				pl.aim = in.In.Aim
			}
		}
	}
	for _, pl := range g.players {
		if !pl.aimSet && pl.move != 0 {
			pl.aim = moveAim[pl.move]
		}
		if pl.cd > 0 {
			pl.cd--
		}
		if pl.shove && pl.cd == 0 {
			g.shove(pl)
		}
	}
	speed := int32(Speed * 20 / g.env.TickHz)
	for _, pl := range g.players {
		if pl.stun > 0 {
			pl.stun--
			pl.x += pl.vx
			pl.y += pl.vy
			pl.vx, pl.vy = pl.vx*8/10, pl.vy*8/10
		} else {
			d := dirs[pl.move]
			pl.x += d[0] * speed / 1000
			pl.y += d[1] * speed / 1000
		}
		pl.x = clamp(pl.x, Radius, FieldW-Radius)
		pl.y = clamp(pl.y, Radius, FieldH-Radius)
	}
	g.king = nil
	for _, pl := range g.players {
		if onHill(pl.x, pl.y, HillR) {
			if g.king != nil {
				g.king = nil // contested: nobody scores
				break
			}
			g.king = pl
		}
	}
	if k := g.king; k != nil {
		k.king++
		if lim := g.env.Settings.ScoreLimit; lim > 0 && g.score(k) >= lim {
			g.over = true
		}
	}
	return g.over
}

// shove knocks every other player in reach and in front (within 60° of the
// aim) away along the aim.
func (g *Game) shove(pl *player) {
	pl.cd = CooldownTicks * g.env.TickHz / 20
	pl.shoves++
	u := unit[pl.aim]
	for _, o := range g.players {
		dx, dy := int64(o.x-pl.x), int64(o.y-pl.y)
		d2 := dx*dx + dy*dy
		dot := dx*int64(u[0]) + dy*int64(u[1]) // |d| × 1000 × cos(angle)
		if o == pl || d2 > ShoveReach*ShoveReach || dot <= 0 || 4*dot*dot < d2*1000*1000 {
			continue
		}
		o.vx, o.vy = u[0]*ShovePower/1000, u[1]*ShovePower/1000
		o.stun = g.env.Ticks(600 * time.Millisecond)
		o.shoved++
	}
}

// Render writes the field with the hill and every player (no hidden
// information).
func (g *Game) Render(_ gameloop.ViewKey, w *gameloop.World) {
	var king uint32
	if g.king != nil {
		king = g.king.Num
	}
	w.Add(WorldID, "w", FieldW, FieldH, FieldW/2, FieldH/2, HillR, int32(king))
	for _, pl := range g.players {
		w.AddLabeled(pl.Num, "p", pl.Name, pl.x, pl.y, int32(pl.aim), int32(pl.cd), int32(pl.stun),
			int32(g.score(pl)), b2i(onHill(pl.x, pl.y, HillR)))
	}
}

// Standings rank players by seconds as king.
func (g *Game) Standings() []gameloop.Standing {
	out := make([]gameloop.Standing, 0, len(g.players))
	for _, pl := range g.players {
		out = append(out, gameloop.Standing{Player: pl.Num, Score: g.score(pl),
			Stats: map[string]int{"shoves": pl.shoves, "shoved": pl.shoved}})
	}
	return out
}

// Digest writes the state Render does not show.
func (g *Game) Digest(h hash.Hash) {
	var b []byte
	for _, pl := range g.players {
		for _, v := range []int64{int64(pl.move), b2i64(pl.aimSet), b2i64(pl.shove), int64(pl.vx), int64(pl.vy), int64(pl.king), int64(pl.shoves), int64(pl.shoved)} {
			b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		}
	}
	h.Write(b)
}

func (g *Game) score(pl *player) int { return pl.king / g.env.TickHz }

func (g *Game) find(num uint32) *player {
	for _, pl := range g.players {
		if pl.Num == num {
			return pl
		}
	}
	return nil
}

func onHill(x, y, r int32) bool {
	dx, dy := int64(x-FieldW/2), int64(y-FieldH/2)
	return dx*dx+dy*dy <= int64(r)*int64(r)
}

func clamp(v, lo, hi int32) int32 { return max(lo, min(v, hi)) }

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

func b2i64(b bool) int64 { return int64(b2i(b)) }
