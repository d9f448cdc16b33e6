package koth

import (
	"log/slog"
	"math/rand/v2"
	"testing"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modetest"
)

func newGame(seed uint64) *Game {
	s := Mode.Defaults()
	return New(gameloop.Env{
		Settings: s, TickHz: s.TickHz, DT: 1 / float64(s.TickHz),
		Rand: rand.New(rand.NewPCG(seed, 1)), Log: slog.New(slog.DiscardHandler),
	}).(*Game)
}

func step(g *Game, tick uint64, inputs ...gameloop.Input[Input]) bool {
	return g.Tick(gameloop.Step[Input]{Tick: tick, Inputs: inputs})
}

func in(num uint32, i Input) gameloop.Input[Input] { return gameloop.Input[Input]{Player: num, In: i} }

// two returns a game with players 1 and 2 placed by hand.
func two(x1, y1, x2, y2 int32) (*Game, *player, *player) {
	g := newGame(1)
	g.Join(gameloop.Player{Num: 1, Name: "A"})
	g.Join(gameloop.Player{Num: 2, Name: "B"})
	a, b := g.players[0], g.players[1]
	a.x, a.y, b.x, b.y = x1, y1, x2, y2
	return g, a, b
}

func TestJoinSpawnsOffTheHill(t *testing.T) {
	g := newGame(2)
	for n := range uint32(16) {
		g.Join(gameloop.Player{Num: n + 1})
	}
	for _, pl := range g.players {
		if onHill(pl.x, pl.y, HillR) {
			t.Errorf("player %d spawned on the hill at (%d,%d)", pl.Num, pl.x, pl.y)
		}
	}
}

func TestMovementIsEightWayAndStaysInside(t *testing.T) {
	g, a, _ := two(3000, 3000, 9000, 9000)
	for _, c := range []struct {
		move   int8
		dx, dy int32
	}{{3, 100, 0}, {1, 0, -100}, {4, 70, 70}, {0, 0, 0}, {8, -70, -70}} {
		x, y := a.x, a.y
		step(g, 1, in(1, Input{Move: c.move}))
		if a.x-x != c.dx || a.y-y != c.dy {
			t.Errorf("move %d: moved (%d,%d), want (%d,%d)", c.move, a.x-x, a.y-y, c.dx, c.dy)
		}
	}
	a.x = FieldW - Radius - 10
	step(g, 2, in(1, Input{Move: 3}))
	if a.x != FieldW-Radius {
		t.Errorf("x %d after the east wall, want %d", a.x, FieldW-Radius)
	}
}

func TestShoveKnocksInFrontOnlyWithCooldown(t *testing.T) {
	cases := []struct {
		name   string
		bx, by int32
		aim    int16
		moved  bool
	}{
		{"in front", 5000 + ShoveReach - 100, 5000, 0, true},
		{"aimed at, below", 5000, 5000 + 800, 90, true},
		{"behind", 5000 - 800, 5000, 0, false},
		{"out of reach", 5000 + ShoveReach + 100, 5000, 0, false},
		{"beside, 90 degrees off", 5000, 5000 + 800, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, a, b := two(5000, 5000, c.bx, c.by)
			step(g, 1, in(1, Input{Aim: c.aim, HasAim: true, Shove: true}))
			moved := b.x != c.bx || b.y != c.by
			if moved != c.moved {
				t.Fatalf("b moved %v (to %d,%d), want %v", moved, b.x, b.y, c.moved)
			}
			if a.cd != CooldownTicks || a.shoves != 1 {
				t.Errorf("pusher cd %d shoves %d", a.cd, a.shoves)
			}
			if !c.moved {
				return
			}
			if b.stun == 0 || b.shoved != 1 {
				t.Errorf("shoved player stun %d shoved %d", b.stun, b.shoved)
			}
			// Shove held: the next one waits for the cooldown.
			g2, a2, b2 := two(5000, 5000, c.bx, c.by)
			for tick := range uint64(CooldownTicks) {
				step(g2, tick+1, in(1, Input{Aim: c.aim, HasAim: true, Shove: true}))
				b2.x, b2.y = c.bx, c.by // keep it in reach
			}
			if a2.shoves != 1 {
				t.Errorf("%d shoves within one cooldown, want 1", a2.shoves)
			}
			step(g2, CooldownTicks+1)
			if a2.shoves != 2 {
				t.Errorf("%d shoves after the cooldown, want 2", a2.shoves)
			}
		})
	}
}

