// Package snake is multiplayer snake on a grid: eat food to grow, die on
// walls and on any snake's body (your own included), respawn short; the
// longest snake when time runs out wins.
package snake

import (
	"hash"
	"math"
	"time"

	"comet/gameloop"
)

// Mode is snake as registered with the engine. Snakes move one cell per
// tick, so it runs at 10 Hz.
var Mode = gameloop.Define(gameloop.ModeSpec[Input]{
	Name:  "snake",
	Title: "Snake",
	Settings: gameloop.Settings{
		TickHz: 10, MinPlayers: 4, DefaultMax: 12, MaxPlayers: 64,
		Duration: 3 * time.Minute, Countdown: 3 * time.Second, Intermission: 8 * time.Second,
	},
	Kinds: []gameloop.Kind{
		{Name: "w", Fields: []string{"w", "h"}},
		{Name: "p", Fields: []string{"x", "y", "dir", "len", "alive"}, Label: true},
		{Name: "s", Fields: []string{"x", "y", "owner"}},
		{Name: "f", Fields: []string{"x", "y"}},
	},
	Input: []gameloop.InputField{
		{Name: "d", Type: gameloop.InputInt, Min: 0, Max: 3, Required: true, Doc: "turn: 0 up, 1 right, 2 down, 3 left"},
	},
	Decode: Decode,
	New:    New,
})

// Directions of Input.Dir and the "dir" field.
const (
	Up    = 0
	Right = 1
	Down  = 2
	Left  = 3
)

const (
	WorldID     = gameloop.MaxPlayerNum
	StartLen    = 3 // a fresh snake: head and two segments
	maxTurns    = 2 // turns a player may queue ahead (quick double turns)
	respawnTime = 2 * time.Second
)

var delta = [4][2]int32{{0, -1}, {1, 0}, {0, 1}, {-1, 0}}

// GridSize is the grid for a room of max players: about 200 cells each.
func GridSize(maxPlayers int) (w, h int32) {
	w = int32(math.Round(math.Sqrt(float64(maxPlayers) * 200)))
	w = max(30, min(w, 200))
	return w, w * 3 / 4
}

type cell struct {
	x, y int32
	id   uint32 // segment entity id
}

type snake struct {
	gameloop.Player
	alive   bool
	head    cell
	dir     int8
	turns   []int8
	segs    []cell // body behind the head, tail first
	grow    int
	respawn int // ticks until respawn while dead
	best    int
	kills   int
	deaths  int
	eaten   int
}

func (s *snake) length() int {
	if !s.alive {
		return 0
	}
	return 1 + len(s.segs)
}

// Game is one match of snake.
type Game struct {
	env     gameloop.Env
	w, h    int32
	snakes  []*snake // join order
	occ     []uint32 // cell → number of the snake occupying it, 0 free
	food    []uint32 // cell → food entity id, 0 none
	foods   []cell   // every food, in the order placed
	nextID  uint32
	respawn int
	heads   map[int32]int // scratch: new head cell → snakes moving there
	seen    []uint32      // bots' scratch: search stamps per cell
	stamp   uint32
	queue   []int32
}

// New starts an empty grid sized for the room.
func New(env gameloop.Env) gameloop.Game[Input] {
	w, h := GridSize(env.Settings.MaxPlayers)
	return &Game{
		env: env, w: w, h: h, nextID: WorldID + 1, respawn: env.Ticks(respawnTime),
		occ: make([]uint32, w*h), food: make([]uint32, w*h), heads: make(map[int32]int),
	}
}

func (g *Game) idx(x, y int32) int32 { return y*g.w + x }

func (g *Game) inside(x, y int32) bool { return x >= 0 && y >= 0 && x < g.w && y < g.h }

func (g *Game) id() uint32 {
	g.nextID++
	return g.nextID
}

// Join places a new snake; if no spot is free it waits as dead and retries.
func (g *Game) Join(p gameloop.Player) {
	s := &snake{Player: p}
	g.snakes = append(g.snakes, s)
	g.place(s)
	g.topUpFood()
}

