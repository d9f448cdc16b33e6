// Package arena is a top-down free-for-all shooter: move in 8 directions,
// aim, shoot; projectiles, hit points and respawns; the first to the frag
// limit (20) or the most frags after 5 minutes wins. It scales to 1,000
// players in one room: collisions use a spatial grid and each player sees
// only the area around it (at least 450 units in every direction). The field
// grows with the players who join, and a few humans spawn near each other.
package arena

import (
	"hash"
	"math"
	"time"

	"comet/gameloop"
)

// Mode is arena as registered with the engine.
var Mode = gameloop.Define(gameloop.ModeSpec[Input]{
	Name:  "arena",
	Title: "Arena",
	Settings: gameloop.Settings{
		TickHz: 20, MinPlayers: 6, DefaultMax: 64, MaxPlayers: 1000,
		Duration: 5 * time.Minute, ScoreLimit: 20, Countdown: 3 * time.Second, Intermission: 10 * time.Second,
	},
	Kinds: []gameloop.Kind{
		{Name: "w", Fields: []string{"w", "h"}},
		{Name: "p", Fields: []string{"x", "y", "aim", "hp", "frags", "deaths", "state"}, Label: true},
		{Name: "b", Fields: []string{"x", "y", "dx", "dy", "t", "owner"}},
	},
	Input: []gameloop.InputField{
		{Name: "m", Type: gameloop.InputInt, Min: 0, Max: 8, Required: true, Doc: "move: 0 stand, 1..8 clockwise from north"},
		{Name: "a", Type: gameloop.InputNumber, Min: -360, Max: 360, Required: true, Doc: "aim in degrees clockwise from east"},
		{Name: "f", Type: gameloop.InputBool, Doc: "trigger held"},
	},
	Decode: Decode,
	New:    New,
})

// Lengths are in tenths of a world unit (the wire's unit), speeds per second.
const (
	Radius       = 200  // a player's radius
	PlayerSpeed  = 2000 // 200 units/s
	BulletSpeed  = 7000 // 700 units/s
	MaxHP        = 100  // hit points after spawning
	Damage       = 20   // per hit: five hits kill
	CellSize     = 1000 // collision grid cell, larger than a bullet's step plus a radius
	ViewCell     = 9000 // area-of-interest cell; a player sees the 2×2 cells nearest to it
	WorldID      = gameloop.MaxPlayerNum
	firstBullet  = gameloop.MaxPlayerNum + 1
	bulletLife   = 800 * time.Millisecond
	fireInterval = 200 * time.Millisecond
	respawnTime  = 2 * time.Second
	protectTime  = time.Second   // spawn protection: cannot be hit
	MinField     = 12000         // the field's side for a few players
	MaxField     = 13 * ViewCell // and its largest
	fieldPer     = 3500          // side per √player: about the same space each
	nearHumans   = 8             // at most this many humans spawn near each other
	SpawnNear    = 3000          // how far from another human, on each axis
)

// Player states on the wire.
const (
	StateAlive     = 0
	StateDead      = 1 // waiting to respawn
	StateProtected = 2 // just spawned, cannot be hit
)

// FieldSize is the side of the square field for a match of n players: about
// the same space per player, within MinField and MaxField. Beyond two view
// cells it is a whole number of them, so every view cell is a full one.
func FieldSize(n int) int32 {
	s := max(MinField, min(int32(math.Sqrt(float64(n))*fieldPer), MaxField))
	if s > 2*ViewCell {
		s = s / ViewCell * ViewCell
	}
	return s
}

type player struct {
	gameloop.Player
	x, y      int32
	move      int8
	aim       int16 // degrees clockwise from east
	fire      bool
	hp        int32
	cooldown  int    // ticks until the next shot
	dead      int    // ticks until respawn while dead
	protected int    // ticks of spawn protection left
	killer    uint32 // who fragged it last (0: nobody yet)
	frags     int
	deaths    int
	shots     int
	hits      int
	gridNext  *player // next player in the same collision cell
	viewNext  *player // next player in the same view cell
}

type bullet struct {
	id       uint32
	x0, y0   int32 // position at tick t0
	dx, dy   int32 // per tick
	t0       uint64
	owner    uint32
	viewNext int32 // next bullet index in the same view cell, -1 ends
}

