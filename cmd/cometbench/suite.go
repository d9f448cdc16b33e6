package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// suite is what one run measures; each part can be switched off.
type suite struct {
	Title string
	Goal  int // streams the idle and broadcast targets ask for (0: a short run)

	Idle       bool
	Streams    int
	Rate       float64
	Hold       time.Duration
	Transports []string
	Naive      bool // the naive Echo baseline, same streams and hold

	Throughput bool
	MsgRate    float64
	TPDuration time.Duration
	Raw        bool // the raw-writer limit

	Broadcast bool
	Messages  int
	Spacing   time.Duration
	Longpoll  int // long-poll streams added for the broadcast

	History     int           // streams added (and measured) once the lobby chat history is full
	HistoryHold time.Duration // how long those are held before measuring
	Settle      time.Duration // after each ramp, before measuring

	Game           bool
	Games          []gameParams
	GameTransports [][]string // each layout runs once per entry: its bots' transports (default multipart, SSE, iframe)
	InputHz        float64
	GameDuration   time.Duration
}

// shortSuite runs every scenario small enough for `make bench` (about two minutes).
func shortSuite() suite {
	return suite{
		Title: "cometbench short", Idle: true, Streams: 2000, Rate: 1000, Hold: 10 * time.Second,
		Transports: []string{"multipart", "sse", "iframe", "ws"}, Naive: true,
		Throughput: true, MsgRate: 10, TPDuration: 6 * time.Second, Raw: true,
		Broadcast: true, Messages: 5, Spacing: time.Second, Longpoll: 200,
		History: 500, HistoryHold: 3 * time.Second, Settle: 2 * time.Second,
		Game: true, InputHz: 2, GameDuration: 8 * time.Second,
		Games:          []gameParams{{Rooms: 1, Players: 100}, {Rooms: 10, Players: 10}},
		GameTransports: [][]string{{"multipart", "sse", "iframe"}, {"ws"}},
	}
}

// fullSuite is the measurement run: 15,000 streams held for 4 minutes, long
// enough for the ramp's replay events to be released (60 s after writing,
// plus up to a heartbeat) and for the runtime's two-minute forced GC to run
// after that, so the figure is the streams' settled cost; a 1,000-player
// room for a minute.
func fullSuite() suite {
	return suite{
		Title: "cometbench full", Goal: 15000, Idle: true, Streams: 15000, Rate: 500, Hold: 240 * time.Second,
		Transports: []string{"multipart", "sse", "iframe"}, Naive: true,
		Throughput: true, MsgRate: 4, TPDuration: 20 * time.Second, Raw: true,
		Broadcast: true, Messages: 5, Spacing: 2 * time.Second, Longpoll: 0, // the 15,000 lobby streams; --longpoll adds long-polls
		History: 2000, HistoryHold: 10 * time.Second, Settle: 5 * time.Second,
		Game: true, InputHz: 2, GameDuration: 60 * time.Second,
		Games: []gameParams{{Rooms: 1, Players: 1000}, {Rooms: 100, Players: 10}},
	}
}

// wsSuite is the WebSocket measurement (issue 14): lobby streams all on ws
// beside the naive gorilla/websocket server and the raw writer's WebSocket,
// then the 1,000-player room with inputs by POST (bots on the HTTP streams)
// and with inputs up the WebSocket.
func wsSuite(short bool) suite {
	s := fullSuite()
	s.Games = []gameParams{{Rooms: 1, Players: 1000}}
	if short {
		s = shortSuite()
		s.Games = []gameParams{{Rooms: 1, Players: 100}}
	}
	s.Title = "cometbench ws"
	s.Transports = []string{"ws"}
	s.History = 0
	s.GameTransports = [][]string{{"multipart", "sse", "iframe"}, {"ws"}}
	return s
}

