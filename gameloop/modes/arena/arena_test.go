package arena

import (
	"crypto/sha256"
	"log/slog"
	"math/rand/v2"
	"testing"

	"comet"
	"comet/gameloop"
)

func newGame(seed uint64, maxPlayers, scoreLimit int) *Game {
	s := Mode.Defaults()
	s.MaxPlayers, s.ScoreLimit = maxPlayers, scoreLimit
	return New(gameloop.Env{
		Settings: s, TickHz: s.TickHz, DT: 1 / float64(s.TickHz),
		Rand: rand.New(rand.NewPCG(seed, 1)), Log: slog.New(slog.DiscardHandler),
	}).(*Game)
}

// tick steps g once with the tick number after the last.
func tick(g *Game, inputs ...gameloop.Input[Input]) bool {
	return g.Tick(gameloop.Step[Input]{Tick: g.tick + 1, Inputs: inputs})
}

func in(num uint32, move int8, aim int16, fire bool) gameloop.Input[Input] {
	return gameloop.Input[Input]{Player: num, In: Input{Move: move, Aim: aim, Fire: fire}}
}

// duel puts two unprotected players on a horizontal line, gap apart.
func duel(g *Game, gap int32) (a, b *player) {
	g.Join(gameloop.Player{Num: 1, Name: "A"})
	g.Join(gameloop.Player{Num: 2, Name: "B"})
	a, b = g.byNum[1], g.byNum[2]
	a.x, a.y, a.protected = 5000, 5000, 0
	b.x, b.y, b.protected = 5000+gap, 5000, 0
	return a, b
}

func TestMovementIsEightWayAndClamped(t *testing.T) {
	g := newGame(1, 16, 20)
	g.Join(gameloop.Player{Num: 1, Name: "A"})
	p := g.byNum[1]
	p.x, p.y = 6000, 6000
	for _, c := range []struct {
		move   int8
		dx, dy int32
	}{{3, 100, 0}, {5, 0, 100}, {2, 70, -70}, {0, 0, 0}, {7, -100, 0}} {
		x, y := p.x, p.y
		tick(g, in(1, c.move, 0, false))
		if p.x-x != c.dx || p.y-y != c.dy {
			t.Errorf("move %d: (%d,%d), want (%d,%d)", c.move, p.x-x, p.y-y, c.dx, c.dy)
		}
	}
	p.y = Radius + 30
	tick(g, in(1, 1, 0, false))
	if p.y != Radius {
		t.Errorf("y %d after walking into the north wall, want %d", p.y, Radius)
	}
}

func TestShotsRespectCooldownAndFlyStraight(t *testing.T) {
	g := newGame(2, 16, 20)
	g.Join(gameloop.Player{Num: 1, Name: "A"})
	p := g.byNum[1]
	p.x, p.y = 6000, 6000
	tick(g, in(1, 0, 90, true)) // aim south (clockwise from east, y down)
	if len(g.bullets) != 1 {
		t.Fatalf("%d bullets after pulling the trigger", len(g.bullets))
	}
	b := g.bullets[0]
	if b.dx != 0 || b.dy != BulletSpeed/20 || b.x0 != 6000 || b.y0 != 6000+Radius || b.owner != 1 {
		t.Errorf("bullet %+v", b)
	}
	for range 3 {
		tick(g)
	}
	if len(g.bullets) != 1 {
		t.Errorf("%d bullets within the 200 ms cooldown", len(g.bullets))
	}
	tick(g)
	if len(g.bullets) != 2 {
		t.Errorf("%d bullets after the cooldown, trigger held", len(g.bullets))
	}
	x, y := g.bullets[0].at(g.tick) // fired at tick 1, now tick 5
	if x != 6000 || y != 6000+Radius+4*(BulletSpeed/20) {
		t.Errorf("the first bullet is at (%d,%d) after 4 ticks of flight", x, y)
	}
	for range 20 {
		tick(g, in(1, 0, 90, false))
	}
	if len(g.bullets) != 0 {
		t.Errorf("%d bullets outlived their 800 ms", len(g.bullets))
	}
}