func (b *bullet) at(t uint64) (int32, int32) {
	n := int32(t - b.t0)
	return b.x0 + b.dx*n, b.y0 + b.dy*n
}

// Game is one match of arena.
type Game struct {
	env      gameloop.Env
	size     int32
	speed    int32 // per tick
	bspeed   int32
	life     int
	interval int
	respawn  int
	protect  int
	tick     uint64
	players  []*player // join order
	byNum    map[uint32]*player
	bullets  []bullet
	nextID   uint32
	leader   *player

	grid    []*player // collision grid: head of each cell's list
	gridDim int32
	viewDim int32
	viewP   []*player // view grid heads
	viewB   []int32
	viewGen uint64 // bumped by every change; views rebuild when stale
	viewAt  uint64
	digest  []byte
}

// New starts an empty field of the smallest size; joins grow it.
func New(env gameloop.Env) gameloop.Game[Input] {
	g := &Game{
		env: env, byNum: make(map[uint32]*player), nextID: firstBullet,
		speed:    int32(PlayerSpeed / env.TickHz),
		bspeed:   int32(BulletSpeed / env.TickHz),
		life:     env.Ticks(bulletLife),
		interval: env.Ticks(fireInterval),
		respawn:  env.Ticks(respawnTime),
		protect:  env.Ticks(protectTime),
		viewGen:  1,
	}
	g.resize(FieldSize(0))
	return g
}

// resize sets the field's side and sizes the grids for it.
func (g *Game) resize(size int32) {
	g.size = size
	g.gridDim = (size + CellSize - 1) / CellSize
	g.viewDim = size / ViewCell
	g.grid = make([]*player, g.gridDim*g.gridDim)
	g.viewP = make([]*player, g.viewDim*g.viewDim)
	g.viewB = make([]int32, g.viewDim*g.viewDim)
	g.viewGen++
}

// Join grows the field to FieldSize of the players now in the match (it
// never shrinks within a match) and spawns the player.
func (g *Game) Join(p gameloop.Player) {
	pl := &player{Player: p}
	if s := FieldSize(len(g.players) + 1); s > g.size {
		g.resize(s)
	}
	g.spawn(pl)
	g.players = append(g.players, pl)
	g.byNum[p.Num] = pl
	g.viewGen++
}

// Leave removes a player; its bullets keep flying.
func (g *Game) Leave(num uint32) {
	pl := g.byNum[num]
	if pl == nil {
		return
	}
	delete(g.byNum, num)
	for i, x := range g.players {
		if x == pl {
			g.players = append(g.players[:i], g.players[i+1:]...)
			break
		}
	}
	if g.leader == pl {
		g.leader = nil
	}
	g.viewGen++
}

func (g *Game) spawn(pl *player) {
	pl.x, pl.y = g.spawnSpot(pl)
	pl.hp, pl.dead, pl.protected, pl.cooldown = MaxHP, 0, g.protect, 0
}

// spawnSpot is a random spot on the field, except for a human in a match of
// at most nearHumans humans: it lands beside a living human other than the
// one that last fragged it, at least 2·Radius and at most SpawnNear away on
// each axis, so a few friends see each other on one screen.
func (g *Game) spawnSpot(pl *player) (int32, int32) {
	rnd := g.env.Rand
	if !pl.Bot {
		humans, near := 1, 0
		for _, o := range g.players {
			if o != pl && !o.Bot {
				humans++
				if o.dead == 0 && o.Num != pl.killer {
					near++
				}
			}
		}
		if humans <= nearHumans && near > 0 {
			k := rnd.IntN(near)
			for _, o := range g.players {
				if o == pl || o.Bot || o.dead > 0 || o.Num == pl.killer {
					continue
				}
				if k--; k >= 0 {
					continue
				}
				// One axis at least 2·Radius off so they do not overlap;
				// away from a wall when the anchor is against one.
				a := 2*Radius + rnd.Int32N(SpawnNear-2*Radius+1)
				b := rnd.Int32N(2*SpawnNear+1) - SpawnNear
				if rnd.IntN(2) == 0 {
					a, b = b, a
				}
				return g.beside(o.x, a), g.beside(o.y, b)
			}
		}
	}
	return Radius + rnd.Int32N(g.size-2*Radius), Radius + rnd.Int32N(g.size-2*Radius)
}

