package tag

import (
	"math"
	"math/rand/v2"
	"strconv"

	"comet/gameloop"
)

// NewBot returns a bot that chases when it is "it" and flees otherwise.
func (g *Game) NewBot(p gameloop.Player, rng *rand.Rand) gameloop.Bot {
	return &bot{g: g, num: p.Num, rng: rng, sent: -1}
}

type bot struct {
	g    *Game
	num  uint32
	rng  *rand.Rand
	sent int8 // the last move sent; a browser sends only changes
}

// Think picks a move every few ticks (a human-ish reaction time) and sends
// it when it differs from the last one.
func (b *bot) Think(tick uint64, dst []byte) []byte {
	if (tick+uint64(b.num))%3 != 0 {
		return dst
	}
	me := b.g.find(b.num)
	if me == nil {
		return dst
	}
	it := b.g.it
	var vx, vy float64
	switch {
	case it == me:
		if t := b.nearest(me); t != nil {
			vx, vy = float64(t.x-me.x), float64(t.y-me.y)
		}
	case it != nil && dist2(me.x, me.y, it.x, it.y) < 5000*5000:
		vx, vy = float64(me.x-it.x), float64(me.y-it.y)
		// Walls push back so a fleeing bot slides along them, not into them.
		vx += wallPush(me.x, FieldW)
		vy += wallPush(me.y, FieldH)
	default:
		if b.sent > 0 && b.rng.IntN(10) > 0 {
			return dst // keep wandering
		}
		vx, vy = b.rng.Float64()*2-1, b.rng.Float64()*2-1
	}
	m := toMove(vx, vy)
	if m == b.sent {
		return dst
	}
	b.sent = m
	dst = append(dst, `{"m":`...)
	dst = strconv.AppendInt(dst, int64(m), 10)
	return append(dst, '}')
}

func (b *bot) nearest(me *player) *player {
	var best *player
	bd := int64(math.MaxInt64)
	for _, pl := range b.g.players {
		if pl == me || pl.immune > 0 {
			continue
		}
		if d := dist2(pl.x, pl.y, me.x, me.y); d < bd {
			best, bd = pl, d
		}
	}
	return best
}

// wallPush is a repulsion growing near the walls at 0 and size.
func wallPush(v, size int32) float64 {
	const reach = 2500
	switch {
	case v < reach:
		return float64(reach-v) * 3
	case v > size-reach:
		return -float64(v-(size-reach)) * 3
	}
	return 0
}

// toMove quantizes a vector to one of the 8 directions (0 if it is zero).
func toMove(vx, vy float64) int8 {
	if vx == 0 && vy == 0 {
		return 0
	}
	// Angle clockwise from north with +y pointing down (screen coordinates).
	a := math.Atan2(vx, -vy)
	oct := int(math.Round(a/(math.Pi/4))+8) % 8
	return int8(oct + 1)
}
