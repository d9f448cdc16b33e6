package tag

import (
	"log/slog"
	"math/rand/v2"
	"testing"

	"comet"
	"comet/gameloop"
)

func newGame(seed uint64) *Game {
	s := Mode.Defaults()
	return New(gameloop.Env{
		Settings: s, TickHz: s.TickHz, DT: 1 / float64(s.TickHz),
		Rand: rand.New(rand.NewPCG(seed, 1)), Log: slog.New(slog.DiscardHandler),
	}).(*Game)
}

func step(g *Game, tick uint64, inputs ...gameloop.Input[Input]) {
	g.Tick(gameloop.Step[Input]{Tick: tick, Inputs: inputs})
}

func move(num uint32, m int8) gameloop.Input[Input] {
	return gameloop.Input[Input]{Player: num, In: Input{Move: m}}
}

func TestMovementIsEightWayAndStaysInside(t *testing.T) {
	g := newGame(1)
	g.Join(gameloop.Player{Num: 1, Name: "A"})
	g.Join(gameloop.Player{Num: 2, Name: "B"})
	step(g, 1)
	runner := g.players[0]
	if runner == g.it {
		runner = g.players[1]
	}
	runner.x, runner.y = 5000, 5000
	for _, c := range []struct {
		move   int8
		dx, dy int32
	}{{3, 110, 0}, {1, 0, -110}, {4, 77, 77}, {0, 0, 0}, {8, -77, -77}} {
		x, y := runner.x, runner.y
		step(g, 2, move(runner.Num, c.move))
		if runner.x-x != c.dx || runner.y-y != c.dy {
			t.Errorf("move %d: moved (%d,%d), want (%d,%d)", c.move, runner.x-x, runner.y-y, c.dx, c.dy)
		}
	}
	runner.x = FieldW - Radius - 10
	step(g, 3, move(runner.Num, 3))
	if runner.x != FieldW-Radius {
		t.Errorf("x %d after running into the east wall, want %d", runner.x, FieldW-Radius)
	}
}

func TestTouchPassesItWithFreezeAndNoTagBack(t *testing.T) {
	g := newGame(2)
	g.Join(gameloop.Player{Num: 1, Name: "A"})
	g.Join(gameloop.Player{Num: 2, Name: "B"})
	step(g, 1)
	it, other := g.it, g.players[0]
	if other == it {
		other = g.players[1]
	}
	if it.frozen == 0 {
		t.Fatal("the first it is not frozen at the start")
	}
	for it.frozen > 0 { // frozen: no move, no tag
		x := it.x
		step(g, 2, move(it.Num, 3))
		if it.frozen > 0 && it.x != x {
			t.Fatal("a frozen it moved")
		}
	}
	it.x, it.y, it.move = 3000, 3000, 0
	other.x, other.y = 3000+2*Radius-1, 3000 // touching
	step(g, 3)
	if g.it != other || it.tags != 1 || other.taggedBy != 1 {
		t.Fatalf("touch did not pass it: it=%d tags=%d", g.it.Num, it.tags)
	}
	if other.frozen == 0 || it.immune == 0 {
		t.Fatal("no freeze for the new it or no immunity for the old one")
	}
	for range 25 { // still touching after the freeze: the old it is immune
		step(g, 4)
	}
	if g.it != other {
		t.Fatal("tagged back while immune")
	}
	for range 30 {
		step(g, 5)
	}
	if g.it != it {
		t.Fatal("no tag once immunity ended, though still touching")
	}
}

func TestScoreIsSecondsNotIt(t *testing.T) {
	g := newGame(3)
	g.Join(gameloop.Player{Num: 1, Name: "A"})
	g.Join(gameloop.Player{Num: 2, Name: "B"})
	for tick := range uint64(60) {
		step(g, tick+1)
	}
	for _, s := range g.Standings() {
		want := 3 // 60 ticks at 20 Hz
		if s.Player == g.it.Num {
			want = 0
		}
		if s.Score != want {
			t.Errorf("player %d scored %d, want %d", s.Player, s.Score, want)
		}
	}
}

func TestItLeavingPicksAnother(t *testing.T) {
	g := newGame(4)
	for n := range uint32(3) {
		g.Join(gameloop.Player{Num: n + 1, Name: "P"})
	}
	step(g, 1)
	gone := g.it.Num
	g.Leave(gone)
	step(g, 2)
	if g.it == nil || g.it.Num == gone || len(g.players) != 2 {
		t.Fatalf("after it left: it=%v players=%d", g.it, len(g.players))
	}
}

func TestRenderFollowsKinds(t *testing.T) {
	g := newGame(5)
	g.Join(gameloop.Player{Num: 1, Name: "A"})
	step(g, 1)
	var w gameloop.World
	g.Render(0, &w)
	if err := w.Check(Mode.Kinds()); err != nil {
		t.Fatal(err)
	}
	if w.Len() != 2 {
		t.Errorf("%d entities, want the field and one player", w.Len())
	}
}

// TestBotsPlayThroughTheDecoder runs bots for two minutes of game time; their
// JSON goes through Decode like a browser's, and "it" keeps changing hands.
func TestBotsPlayThroughTheDecoder(t *testing.T) {
	g := newGame(6)
	var bots []gameloop.Bot
	for n := range uint32(5) {
		p := gameloop.Player{Num: n + 1, Name: "Bot", Bot: true}
		g.Join(p)
		bots = append(bots, g.NewBot(p, rand.New(rand.NewPCG(7, uint64(n)))))
	}
	var inputs []gameloop.Input[Input]
	tags := 0
	for tick := uint64(1); tick <= 2400; tick++ {
		before := g.it
		step(g, tick, inputs...)
		if before != nil && g.it != before {
			tags++
		}
		inputs = inputs[:0]
		for i, b := range bots {
			if raw := b.Think(tick, nil); len(raw) > 0 {
				in, err := Decode(raw)
				if err != nil {
					t.Fatalf("bot sent %s: %v", raw, err)
				}
				inputs = append(inputs, gameloop.Input[Input]{Player: uint32(i + 1), In: in})
			}
		}
	}
	if tags < 5 {
		t.Errorf("only %d tags in two minutes of bots", tags)
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int8
		ok   bool
	}{
		{`{"m":0}`, 0, true}, {`{"m":8}`, 8, true}, {`{"m":3.0}`, 3, true},
		{`{"m":9}`, 0, false}, {`{"m":-1}`, 0, false}, {`{"m":2.5}`, 0, false},
		{`{}`, 0, false}, {`{"m":true}`, 0, false}, {`{"m":1,"x":2}`, 0, false}, {`null`, 0, false},
	} {
		got, err := Decode([]byte(c.in))
		if c.ok != (err == nil) || (c.ok && got.Move != c.want) {
			t.Errorf("%s: %+v, %v", c.in, got, err)
		}
		if err != nil && comet.ErrorCode(err) != comet.EINVALID {
			t.Errorf("%s: error %v is not EINVALID", c.in, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"m":3}`, `{"m":9}`, `{"m":1e400}`, `{"m":-0}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Decode(data)
		switch {
		case err != nil && comet.ErrorCode(err) != comet.EINVALID:
			t.Fatalf("error %v is not EINVALID", err)
		case err == nil && (in.Move < 0 || in.Move > 8):
			t.Fatalf("accepted out-of-range move %d", in.Move)
		}
	})
}