// beside offsets v by d, or by -d when v+d is off the field.
func (g *Game) beside(v, d int32) int32 {
	if w := v + d; w >= Radius && w <= g.size-Radius {
		return w
	}
	return clamp(v-d, Radius, g.size-Radius)
}

// Tick applies inputs, moves players, fires, moves bullets and resolves hits.
func (g *Game) Tick(s gameloop.Step[Input]) bool {
	g.tick = s.Tick
	g.viewGen++
	for _, in := range s.Inputs {
		if pl := g.byNum[in.Player]; pl != nil {
			pl.move, pl.aim, pl.fire = in.In.Move, in.In.Aim, in.In.Fire
		}
	}
	for _, pl := range g.players {
		g.movePlayer(pl)
	}
	g.buildGrid()
	over := g.moveBullets()
	for _, pl := range g.players {
		if pl.dead == 0 && pl.fire && pl.cooldown == 0 {
			g.shoot(pl)
		}
	}
	return over
}

func (g *Game) movePlayer(pl *player) {
	if pl.dead > 0 {
		if pl.dead--; pl.dead == 0 {
			g.spawn(pl)
		}
		return
	}
	if pl.cooldown > 0 {
		pl.cooldown--
	}
	if pl.protected > 0 {
		pl.protected--
	}
	d := dirs[pl.move]
	pl.x = clamp(pl.x+d[0]*g.speed/1000, Radius, g.size-Radius)
	pl.y = clamp(pl.y+d[1]*g.speed/1000, Radius, g.size-Radius)
}

func (g *Game) shoot(pl *player) {
	c := aimTable[pl.aim]
	b := bullet{
		id: g.nextID, owner: pl.Num, t0: g.tick,
		dx: c[0] * g.bspeed / 1000, dy: c[1] * g.bspeed / 1000,
		x0: pl.x + c[0]*Radius/1000, y0: pl.y + c[1]*Radius/1000,
	}
	g.nextID++
	g.bullets = append(g.bullets, b)
	pl.cooldown = g.interval
	pl.shots++
}

// buildGrid files every living player under its collision cell.
func (g *Game) buildGrid() {
	clear(g.grid)
	for _, pl := range g.players {
		if pl.dead > 0 {
			continue
		}
		c := (pl.y/CellSize)*g.gridDim + pl.x/CellSize
		pl.gridNext = g.grid[c]
		g.grid[c] = pl
	}
}

// moveBullets advances bullets one tick along their segment, hitting the
// first player the segment passes within Radius of; it reports a frag limit.
func (g *Game) moveBullets() (over bool) {
	kept := g.bullets[:0]
	for i := range g.bullets {
		b := g.bullets[i]
		x1, y1 := b.at(g.tick - 1)
		x2, y2 := b.at(g.tick)
		if int(g.tick-b.t0) > g.life || x2 < 0 || y2 < 0 || x2 >= g.size || y2 >= g.size {
			continue
		}
		if victim := g.hitScan(&b, x1, y1, x2, y2); victim != nil {
			if g.hit(&b, victim) {
				over = true
			}
			continue
		}
		kept = append(kept, b)
	}
	clear(g.bullets[len(kept):])
	g.bullets = kept
	return over
}

func (g *Game) hitScan(b *bullet, x1, y1, x2, y2 int32) *player {
	cx0 := max(0, (min(x1, x2)-Radius)/CellSize)
	cx1 := min(g.gridDim-1, (max(x1, x2)+Radius)/CellSize)
	cy0 := max(0, (min(y1, y2)-Radius)/CellSize)
	cy1 := min(g.gridDim-1, (max(y1, y2)+Radius)/CellSize)
	for cy := cy0; cy <= cy1; cy++ {
		for cx := cx0; cx <= cx1; cx++ {
			for pl := g.grid[cy*g.gridDim+cx]; pl != nil; pl = pl.gridNext {
				if pl.Num != b.owner && pl.protected == 0 && pl.dead == 0 && segDist2(x1, y1, x2, y2, pl.x, pl.y) <= Radius*Radius {
					return pl
				}
			}
		}
	}
	return nil
}