func TestOnlyALoneKingScores(t *testing.T) {
	g, a, b := two(FieldW/2, FieldH/2, FieldW/2+500, FieldH/2) // both on the hill
	for tick := range uint64(40) {
		step(g, tick+1)
	}
	if a.king != 0 || b.king != 0 || g.king != nil {
		t.Fatalf("a contested hill scored: %d %d", a.king, b.king)
	}
	b.x = 500 // off the hill
	for tick := range uint64(40) {
		step(g, tick+41)
	}
	if g.score(a) != 2 || g.king != a || b.king != 0 {
		t.Fatalf("alone on the hill 40 ticks: score %d (king %v), want 2 seconds", g.score(a), g.king == a)
	}
	var w gameloop.World
	g.Render(0, &w)
	if err := w.Check(Mode.Kinds()); err != nil {
		t.Fatal(err)
	}
	w.Each(func(id uint32, kind, _ string, vals []int32) {
		if kind == "w" && vals[5] != int32(a.Num) {
			t.Errorf("world says king %d, want %d", vals[5], a.Num)
		}
		if kind == "p" && id == a.Num && (vals[5] != 2 || vals[6] != 1) {
			t.Errorf("king's entity %v, want score 2 and on the hill", vals)
		}
	})
}

func TestScoreLimitEndsTheMatch(t *testing.T) {
	g, a, _ := two(FieldW/2, FieldH/2, 500, 500)
	limit := g.env.Settings.ScoreLimit * g.env.TickHz
	for tick := 1; tick < limit; tick++ {
		if step(g, uint64(tick)) {
			t.Fatalf("over at tick %d, before the limit", tick)
		}
	}
	if !step(g, uint64(limit)) || g.score(a) != g.env.Settings.ScoreLimit {
		t.Fatalf("not over at the score limit (score %d)", g.score(a))
	}
}

// TestBotsTakeTheHill: bots playing through the decoder reach the hill,
// shove and score within a minute.
func TestBotsTakeTheHill(t *testing.T) {
	g := newGame(3)
	var bots []gameloop.Bot
	for n := range uint32(6) {
		p := gameloop.Player{Num: n + 1, Bot: true}
		g.Join(p)
		bots = append(bots, g.NewBot(p, rand.New(rand.NewPCG(uint64(n), 9))))
	}
	var buf []byte
	for tick := range uint64(60 * 20) {
		var inputs []gameloop.Input[Input]
		for i, b := range bots {
			if buf = b.Think(tick, buf[:0]); len(buf) > 0 {
				v, err := Decode(buf)
				if err != nil {
					t.Fatalf("bot sent %s: %v", buf, err)
				}
				inputs = append(inputs, in(uint32(i+1), v))
			}
		}
		step(g, tick+1, inputs...)
	}
	scored, shoves := 0, 0
	for _, pl := range g.players {
		scored += pl.king
		shoves += pl.shoves
	}
	if scored == 0 || shoves == 0 {
		t.Errorf("a minute of bots: %d ticks as king, %d shoves", scored, shoves)
	}
}

func TestDecode(t *testing.T) {
	cases := []struct {
		in   string
		want Input
		ok   bool
	}{
		{`{"m":3}`, Input{Move: 3}, true},
		{`{"m":0,"a":-90,"f":true}`, Input{Aim: 270, HasAim: true, Shove: true}, true},
		{`{"m":8,"a":359.6}`, Input{Move: 8, Aim: 0, HasAim: true}, true},
		{`{"m":9}`, Input{}, false},
		{`{"a":10}`, Input{}, false},
		{`{"m":1,"a":361}`, Input{}, false},
		{`{"m":1,"f":1}`, Input{}, false},
		{`{"m":1,"x":1}`, Input{}, false},
		{`{"m":1,"m":2}`, Input{}, false},
		{`{"m":"1"}`, Input{}, false},
	}
	for _, c := range cases {
		got, err := Decode([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Decode(%s) = %+v, %v; want %+v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && comet.ErrorCode(err) != comet.EINVALID {
			t.Errorf("Decode(%s): %v is not EINVALID", c.in, err)
		}
	}
}

// TestKit runs the mode kit's invariants (also run for every registered
// mode by gameloop/modes).
func TestKit(t *testing.T) { modetest.Check(t, Mode) }

func FuzzDecode(f *testing.F) { modetest.FuzzDecoder(f, Mode) }