func (s suite) params() []string {
	var p []string
	if s.Idle || s.Broadcast || s.Throughput {
		p = append(p, fmt.Sprintf("lobby streams: %s (%s), opened at %.0f/s on %s client processes; idle hold %s; heartbeat 25 s (server default)",
			count(int64(s.Streams)), strings.Join(s.Transports, ", "), s.Rate, "⌈streams/7,000⌉", s.Hold))
	}
	if s.Throughput {
		p = append(p, fmt.Sprintf("throughput: %.0f chat lines/s for %s from %d publisher players", s.MsgRate, s.TPDuration, int(math.Ceil(s.MsgRate))+1))
	}
	if s.Broadcast {
		p = append(p, fmt.Sprintf("broadcast: %d lines %s apart, +%d long-poll streams", s.Messages, s.Spacing, s.Longpoll))
	}
	if s.Game {
		p = append(p, fmt.Sprintf("game: arena, bots on %s (inputs up the socket on ws, else by POST), one input every %.0f ms per bot (a new aim each), %s per room layout", variantNames(s.GameTransports), 1000/s.InputHz, s.GameDuration))
	}
	return p
}

// run measures every part of s and prints the report. A part that fails is
// reported as an error row; the others still run.
func (b *bench) run(ctx context.Context, s suite) error {
	var errs []error
	fail := func(part string, err error) {
		errs = append(errs, fmt.Errorf("%s: %w", part, err))
		b.add(row{Scenario: part, Metric: "error", Value: err.Error(), Verdict: "NOT met"})
		b.progress("%s failed: %v", part, err)
	}
	if s.Idle || s.Broadcast || s.Throughput || s.History > 0 {
		if err := b.lobbyParts(ctx, s, fail); err != nil {
			fail("comet lobby", err)
		}
	}
	if s.Game {
		b.gameParts(ctx, s, fail)
	}
	b.report(s.Title, s.params())
	return errors.Join(errs...)
}

