package koth

import (
	"math"
	"math/rand/v2"
	"strconv"

	"comet/gameloop"
)

// NewBot returns a bot that climbs the hill, shoves whoever shares it and
// wanders on top when alone.
func (g *Game) NewBot(p gameloop.Player, rng *rand.Rand) gameloop.Bot {
	return &bot{g: g, num: p.Num, rng: rng, move: -1}
}

type bot struct {
	g     *Game
	num   uint32
	rng   *rand.Rand
	move  int8 // the last input sent; a browser sends changes only
	aim   int
	shove bool
}

// Think decides every third tick (staggered), like a human's reaction time.
func (b *bot) Think(tick uint64, dst []byte) []byte {
	if (tick+uint64(b.num))%3 != 0 {
		return dst
	}
	me := b.g.find(b.num)
	if me == nil {
		return dst
	}
	move, aim, shove := b.move, b.aim, false
	cx, cy := float64(FieldW/2-me.x), float64(FieldH/2-me.y)
	if t := b.nearest(me); t != nil && dist2(me, t) < 3*ShoveReach*ShoveReach {
		dx, dy := float64(t.x-me.x), float64(t.y-me.y)
		aim = int(math.Round(math.Atan2(dy, dx)*180/math.Pi)) + b.rng.IntN(11) - 5
		shove = dist2(me, t) < ShoveReach*ShoveReach
		move = toMove(dx+cx/4, dy+cy/4) // at it, leaning to the hill
	} else if !onHill(me.x, me.y, HillR*2/3) || b.move < 0 || b.rng.IntN(6) == 0 {
		move = toMove(cx+b.rng.Float64()*800-400, cy+b.rng.Float64()*800-400)
		aim = int(math.Round(math.Atan2(cy, cx) * 180 / math.Pi))
	}
	aim = (aim%360 + 360) % 360
	if move == b.move && shove == b.shove && aim == b.aim {
		return dst
	}
	b.move, b.aim, b.shove = move, aim, shove
	dst = append(dst, `{"m":`...)
	dst = strconv.AppendInt(dst, int64(move), 10)
	dst = append(dst, `,"a":`...)
	dst = strconv.AppendInt(dst, int64(aim), 10)
	dst = append(dst, `,"f":`...)
	dst = strconv.AppendBool(dst, shove)
	return append(dst, '}')
}

// nearest is the closest other player on or near the hill.
func (b *bot) nearest(me *player) *player {
	var best *player
	bd := int64(math.MaxInt64)
	for _, pl := range b.g.players {
		if pl == me || !onHill(pl.x, pl.y, HillR+ShoveReach) {
			continue
		}
		if d := dist2(me, pl); d < bd {
			best, bd = pl, d
		}
	}
	return best
}

func dist2(a, b *player) int64 {
	dx, dy := int64(a.x-b.x), int64(a.y-b.y)
	return dx*dx + dy*dy
}

// toMove quantizes a vector to one of the 8 directions (0 if it is zero).
func toMove(vx, vy float64) int8 {
	if vx == 0 && vy == 0 {
		return 0
	}
	a := math.Atan2(vx, -vy) // clockwise from north, +y down
	return int8((int(math.Round(a/(math.Pi/4)))+8)%8 + 1)
}