// Leave removes a snake and its body.
func (g *Game) Leave(num uint32) {
	for i, s := range g.snakes {
		if s.Num == num {
			g.clearBody(s)
			g.snakes = append(g.snakes[:i], g.snakes[i+1:]...)
			return
		}
	}
}

// place puts s on a random spot with room ahead and behind it.
func (g *Game) place(s *snake) {
	for range 200 {
		x, y, d := g.env.Rand.Int32N(g.w), g.env.Rand.Int32N(g.h), int8(g.env.Rand.IntN(4))
		if g.clear(x, y, d) {
			s.alive, s.dir, s.turns, s.grow = true, d, s.turns[:0], 0
			s.head = cell{x: x, y: y}
			s.segs = s.segs[:0]
			for k := int32(StartLen - 1); k >= 1; k-- { // tail first
				c := cell{x: x - delta[d][0]*k, y: y - delta[d][1]*k, id: g.id()}
				s.segs = append(s.segs, c)
				g.occ[g.idx(c.x, c.y)] = s.Num
			}
			g.occ[g.idx(x, y)] = s.Num
			s.best = max(s.best, s.length())
			return
		}
	}
	s.alive, s.respawn = false, g.respawn // the grid is crowded: try again later
}

// clear reports whether a snake can start at (x,y) heading d: its body
// behind and four cells ahead are inside, free of snakes and food.
func (g *Game) clear(x, y int32, d int8) bool {
	for k := int32(-(StartLen - 1)); k <= 4; k++ {
		cx, cy := x+delta[d][0]*k, y+delta[d][1]*k
		if !g.inside(cx, cy) || g.occ[g.idx(cx, cy)] != 0 || g.food[g.idx(cx, cy)] != 0 {
			return false
		}
	}
	return true
}

// Tick respawns, turns, moves, resolves collisions and feeds.
func (g *Game) Tick(st gameloop.Step[Input]) bool {
	for _, s := range g.snakes {
		if !s.alive && s.respawn > 0 {
			if s.respawn--; s.respawn == 0 {
				g.place(s)
			}
		}
	}
	for _, in := range st.Inputs {
		if s := g.find(in.Player); s != nil && s.alive {
			s.queueTurn(in.In.Dir)
		}
	}
	type move struct {
		s    *snake
		x, y int32
	}
	moves := make([]move, 0, len(g.snakes))
	clear(g.heads)
	for _, s := range g.snakes {
		if !s.alive {
			continue
		}
		if len(s.turns) > 0 {
			s.dir, s.turns = s.turns[0], s.turns[1:]
		}
		x, y := s.head.x+delta[s.dir][0], s.head.y+delta[s.dir][1]
		moves = append(moves, move{s, x, y})
		if g.inside(x, y) {
			g.heads[g.idx(x, y)]++
		}
		if s.grow == 0 { // the tail moves away this tick, so it can be followed
			t := s.segs[0]
			g.occ[g.idx(t.x, t.y)] = 0
		}
	}
	var dead []*snake
	for _, m := range moves {
		switch {
		case !g.inside(m.x, m.y):
			dead = append(dead, m.s)
		case g.heads[g.idx(m.x, m.y)] > 1: // head-on: both die
			dead = append(dead, m.s)
		case g.occ[g.idx(m.x, m.y)] != 0:
			if killer := g.find(g.occ[g.idx(m.x, m.y)]); killer != nil && killer != m.s {
				killer.kills++
			}
			dead = append(dead, m.s)
		}
	}
	for _, m := range moves {
		s := m.s
		if containsSnake(dead, s) {
			if s.grow == 0 { // its tail was lifted above
				t := s.segs[0]
				g.occ[g.idx(t.x, t.y)] = s.Num
			}
			continue
		}
		s.segs = append(s.segs, cell{x: s.head.x, y: s.head.y, id: g.id()})
		if s.grow > 0 {
			s.grow--
		} else {
			s.segs = s.segs[1:]
		}
		s.head = cell{x: m.x, y: m.y}
		i := g.idx(m.x, m.y)
		g.occ[i] = s.Num
		if g.food[i] != 0 {
			g.eat(i)
			s.grow++
			s.eaten++
		}
		s.best = max(s.best, s.length()+s.grow)
	}
	for _, s := range dead {
		g.kill(s)
	}
	g.topUpFood()
	return false // snake ends on the time limit only
}

