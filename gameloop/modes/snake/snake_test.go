package snake

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

func turn(num uint32, d int8) gameloop.Input[Input] {
	return gameloop.Input[Input]{Player: num, In: Input{Dir: d}}
}

func step(g *Game, inputs ...gameloop.Input[Input]) {
	g.Tick(gameloop.Step[Input]{Inputs: inputs})
}

// put places a snake by hand: head at (x,y) heading dir, body cells given
// tail first. Food is cleared so scenarios are exact.
func put(g *Game, num uint32, dir int8, x, y int32, body ...[2]int32) *snake {
	s := g.find(num)
	if s == nil {
		s = &snake{Player: gameloop.Player{Num: num, Name: "S"}}
		g.snakes = append(g.snakes, s)
	} else {
		g.clearBody(s)
	}
	s.alive, s.dir, s.turns, s.grow, s.segs = true, dir, nil, 0, nil
	s.head = cell{x: x, y: y}
	g.occ[g.idx(x, y)] = num
	for _, b := range body {
		s.segs = append(s.segs, cell{x: b[0], y: b[1], id: g.id()})
		g.occ[g.idx(b[0], b[1])] = num
	}
	return s
}

func noFood(g *Game) {
	clear(g.food)
	g.foods = nil
}

func TestMovesTurnsAndIgnoresReversal(t *testing.T) {
	g := newGame(1)
	s := put(g, 1, Right, 10, 10, [2]int32{8, 10}, [2]int32{9, 10})
	noFood(g)
	step(g)
	if s.head.x != 11 || s.head.y != 10 || s.length() != 3 {
		t.Fatalf("head %+v len %d after one tick right", s.head, s.length())
	}
	step(g, turn(1, Left)) // a reversal: ignored
	if s.head.x != 12 || s.dir != Right {
		t.Fatalf("reversal was not ignored: head %+v dir %d", s.head, s.dir)
	}
	step(g, turn(1, Down), turn(1, Left)) // two queued turns: down, then left
	if s.head != (cell{x: 12, y: 11}) {
		t.Fatalf("after turning down: %+v", s.head)
	}
	step(g)
	if s.head != (cell{x: 11, y: 11}) {
		t.Fatalf("after the queued left turn: %+v", s.head)
	}
	if got := g.occ[g.idx(8, 10)]; got != 0 {
		t.Error("the tail's old cell is still occupied")
	}
}

func TestEatingGrows(t *testing.T) {
	g := newGame(2)
	s := put(g, 1, Right, 10, 10, [2]int32{8, 10}, [2]int32{9, 10})
	noFood(g)
	g.addFood(11, 10)
	step(g)
	if s.eaten != 1 || len(g.foods) != 5+2*len(g.snakes) { // eaten, then topped up
		t.Fatalf("eaten %d, food %d", s.eaten, len(g.foods))
	}
	step(g)
	if s.length() != 4 {
		t.Errorf("length %d after eating, want 4", s.length())
	}
	if st := g.Standings(); st[0].Score != 4 || st[0].Stats["food"] != 1 || st[0].Stats["best"] != 4 {
		t.Errorf("standings %+v", st)
	}
}

func TestWallKillsAndRespawns(t *testing.T) {
	g := newGame(3)
	s := put(g, 1, Left, 0, 5, [2]int32{2, 5}, [2]int32{1, 5})
	noFood(g)
	step(g)
	if s.alive || s.deaths != 1 || s.length() != 0 {
		t.Fatalf("alive %v deaths %d after hitting the wall", s.alive, s.deaths)
	}
	for _, c := range [][2]int32{{0, 5}, {1, 5}, {2, 5}} {
		if g.occ[g.idx(c[0], c[1])] != 0 {
			t.Errorf("dead snake still occupies %v", c)
		}
	}
	for range 19 {
		step(g)
	}
	if s.alive {
		t.Fatal("respawned before 2 s")
	}
	step(g)
	if !s.alive || s.length() != StartLen {
		t.Fatalf("not respawned after 2 s: alive %v len %d", s.alive, s.length())
	}
}

