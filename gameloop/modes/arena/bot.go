package arena

import (
	"math"
	"math/rand/v2"
	"strconv"

	"comet/gameloop"
)

// Bot tuning: how far a bot looks for a target, how close it likes to fight
// and how often it reconsiders (a human-ish reaction time).
const (
	botSight    = 5000
	botRange    = 4500
	botKeep     = 2500
	botThinkGap = 4 // ticks
)

// NewBot returns a bot that hunts the nearest enemy it can see and wanders
// when it sees none.
func (g *Game) NewBot(p gameloop.Player, rng *rand.Rand) gameloop.Bot {
	return &bot{g: g, num: p.Num, rng: rng, move: -1}
}

type bot struct {
	g           *Game
	num         uint32
	rng         *rand.Rand
	move        int8 // last input sent
	aim         int
	fire        bool
	wx, wy      int32 // wander waypoint
	strafe      int8  // +1 or -1: which way to circle a target
	hasWaypoint bool
}

// Think decides move, aim and trigger, and sends them when they changed.
func (b *bot) Think(tick uint64, dst []byte) []byte {
	if (tick+uint64(b.num))%botThinkGap != 0 {
		return dst
	}
	me := b.g.byNum[b.num]
	if me == nil || me.dead > 0 {
		return dst
	}
	move, aim, fire := b.move, b.aim, false
	if t := b.g.nearestEnemy(me, botSight); t != nil {
		dx, dy := float64(t.x-me.x), float64(t.y-me.y)
		dist := math.Hypot(dx, dy)
		aim = int(math.Round(math.Atan2(dy, dx)*180/math.Pi)) + b.rng.IntN(9) - 4
		fire = dist < botRange
		if b.strafe == 0 || b.rng.IntN(8) == 0 {
			b.strafe = int8(1 - 2*b.rng.IntN(2))
		}
		// Close in when far, back off when close, circle in between.
		switch {
		case dist > botKeep*3/2:
			move = toMove(dx, dy)
		case dist < botKeep*2/3:
			move = toMove(-dx, -dy)
		default:
			move = toMove(-dy*float64(b.strafe), dx*float64(b.strafe))
		}
	} else {
		if !b.hasWaypoint || dist2(me.x, me.y, b.wx, b.wy) < 1000*1000 {
			b.wx = Radius + b.rng.Int32N(b.g.size-2*Radius)
			b.wy = Radius + b.rng.Int32N(b.g.size-2*Radius)
			b.hasWaypoint = true
		}
		move = toMove(float64(b.wx-me.x), float64(b.wy-me.y))
		aim = int(math.Round(math.Atan2(float64(b.wy-me.y), float64(b.wx-me.x)) * 180 / math.Pi))
	}
	aim = ((aim % 360) + 360) % 360
	if move == b.move && fire == b.fire && absDiff(aim, b.aim) < 3 {
		return dst
	}
	b.move, b.aim, b.fire = move, aim, fire
	dst = append(dst, `{"m":`...)
	dst = strconv.AppendInt(dst, int64(move), 10)
	dst = append(dst, `,"a":`...)
	dst = strconv.AppendInt(dst, int64(aim), 10)
	if fire {
		dst = append(dst, `,"f":true`...)
	}
	return append(dst, '}')
}

// nearestEnemy searches the collision grid around me for the closest living,
// unprotected player within reach.
func (g *Game) nearestEnemy(me *player, reach int32) *player {
	var best *player
	bd := int64(reach) * int64(reach)
	cx0, cx1 := max(0, (me.x-reach)/CellSize), min(g.gridDim-1, (me.x+reach)/CellSize)
	cy0, cy1 := max(0, (me.y-reach)/CellSize), min(g.gridDim-1, (me.y+reach)/CellSize)
	for cy := cy0; cy <= cy1; cy++ {
		for cx := cx0; cx <= cx1; cx++ {
			for pl := g.grid[cy*g.gridDim+cx]; pl != nil; pl = pl.gridNext {
				if pl == me || pl.protected > 0 || pl.dead > 0 {
					continue
				}
				if d := dist2(pl.x, pl.y, me.x, me.y); d < bd {
					best, bd = pl, d
				}
			}
		}
	}
	return best
}

func dist2(x1, y1, x2, y2 int32) int64 {
	dx, dy := int64(x1-x2), int64(y1-y2)
	return dx*dx + dy*dy
}

func absDiff(a, b int) int {
	d := (a - b + 360) % 360
	return min(d, 360-d)
}

// toMove quantizes a vector to one of the 8 directions (0 if it is zero).
func toMove(vx, vy float64) int8 {
	if vx == 0 && vy == 0 {
		return 0
	}
	a := math.Atan2(vx, -vy) // clockwise from north, +y down
	return int8((int(math.Round(a/(math.Pi/4)))+8)%8 + 1)
}