// hit applies a bullet's damage; it reports whether the shooter reached the
// frag limit.
func (g *Game) hit(b *bullet, victim *player) bool {
	shooter := g.byNum[b.owner]
	if shooter != nil {
		shooter.hits++
	}
	victim.hp -= Damage
	if victim.hp > 0 {
		return false
	}
	victim.hp, victim.dead = 0, g.respawn // fire stays held: a browser sends changes only
	victim.deaths++
	victim.killer = b.owner
	if shooter == nil {
		return false
	}
	shooter.frags++
	if g.leader == nil || shooter.frags > g.leader.frags {
		g.leader = shooter
	}
	return g.env.Settings.ScoreLimit > 0 && shooter.frags >= g.env.Settings.ScoreLimit
}

// ViewOf names the 2×2 block of view cells centred nearest to a player, so
// the player is at least ViewCell/2 from the edge of what it sees; spectators
// follow the leader. In a field of at most 2×2 view cells everyone sees
// everything (view 0).
func (g *Game) ViewOf(num uint32) gameloop.ViewKey {
	if g.viewDim <= 2 {
		return 0
	}
	pl := g.byNum[num]
	if num == 0 {
		pl = g.leader
		if pl == nil && len(g.players) > 0 {
			pl = g.players[0]
		}
	}
	if pl == nil {
		return 0
	}
	bx := min(max((pl.x+ViewCell/2)/ViewCell-1, 0), g.viewDim-2)
	by := min(max((pl.y+ViewCell/2)/ViewCell-1, 0), g.viewDim-2)
	return gameloop.ViewKey(1 + by*g.viewDim + bx)
}

// Render writes the field and the players and bullets of view key: the
// whole field for 0, else the 2×2 view cells from cell key-1. Entities go
// out in id order (players, the field, bullets; each cell's lists ascend),
// which spares the engine a sort.
func (g *Game) Render(key gameloop.ViewKey, w *gameloop.World) {
	if key == 0 {
		for _, pl := range g.players {
			g.addPlayer(w, pl)
		}
		w.Add(WorldID, "w", g.size, g.size)
		for i := range g.bullets {
			g.addBullet(w, &g.bullets[i])
		}
		return
	}
	g.buildViewGrid()
	c := int32(key - 1)
	bx, by := c%g.viewDim, c/g.viewDim
	var ps [4]*player
	var bs [4]int32
	n := 0
	for y := by; y <= min(by+1, g.viewDim-1); y++ {
		for x := bx; x <= min(bx+1, g.viewDim-1); x++ {
			ps[n], bs[n] = g.viewP[y*g.viewDim+x], g.viewB[y*g.viewDim+x]
			n++
		}
	}
	for { // merge the cells' ascending player lists
		k := -1
		for i := range n {
			if ps[i] != nil && (k < 0 || ps[i].Num < ps[k].Num) {
				k = i
			}
		}
		if k < 0 {
			break
		}
		g.addPlayer(w, ps[k])
		ps[k] = ps[k].viewNext
	}
	w.Add(WorldID, "w", g.size, g.size)
	for { // and their ascending bullet lists
		k := -1
		for i := range n {
			if bs[i] >= 0 && (k < 0 || g.bullets[bs[i]].id < g.bullets[bs[k]].id) {
				k = i
			}
		}
		if k < 0 {
			break
		}
		g.addBullet(w, &g.bullets[bs[k]])
		bs[k] = g.bullets[bs[k]].viewNext
	}
}

func (g *Game) addPlayer(w *gameloop.World, pl *player) {
	state := int32(StateAlive)
	switch {
	case pl.dead > 0:
		state = StateDead
	case pl.protected > 0:
		state = StateProtected
	}
	w.AddLabeled(pl.Num, "p", pl.Name, pl.x, pl.y, int32(pl.aim), pl.hp, int32(pl.frags), int32(pl.deaths), state)
}

func (g *Game) addBullet(w *gameloop.World, b *bullet) {
	w.Add(b.id, "b", b.x0, b.y0, b.dx, b.dy, int32(b.t0), int32(b.owner))
}