// lobbyParts runs idle, throughput, broadcast and the history measurement on
// one comet server and one fleet, then the baselines.
func (b *bench) lobbyParts(ctx context.Context, s suite, fail func(string, error)) error {
	t, err := b.comet(ctx, "comet-lobby")
	if err != nil {
		return err
	}
	defer t.Close()
	f, err := b.fleet(ctx, t, s.Streams+s.Longpoll+s.History, false)
	if err != nil {
		return err
	}
	defer f.close()

	var later []row // broadcast and history rows, printed after idle and throughput
	var broadcastDone *broadcastResult
	defer func() { b.add(later...) }()
	var idle idleResult
	if s.Idle || s.Throughput || s.Broadcast {
		b.progress("idle: opening %d streams on comet", s.Streams)
		idle, err = runIdle(ctx, t, f, idleParams{Streams: s.Streams, Rate: s.Rate, Hold: s.Hold, Transports: s.Transports, Settle: s.Settle})
		if err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		b.progress("idle: %d held, %.2f KiB RSS per stream", idle.Added, idle.RSSPer/1024)
	}
	var tp throughputResult
	if s.Throughput {
		b.progress("throughput: %.0f lines/s for %s to %d streams", s.MsgRate, s.TPDuration, idle.Added)
		pub, err := newCometPublishers(ctx, t.Base, int(math.Ceil(s.MsgRate))+1, b.log)
		if err != nil {
			fail("throughput", err)
		} else {
			tp, err = runThroughput(ctx, t, f, pub, throughputParams{MsgRate: s.MsgRate, Duration: s.TPDuration})
			if n, errs := pub.refused(); n > 0 {
				b.note("throughput: the server refused %d publisher lines: %v", n, errs)
			}
			pub.close()
			if err != nil {
				fail("throughput", err)
				s.Throughput = false
			}
		}
	}
	if s.Broadcast {
		b.progress("broadcast: %d lines to %d streams (+%d long-poll)", s.Messages, idle.Added, s.Longpoll)
		bc, err := runBroadcast(ctx, t, f, broadcastParams{Messages: s.Messages, Spacing: s.Spacing,
			Extra: s.Longpoll, ExtraTransports: []string{"longpoll"}, Rate: s.Rate}, b.log)
		if err != nil {
			fail("broadcast", err)
		} else {
			later = append(later, broadcastRows(bc, s.Goal)...)
			b.noteErrs("broadcast", bc.Errs)
			broadcastDone = &bc
		}
	}
	if s.Throughput || s.Broadcast {
		// Every held stream's session now has those lines in its replay
		// buffer: what does that keep alive?
		rssPer, heapPer := idle.memNow(ctx, t)
		sc := fmt.Sprintf("idle streams after the traffic: %s streams, each sent %d lines", count(idle.Added), tp.Messages+s.Messages*btoi(s.Broadcast))
		later = append(later,
			row{sc, "server RSS per held stream", kib(rssPer), "≤ 2 KiB", verdictIf(!math.IsNaN(rssPer), rssPer <= 2048)},
			row{sc, "server heap in use per held stream", kib(heapPer), "", ""})
	}
	if s.History > 0 {
		b.progress("history: %d more streams with a full lobby chat history", s.History)
		h, err := runIdle(ctx, t, f, idleParams{Streams: s.History, Rate: s.Rate, Hold: s.HistoryHold, Transports: s.Transports, Settle: s.Settle})
		if err != nil {
			fail("history", err)
		} else {
			// New sessions get the (shared) 50-line chat history; the ramp also
			// sends presence updates to every held session, which keeps them.
			sc := fmt.Sprintf("idle, lobby chat history full: %s more streams", count(h.Added))
			later = append(later, row{sc, "server RSS growth per added stream (new sessions + presence updates to all held ones)", kib(h.RSSPer), "≤ 2 KiB", verdictIf(!math.IsNaN(h.RSSPer), h.RSSPer <= 2048)})
		}
	}
	_ = f.close()
	_ = t.Close()

	var naive *idleResult
	if s.Naive && s.Idle {
		b.progress("idle baseline: %d streams on the %s", s.Streams, naiveName(s.Transports))
		n, err := b.idleOn(ctx, s, b.naive)
		if err != nil {
			fail("naive baseline", err)
		} else {
			naive = &n
		}
	}
	if s.Idle {
		b.add(idleRows(idle, naive, s.Goal, s.Transports)...)
		b.noteErrs("idle", idle.Errs)
	}
	// The raw writer serves multipart and WebSocket; a run on ws alone
	// compares with its WebSocket.
	floor := "multipart"
	wsOnly := len(s.Transports) == 1 && s.Transports[0] == "ws"
	if wsOnly {
		floor = "ws"
	}
	if s.Throughput {
		var raw *throughputResult
		if s.Raw {
			b.progress("throughput limit: raw writer, %d %s sockets", idle.Added, floor)
			r, err := b.floorOn(ctx, b.raw, true, floor, s.Rate, int(idle.Added), throughputParams{MsgRate: s.MsgRate, Duration: s.TPDuration})
			if err != nil {
				fail("raw writer", err)
			} else {
				raw = &r
				later = append(later, floorMemRows("raw writer ("+floor+")", r)...)
			}
		}
		b.add(throughputRows(tp, raw)...)
		b.noteErrs("throughput", tp.Errs)
	}
	if broadcastDone != nil {
		// The same lines at the same spacing to as many sockets of the
		// baselines: the raw writer is the fan-out floor of this machine,
		// clients included; gorilla/websocket is the usual Go WebSocket server.
		n := int(broadcastDone.Held)
		bp := throughputParams{MsgRate: 1 / s.Spacing.Seconds(), Duration: time.Duration(s.Messages) * s.Spacing}
		if s.Raw {
			b.progress("broadcast floor: raw writer, %d %s sockets", n, floor)
			r, err := b.floorOn(ctx, b.raw, true, floor, s.Rate, n, bp)
			if err != nil {
				fail("raw broadcast", err)
			} else {
				later = append(later, broadcastFloorRows(*broadcastDone, "raw writer ("+floor+")", r, wsOnly)...)
			}
		}
		if s.Naive && wsOnly {
			b.progress("broadcast baseline: gorilla/websocket, %d sockets", n)
			r, err := b.floorOn(ctx, b.naive, false, "ws", s.Rate, n, bp)
			if err != nil {
				fail("gorilla broadcast", err)
			} else {
				later = append(later, broadcastFloorRows(*broadcastDone, "naive gorilla/websocket", r, false)...)
				later = append(later, floorMemRows("naive gorilla/websocket", r)...)
			}
		}
	}
	return nil
}

// idleOn measures idle streams on a baseline server.
func (b *bench) idleOn(ctx context.Context, s suite, start func(context.Context) (*target, error)) (idleResult, error) {
	t, err := start(ctx)
	if err != nil {
		return idleResult{}, err
	}
	defer t.Close()
	f, err := b.fleet(ctx, t, s.Streams, false)
	if err != nil {
		return idleResult{}, err
	}
	defer f.close()
	return runIdle(ctx, t, f, idleParams{Streams: s.Streams, Rate: s.Rate, Hold: s.Hold, Transports: s.Transports, Settle: s.Settle})
}