func TestFiveHitsFragAndRespawn(t *testing.T) {
	g := newGame(3, 16, 20)
	a, b := duel(g, 2000)
	for a.frags == 0 {
		if g.tick > 100 {
			t.Fatalf("no frag after 100 ticks: b has %d hp", b.hp)
		}
		tick(g, in(1, 0, 0, true)) // a fires east at b
	}
	if b.deaths != 1 || b.dead == 0 || a.hits != 5 || a.shots < 5 {
		t.Fatalf("a: %d hits of %d shots; b: %d deaths, dead %d", a.hits, a.shots, b.deaths, b.dead)
	}
	for b.dead > 0 {
		tick(g)
	}
	if b.hp != MaxHP || b.protected == 0 {
		t.Fatalf("respawned with %d hp, protection %d", b.hp, b.protected)
	}
	b.x, b.y = 7000, 5000 // protected: bullets pass
	hp := b.hp
	for range 8 {
		tick(g, in(1, 0, 0, true))
	}
	if b.hp != hp {
		t.Errorf("a spawn-protected player lost %d hp", hp-b.hp)
	}
}

func TestFastBulletsCannotTunnel(t *testing.T) {
	g := newGame(4, 16, 20)
	a, b := duel(g, 0)
	b.x = a.x + Radius + 3*(BulletSpeed/20) + 150 // beyond a whole step: only the swept segment finds it
	b.y = a.y + Radius - 20                       // and grazing, near the edge
	tick(g, in(1, 0, 0, true))
	for range 4 {
		tick(g)
	}
	if b.hp != MaxHP-Damage {
		t.Errorf("b has %d hp: the bullet passed through", b.hp)
	}
}

func TestFragLimitEndsMatch(t *testing.T) {
	g := newGame(5, 16, 2)
	a, b := duel(g, 1500)
	over := false
	for range 400 {
		if over = tick(g, in(1, 0, 0, true)); over {
			break
		}
		if b.dead > 0 {
			continue
		}
		b.x, b.y, b.protected = a.x+1500, a.y, 0 // stand in the line of fire
	}
	if !over || a.frags != 2 {
		t.Fatalf("over %v with %d frags, want the match to end at 2", over, a.frags)
	}
	if st := g.Standings(); st[0].Stats["frags"] != 2 || st[1].Stats["deaths"] != 2 {
		t.Errorf("standings %+v", st)
	}
}