// buildViewGrid files players and bullets under their view cells, once per
// change of the world. Lists are built back to front so each ascends by id
// (players are in join order, bullets in firing order).
func (g *Game) buildViewGrid() {
	if g.viewAt == g.viewGen {
		return
	}
	g.viewAt = g.viewGen
	clear(g.viewP)
	for i := range g.viewB {
		g.viewB[i] = -1
	}
	for i := len(g.players) - 1; i >= 0; i-- {
		pl := g.players[i]
		c := g.viewCell(pl.x, pl.y)
		pl.viewNext = g.viewP[c]
		g.viewP[c] = pl
	}
	for i := len(g.bullets) - 1; i >= 0; i-- {
		b := &g.bullets[i]
		c := g.viewCell(b.at(g.tick))
		b.viewNext = g.viewB[c]
		g.viewB[c] = int32(i)
	}
}

func (g *Game) viewCell(x, y int32) int32 {
	cx := min(max(x, 0)/ViewCell, g.viewDim-1)
	cy := min(max(y, 0)/ViewCell, g.viewDim-1)
	return cy*g.viewDim + cx
}

// Standings ranks players by frags.
func (g *Game) Standings() []gameloop.Standing {
	out := make([]gameloop.Standing, len(g.players))
	for i, pl := range g.players {
		out[i] = gameloop.Standing{Player: pl.Num, Score: pl.frags, Stats: map[string]int{
			"frags": pl.frags, "deaths": pl.deaths, "shots": pl.shots, "hits": pl.hits,
		}}
	}
	return out
}

// Digest writes every player's and bullet's full state.
func (g *Game) Digest(h hash.Hash) {
	b := g.digest[:0]
	for _, pl := range g.players {
		b = appendInts(b, int64(pl.Num), int64(pl.x), int64(pl.y), int64(pl.move), int64(pl.aim), b2i(pl.fire),
			int64(pl.hp), int64(pl.cooldown), int64(pl.dead), int64(pl.protected), int64(pl.frags), int64(pl.deaths),
			int64(pl.shots), int64(pl.hits), int64(pl.killer))
	}
	for _, bl := range g.bullets {
		b = appendInts(b, int64(bl.id), int64(bl.x0), int64(bl.y0), int64(bl.dx), int64(bl.dy), int64(bl.t0), int64(bl.owner))
	}
	b = appendInts(b, int64(g.nextID), int64(g.tick), int64(g.size))
	g.digest = b
	h.Write(b)
}

func appendInts(b []byte, vs ...int64) []byte {
	for _, v := range vs {
		b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
	}
	return b
}

// dirs are the 8 moves of Input.Move (1 = north, clockwise), scaled by 1000.
var dirs = [9][2]int32{{0, 0}, {0, -1000}, {707, -707}, {1000, 0}, {707, 707}, {0, 1000}, {-707, 707}, {-1000, 0}, {-707, -707}}

// aimTable holds cos and sin of each whole degree, scaled by 1000 and
// rounded once, so shots are computed in integers and replay exactly.
var aimTable = func() (t [360][2]int32) {
	for a := range t {
		r := float64(a) * math.Pi / 180
		t[a] = [2]int32{int32(math.Round(math.Cos(r) * 1000)), int32(math.Round(math.Sin(r) * 1000))}
	}
	return t
}()

// segDist2 is the squared distance from (px,py) to the segment (x1,y1)-(x2,y2).
func segDist2(x1, y1, x2, y2, px, py int32) int64 {
	vx, vy := int64(x2-x1), int64(y2-y1)
	wx, wy := int64(px-x1), int64(py-y1)
	l2 := vx*vx + vy*vy
	t := vx*wx + vy*wy
	switch {
	case l2 == 0 || t <= 0:
		return wx*wx + wy*wy
	case t >= l2:
		dx, dy := int64(px-x2), int64(py-y2)
		return dx*dx + dy*dy
	}
	// Distance to the line: |w×v|² / |v|². Candidates are within a few cells
	// and a step is short, so cross stays below 2^30 and its square fits.
	cross := wx*vy - wy*vx
	return cross * cross / l2
}

func clamp(v, lo, hi int32) int32 { return max(lo, min(v, hi)) }

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