// floorOn measures a baseline started by start — the raw writer (raw: its
// clients need no session) or the naive server's gorilla/websocket — with n
// sockets of transport, publishing through its POST /publish as p says, and
// samples the RSS the sockets cost after the ramp and after the traffic.
func (b *bench) floorOn(ctx context.Context, start func(context.Context) (*target, error), raw bool, transport string, rate float64, n int, p throughputParams) (throughputResult, error) {
	t, err := start(ctx)
	if err != nil {
		return throughputResult{}, err
	}
	defer t.Close()
	f, err := b.fleet(ctx, t, n, raw)
	if err != nil {
		return throughputResult{}, err
	}
	defer f.close()
	s0, e0 := t.sample()
	if _, err := f.open(ctx, n, max(rate, 2000), []string{transport}); err != nil {
		return throughputResult{}, err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return throughputResult{}, err
	}
	s1, e1 := t.sample()
	pub := newRawPublisher(t.Base)
	defer pub.close()
	r, err := runThroughput(ctx, t, f, pub, p)
	if err != nil {
		return r, err
	}
	s2, e2 := t.sample()
	r.RSSRampPer, r.RSSAfterPer = math.NaN(), math.NaN()
	if d := deltaOf(s0, s1, e0, e1); d.ok && r.Held > 0 {
		r.RSSRampPer = float64(d.RSS) / float64(r.Held)
	}
	if d := deltaOf(s0, s2, e0, e2); d.ok && r.Held > 0 {
		r.RSSAfterPer = float64(d.RSS) / float64(r.Held)
	}
	return r, nil
}

// floorMemRows report what a baseline's held sockets cost it.
func floorMemRows(name string, r throughputResult) []row {
	sc := fmt.Sprintf("idle baseline: %s, %s sockets", name, count(r.Held))
	return []row{
		{sc, "RSS per held socket right after the ramp", kib(r.RSSRampPer), "", ""},
		{sc, fmt.Sprintf("RSS per held socket after the traffic (%d lines each)", r.Messages), kib(r.RSSAfterPer), "", ""},
	}
}

// gameParts runs each room layout on a fresh comet server.
func (b *bench) gameParts(ctx context.Context, s suite, fail func(string, error)) {
	variants := s.GameTransports
	if len(variants) == 0 {
		variants = [][]string{{"multipart", "sse", "iframe"}}
	}
	for _, layout := range s.Games {
		for _, tr := range variants {
			g := layout
			g.Duration, g.InputHz, g.TickHz = s.GameDuration, s.InputHz, 20
			if len(g.Transports) == 0 {
				g.Transports = tr
			}
			part := fmt.Sprintf("game: %d room(s) × %d bots on %s", g.Rooms, g.Players, strings.Join(g.Transports, "/"))
			b.progress("%s for %s", part, g.Duration)
			r, err := b.gameOn(ctx, g)
			switch {
			case errors.Is(err, errNoGame):
				b.add(row{Scenario: part, Metric: "not run", Value: err.Error() + ": cmd/comet does not register the game modes yet", Verdict: "NOT met"})
				return
			case err != nil:
				fail(part, err)
			default:
				b.add(gameRows(r)...)
				b.noteErrs(part, r.Errs)
			}
		}
	}
}

// variantNames describes the game's transport variants, e.g. "multipart/sse/iframe, then ws".
func variantNames(v [][]string) string {
	if len(v) == 0 {
		return "multipart/sse/iframe"
	}
	names := make([]string, len(v))
	for i, tr := range v {
		names[i] = strings.Join(tr, "/")
	}
	return strings.Join(names, ", then ")
}

func (b *bench) gameOn(ctx context.Context, g gameParams) (gameResult, error) {
	t, err := b.comet(ctx, "comet-game")
	if err != nil {
		return gameResult{}, err
	}
	defer t.Close()
	// Bots parse every view they get: one client process per 500 bots keeps
	// the client from being what the latency measures.
	f, err := b.fleetOf(ctx, t, (g.Rooms*g.Players+499)/500, false)
	if err != nil {
		return gameResult{}, err
	}
	defer f.close()
	return runGame(ctx, t, f, g)
}

func (b *bench) noteErrs(part string, errs []string) {
	if len(errs) > 0 {
		b.note("%s: client-side errors seen (first %d): %s", part, len(errs), strings.Join(errs, "; "))
	}
}
