package snake

import (
	"math/rand/v2"
	"strconv"

	"comet/gameloop"
)

// NewBot returns a bot that heads for the nearest food and avoids turns
// into dead ends.
func (g *Game) NewBot(p gameloop.Player, rng *rand.Rand) gameloop.Bot {
	return &bot{g: g, num: p.Num, rng: rng}
}

type bot struct {
	g   *Game
	num uint32
	rng *rand.Rand
}

// room is how many free cells a bot wants reachable after a turn.
const room = 24

// Think scores going straight, left and right: survival first (free cells
// reachable), then distance to the nearest food, with a little noise.
func (b *bot) Think(_ uint64, dst []byte) []byte {
	s := b.g.find(b.num)
	if s == nil || !s.alive || len(s.turns) > 0 {
		return dst
	}
	best, bestScore := s.dir, -1<<30
	for _, d := range [3]int8{s.dir, (s.dir + 1) % 4, (s.dir + 3) % 4} {
		x, y := s.head.x+delta[d][0], s.head.y+delta[d][1]
		if !b.g.inside(x, y) || b.g.occ[b.g.idx(x, y)] != 0 {
			continue
		}
		score := b.g.reach(x, y, room) * 1000
		score -= b.g.foodDistance(x, y) * 10
		score += b.rng.IntN(5)
		if d == s.dir {
			score += 3 // a slight preference for going straight
		}
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	if best == s.dir {
		return dst
	}
	dst = append(dst, `{"d":`...)
	dst = strconv.AppendInt(dst, int64(best), 10)
	return append(dst, '}')
}

// reach counts free cells reachable from (x,y), up to limit: a breadth-first
// search over stamped scratch arrays, so bots think without allocating.
func (g *Game) reach(x, y int32, limit int) int {
	if len(g.seen) != len(g.occ) {
		g.seen = make([]uint32, len(g.occ))
	}
	g.stamp++
	start := g.idx(x, y)
	g.seen[start] = g.stamp
	queue := append(g.queue[:0], start)
	found := 1
	for k := 0; k < len(queue) && found < limit; k++ {
		c := queue[k]
		cx, cy := c%g.w, c/g.w
		for _, st := range delta {
			nx, ny := cx+st[0], cy+st[1]
			if !g.inside(nx, ny) {
				continue
			}
			if i := g.idx(nx, ny); g.occ[i] == 0 && g.seen[i] != g.stamp {
				g.seen[i] = g.stamp
				queue = append(queue, i)
				found++
			}
		}
	}
	g.queue = queue
	return min(found, limit)
}

// foodDistance is the Manhattan distance to the nearest food.
func (g *Game) foodDistance(x, y int32) int {
	best := int(g.w + g.h)
	for _, f := range g.foods {
		best = min(best, int(abs(f.x-x)+abs(f.y-y)))
	}
	return best
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}