// queueTurn accepts a turn unless it reverses or repeats the direction the
// snake will have by then.
func (s *snake) queueTurn(d int8) {
	last := s.dir
	if n := len(s.turns); n > 0 {
		last = s.turns[n-1]
	}
	if d == last || d == (last+2)%4 || len(s.turns) >= maxTurns {
		return
	}
	s.turns = append(s.turns, d)
}

// kill ends a snake: every other body cell becomes food.
func (g *Game) kill(s *snake) {
	s.deaths++
	for k, c := range s.segs {
		if k%2 == 0 && g.food[g.idx(c.x, c.y)] == 0 {
			g.addFood(c.x, c.y)
		}
	}
	g.clearBody(s)
	s.alive, s.respawn, s.segs, s.turns, s.grow = false, g.respawn, s.segs[:0], s.turns[:0], 0
}

func (g *Game) clearBody(s *snake) {
	if !s.alive {
		return
	}
	for _, c := range s.segs {
		if g.occ[g.idx(c.x, c.y)] == s.Num {
			g.occ[g.idx(c.x, c.y)] = 0
		}
	}
	if g.occ[g.idx(s.head.x, s.head.y)] == s.Num {
		g.occ[g.idx(s.head.x, s.head.y)] = 0
	}
}

func (g *Game) addFood(x, y int32) {
	id := g.id()
	g.food[g.idx(x, y)] = id
	g.foods = append(g.foods, cell{x: x, y: y, id: id})
}

func (g *Game) eat(i int32) {
	id := g.food[i]
	g.food[i] = 0
	for k, f := range g.foods {
		if f.id == id {
			g.foods = append(g.foods[:k], g.foods[k+1:]...)
			break
		}
	}
}

// topUpFood keeps about two pieces of food per snake, plus five.
func (g *Game) topUpFood() {
	want := 5 + 2*len(g.snakes)
	for tries := 0; len(g.foods) < want && tries < 100; tries++ {
		x, y := g.env.Rand.Int32N(g.w), g.env.Rand.Int32N(g.h)
		if i := g.idx(x, y); g.occ[i] == 0 && g.food[i] == 0 {
			g.addFood(x, y)
		}
	}
}

// Render writes the grid size, the snakes and the food.
func (g *Game) Render(_ gameloop.ViewKey, w *gameloop.World) {
	w.Add(WorldID, "w", g.w, g.h)
	for _, s := range g.snakes {
		w.AddLabeled(s.Num, "p", s.Name, s.head.x, s.head.y, int32(s.dir), int32(s.length()), b2i(s.alive))
		if !s.alive {
			continue
		}
		for _, c := range s.segs {
			w.Add(c.id, "s", c.x, c.y, int32(s.Num))
		}
	}
	for _, f := range g.foods {
		w.Add(f.id, "f", f.x, f.y)
	}
}

// Standings ranks snakes by their current length (0 while dead).
func (g *Game) Standings() []gameloop.Standing {
	out := make([]gameloop.Standing, 0, len(g.snakes))
	for _, s := range g.snakes {
		out = append(out, gameloop.Standing{Player: s.Num, Score: s.length(), Stats: map[string]int{
			"best": s.best, "kills": s.kills, "deaths": s.deaths, "food": s.eaten,
		}})
	}
	return out
}

// Digest writes what Render does not show: queued turns, growth, timers.
func (g *Game) Digest(h hash.Hash) {
	var b []byte
	for _, s := range g.snakes {
		b = append(b, byte(s.Num), byte(s.Num>>8), byte(s.dir), byte(s.grow), byte(s.respawn), byte(len(s.turns)))
		for _, t := range s.turns {
			b = append(b, byte(t))
		}
	}
	b = append(b, byte(g.nextID), byte(g.nextID>>8), byte(g.nextID>>16), byte(g.nextID>>24))
	h.Write(b)
}

func (g *Game) find(num uint32) *snake {
	for _, s := range g.snakes {
		if s.Num == num {
			return s
		}
	}
	return nil
}

func containsSnake(list []*snake, s *snake) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