func TestBodiesKillAndHeadOnKillsBoth(t *testing.T) {
	g := newGame(4)
	a := put(g, 1, Down, 5, 4, [2]int32{5, 2}, [2]int32{5, 3})
	b := put(g, 2, Right, 7, 5, [2]int32{3, 5}, [2]int32{4, 5}, [2]int32{5, 5}, [2]int32{6, 5})
	noFood(g)
	step(g)
	if a.alive || !b.alive || b.kills != 1 {
		t.Fatalf("a into b's body: a alive %v, b alive %v kills %d", a.alive, b.alive, b.kills)
	}
	food := 0
	for _, f := range g.foods {
		if f.x == 5 && (f.y == 2 || f.y == 3) {
			food++
		}
	}
	if food == 0 {
		t.Error("a dead snake's body left no food")
	}

	g = newGame(5)
	a = put(g, 1, Right, 4, 8, [2]int32{2, 8}, [2]int32{3, 8})
	b = put(g, 2, Left, 6, 8, [2]int32{8, 8}, [2]int32{7, 8})
	noFood(g)
	step(g)
	if a.alive || b.alive || a.kills+b.kills != 0 {
		t.Fatalf("head-on into the same cell: alive %v %v", a.alive, b.alive)
	}
}

func TestFollowingYourOwnTailIsSafe(t *testing.T) {
	g := newGame(6)
	// A 2×2 loop: head at (5,5) heading up into (5,4), the tail's cell.
	s := put(g, 1, Up, 5, 5, [2]int32{5, 4}, [2]int32{6, 4}, [2]int32{6, 5})
	noFood(g)
	step(g)
	if !s.alive || s.head != (cell{x: 5, y: 4}) {
		t.Fatalf("chasing the tail killed the snake: alive %v head %+v", s.alive, s.head)
	}
}

func TestRenderFollowsKinds(t *testing.T) {
	g := newGame(7)
	for n := range uint32(4) {
		g.Join(gameloop.Player{Num: n + 1, Name: "S"})
	}
	step(g)
	var w gameloop.World
	g.Render(0, &w)
	if err := w.Check(Mode.Kinds()); err != nil {
		t.Fatal(err)
	}
	if want := 1 + 4*StartLen + len(g.foods); w.Len() != want {
		t.Errorf("%d entities, want %d", w.Len(), want)
	}
}

// TestBotsPlayThroughTheDecoder: bots eat and grow, and mostly stay alive.
func TestBotsPlayThroughTheDecoder(t *testing.T) {
	g := newGame(8)
	var bots []gameloop.Bot
	for n := range uint32(6) {
		p := gameloop.Player{Num: n + 1, Name: "Bot", Bot: true}
		g.Join(p)
		bots = append(bots, g.NewBot(p, rand.New(rand.NewPCG(9, uint64(n)))))
	}
	var inputs []gameloop.Input[Input]
	for tick := uint64(1); tick <= 1200; tick++ {
		g.Tick(gameloop.Step[Input]{Tick: tick, Inputs: inputs})
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
	eaten, deaths, best := 0, 0, 0
	for _, s := range g.snakes {
		eaten, deaths, best = eaten+s.eaten, deaths+s.deaths, max(best, s.best)
	}
	if eaten < 30 || best < 10 || deaths > eaten {
		t.Errorf("bots ate %d, died %d, best length %d in two minutes", eaten, deaths, best)
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int8
		ok   bool
	}{
		{`{"d":0}`, 0, true}, {`{"d":3}`, 3, true}, {`{"d":4}`, 0, false}, {`{"d":-1}`, 0, false},
		{`{"d":1.5}`, 0, false}, {`{"d":"up"}`, 0, false}, {`{}`, 0, false}, {`{"d":1,"d":2}`, 0, false},
	} {
		got, err := Decode([]byte(c.in))
		if c.ok != (err == nil) || (c.ok && got.Dir != c.want) {
			t.Errorf("%s: %+v, %v", c.in, got, err)
		}
		if err != nil && comet.ErrorCode(err) != comet.EINVALID {
			t.Errorf("%s: error %v is not EINVALID", c.in, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"d":2}`, `{"d":4}`, `{"d":1e400}`, `{"d":null}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Decode(data)
		switch {
		case err != nil && comet.ErrorCode(err) != comet.EINVALID:
			t.Fatalf("error %v is not EINVALID", err)
		case err == nil && (in.Dir < 0 || in.Dir > 3):
			t.Fatalf("accepted direction %d", in.Dir)
		}
	})
}