func TestViewsCoverTheNeighbourhood(t *testing.T) {
	small := newGame(6, 16, 20)
	small.Join(gameloop.Player{Num: 1, Name: "A"})
	if k := small.ViewOf(1); k != 0 {
		t.Errorf("a small field uses view %d, want the whole world", k)
	}
	g := newGame(7, 1000, 20)
	for n := range uint32(300) {
		g.Join(gameloop.Player{Num: n + 1, Name: "P"})
	}
	tick(g)
	for _, pl := range g.players {
		var w gameloop.World
		g.Render(g.ViewOf(pl.Num), &w)
		if err := w.Check(Mode.Kinds()); err != nil {
			t.Fatal(err)
		}
		seen := map[uint32]bool{}
		w.Each(func(id uint32, _, _ string, _ []int32) { seen[id] = true })
		if !seen[pl.Num] || !seen[WorldID] {
			t.Fatalf("player %d does not see itself or the field", pl.Num)
		}
		for _, o := range g.players { // everyone within ViewCell/2 on both axes is seen
			if abs(o.x-pl.x) < ViewCell/2 && abs(o.y-pl.y) < ViewCell/2 && !seen[o.Num] {
				t.Fatalf("player %d at (%d,%d) does not see %d at (%d,%d)", pl.Num, pl.x, pl.y, o.Num, o.x, o.y)
			}
			if (abs(o.x-pl.x) > 2*ViewCell || abs(o.y-pl.y) > 2*ViewCell) && seen[o.Num] {
				t.Fatalf("player %d sees %d across the field", pl.Num, o.Num)
			}
		}
	}
	g.byNum[42].frags = 9
	g.leader = g.byNum[42]
	if g.ViewOf(0) != g.ViewOf(42) {
		t.Error("a spectator does not follow the leader")
	}
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// TestBotsFightThroughTheDecoder: 60 bots for a minute of game time frag
// each other; their JSON goes through Decode like a browser's.
func TestBotsFightThroughTheDecoder(t *testing.T) {
	g := newGame(8, 60, 1<<30)
	var bots []gameloop.Bot
	for n := range uint32(60) {
		p := gameloop.Player{Num: n + 1, Name: "Bot", Bot: true}
		g.Join(p)
		bots = append(bots, g.NewBot(p, rand.New(rand.NewPCG(9, uint64(n)))))
	}
	var inputs []gameloop.Input[Input]
	for range 1200 {
		tick(g, inputs...)
		inputs = inputs[:0]
		for i, b := range bots {
			if raw := b.Think(g.tick, nil); len(raw) > 0 {
				in, err := Decode(raw)
				if err != nil {
					t.Fatalf("bot sent %s: %v", raw, err)
				}
				inputs = append(inputs, gameloop.Input[Input]{Player: uint32(i + 1), In: in})
			}
		}
	}
	frags := 0
	for _, p := range g.players {
		frags += p.frags
	}
	if frags < 20 {
		t.Errorf("60 bots fragged %d times in a minute", frags)
	}
}

func TestSameSeedAndInputsSameState(t *testing.T) {
	digest := func() [32]byte {
		g := newGame(10, 64, 20)
		for n := range uint32(10) {
			g.Join(gameloop.Player{Num: n + 1, Name: "P"})
		}
		rng := rand.New(rand.NewPCG(3, 3))
		for range 300 {
			num := uint32(rng.IntN(10) + 1)
			tick(g, in(num, int8(rng.IntN(9)), int16(rng.IntN(360)), rng.IntN(2) == 0))
		}
		h := sha256.New()
		g.Digest(h)
		return [32]byte(h.Sum(nil))
	}
	if digest() != digest() {
		t.Fatal("same seed and inputs gave different states")
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Input
		ok   bool
	}{
		{`{"m":3,"a":90,"f":true}`, Input{3, 90, true}, true},
		{`{"a":-90.4,"m":0}`, Input{0, 270, false}, true},
		{`{"m":8,"a":359.6}`, Input{8, 0, false}, true},
		{`{"m":1,"a":360}`, Input{1, 0, false}, true},
		{`{"m":1,"a":361}`, Input{}, false},
		{`{"m":1,"a":1e400}`, Input{}, false},
		{`{"m":1,"a":NaN}`, Input{}, false},
		{`{"m":1,"a":"Infinity"}`, Input{}, false},
		{`{"m":9,"a":0}`, Input{}, false},
		{`{"m":1}`, Input{}, false},
		{`{"a":1}`, Input{}, false},
		{`{"m":1,"a":0,"f":1}`, Input{}, false},
		{`{"m":1,"a":0,"x":1}`, Input{}, false},
	} {
		got, err := Decode([]byte(c.in))
		if c.ok != (err == nil) || (c.ok && got != c.want) {
			t.Errorf("%s: %+v, %v", c.in, got, err)
		}
		if err != nil && comet.ErrorCode(err) != comet.EINVALID {
			t.Errorf("%s: error %v is not EINVALID", c.in, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"m":3,"a":90,"f":true}`, `{"m":1,"a":-360}`, `{"m":1,"a":1e400}`, `{"m":1,"a":-0.5}`, `{"m"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Decode(data)
		switch {
		case err != nil && comet.ErrorCode(err) != comet.EINVALID:
			t.Fatalf("error %v is not EINVALID", err)
		case err == nil && (in.Move < 0 || in.Move > 8 || in.Aim < 0 || in.Aim > 359):
			t.Fatalf("accepted out-of-range input %+v", in)
		}
	})
}

func TestRenderIsInIDOrder(t *testing.T) {
	g := newGame(11, 1000, 20)
	for n := range uint32(400) {
		g.Join(gameloop.Player{Num: n + 1, Name: "P"})
	}
	for range 30 {
		var inputs []gameloop.Input[Input]
		for n := range uint32(400) {
			inputs = append(inputs, in(n+1, int8(n%9), int16(n*37%360), true))
		}
		tick(g, inputs...)
	}
	if len(g.bullets) == 0 {
		t.Fatal("no bullets to check")
	}
	for key := range gameloop.ViewKey(g.viewDim * g.viewDim) {
		var w gameloop.World
		g.Render(key, &w)
		last := int64(-1)
		w.Each(func(id uint32, _, _ string, _ []int32) {
			if int64(id) <= last {
				t.Fatalf("view %d: id %d after %d", key, id, last)
			}
			last = int64(id)
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	data := []byte(`{"m":3,"a":127.5,"f":true}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFieldScalesWithPlayers: the field grows with the players who join,
// within MinField and MaxField, and the world entity says its size.
func TestFieldScalesWithPlayers(t *testing.T) {
	if FieldSize(0) != MinField || FieldSize(2) != MinField || FieldSize(1<<20) != MaxField {
		t.Fatalf("bounds: %d players %d, 2 players %d, a million %d", 0, FieldSize(0), FieldSize(2), FieldSize(1<<20))
	}
	last := int32(0)
	for n := range 1001 {
		s := FieldSize(n)
		if s < last || s < MinField || s > MaxField || (s > 2*ViewCell && s%ViewCell != 0) {
			t.Fatalf("FieldSize(%d) = %d after %d", n, s, last)
		}
		last = s
	}
	size := func(n int) int32 {
		g := newGame(12, 64, 20)
		for i := range uint32(n) {
			g.Join(gameloop.Player{Num: i + 1, Name: "P", Bot: i >= 2})
		}
		var w gameloop.World
		g.Render(0, &w)
		w.Each(func(id uint32, _, _ string, v []int32) {
			if id == WorldID && (v[0] != g.size || v[1] != g.size) {
				t.Fatalf("world entity %v, field %d", v, g.size)
			}
		})
		for _, pl := range g.players {
			if pl.x < Radius || pl.y < Radius || pl.x > g.size-Radius || pl.y > g.size-Radius {
				t.Fatalf("player %d at (%d,%d) off a field of %d", pl.Num, pl.x, pl.y, g.size)
			}
		}
		return g.size
	}
	two, sixteen, sixtyFour := size(2), size(16), size(64)
	if two != MinField || sixteen <= two || sixtyFour <= sixteen {
		t.Fatalf("field for 2, 16, 64 players: %d, %d, %d; want growing from %d", two, sixteen, sixtyFour, MinField)
	}
	// Within a match it never shrinks: leaving keeps the field.
	g := newGame(13, 64, 20)
	for i := range uint32(16) {
		g.Join(gameloop.Player{Num: i + 1, Name: "P"})
	}
	for i := range uint32(15) {
		g.Leave(i + 1)
	}
	tick(g)
	if g.size != sixteen {
		t.Fatalf("field %d after 15 of 16 left, want %d", g.size, sixteen)
	}
}

// near reports whether a and b are on one screen: within SpawnNear on both
// axes, and not on top of each other.
func near(a, b *player) bool {
	return abs(a.x-b.x) <= SpawnNear && abs(a.y-b.y) <= SpawnNear &&
		(abs(a.x-b.x) >= 2*Radius || abs(a.y-b.y) >= 2*Radius)
}

// TestFewHumansSpawnNearEachOther: in a fresh room of two humans and bots
// the humans start on one screen; a respawn lands by a human other than its
// killer; in a room of many humans spawns are spread over the field.
func TestFewHumansSpawnNearEachOther(t *testing.T) {
	for seed := range uint64(200) {
		g := newGame(seed, 64, 20)
		g.Join(gameloop.Player{Num: 1, Name: "Bot1", Bot: true})
		g.Join(gameloop.Player{Num: 2, Name: "Ada"})
		g.Join(gameloop.Player{Num: 3, Name: "Bot2", Bot: true})
		g.Join(gameloop.Player{Num: 4, Name: "Bob"})
		for n := uint32(5); n <= 8; n++ {
			g.Join(gameloop.Player{Num: n, Name: "Bot", Bot: true})
		}
		ada, bob := g.byNum[2], g.byNum[4]
		if !near(ada, bob) {
			t.Fatalf("seed %d: Ada at (%d,%d), Bob at (%d,%d) in a field of %d", seed, ada.x, ada.y, bob.x, bob.y, g.size)
		}
		if d := abs(ada.x-bob.x) + abs(ada.y-bob.y); d > ViewCell {
			t.Fatalf("seed %d: %d apart", seed, d)
		}
	}

	// Ada frags Bob; Bob comes back by Cy, the other human.
	g := newGame(14, 64, 20)
	a, b := duel(g, 1500)
	g.Join(gameloop.Player{Num: 3, Name: "Cy"})
	c := g.byNum[3]
	c.x, c.y = g.size-1000, g.size-1000
	for b.dead == 0 {
		if g.tick > 200 {
			t.Fatal("no frag")
		}
		b.x, b.y, b.protected = a.x+1500, a.y, 0
		tick(g, in(1, 0, 0, true))
	}
	for b.dead > 0 {
		tick(g, in(1, 0, 0, false))
	}
	if b.killer != 1 || !near(b, c) {
		t.Fatalf("Bob (killed by %d) respawned at (%d,%d); Cy at (%d,%d)", b.killer, b.x, b.y, c.x, c.y)
	}

	// Twelve humans: the twelfth lands anywhere, not beside someone.
	far := 0
	for seed := range uint64(50) {
		g := newGame(seed, 64, 20)
		for n := range uint32(12) {
			g.Join(gameloop.Player{Num: n + 1, Name: "P"})
		}
		last := g.byNum[12]
		alone := true
		for _, o := range g.players[:11] {
			alone = alone && !near(last, o)
		}
		if alone {
			far++
		}
	}
	if far == 0 {
		t.Fatal("in 50 rooms of twelve humans, the last always spawned beside another")
	}
}
