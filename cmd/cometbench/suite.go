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

	Game         bool
	Games        []gameParams
	InputHz      float64
	GameDuration time.Duration
}

// shortSuite runs every scenario small enough for `make bench` (about two minutes).
func shortSuite() suite {
	return suite{
		Title: "cometbench short", Idle: true, Streams: 2000, Rate: 1000, Hold: 10 * time.Second,
		Transports: []string{"multipart", "sse", "iframe"}, Naive: true,
		Throughput: true, MsgRate: 10, TPDuration: 6 * time.Second, Raw: true,
		Broadcast: true, Messages: 5, Spacing: time.Second, Longpoll: 200,
		History: 500, HistoryHold: 3 * time.Second, Settle: 2 * time.Second,
		Game: true, InputHz: 2, GameDuration: 8 * time.Second,
		Games: []gameParams{{Rooms: 1, Players: 100}, {Rooms: 10, Players: 10}},
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
		p = append(p, fmt.Sprintf("game: arena, bots on multipart/SSE/iframe, one input every %.0f ms per bot (a new aim each), %s per room layout", 1000/s.InputHz, s.GameDuration))
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
		b.progress("idle baseline: %d streams on the naive Echo server", s.Streams)
		n, err := b.idleOn(ctx, s, b.naive)
		if err != nil {
			fail("naive baseline", err)
		} else {
			naive = &n
		}
	}
	if s.Idle {
		b.add(idleRows(idle, naive, s.Goal)...)
		b.noteErrs("idle", idle.Errs)
	}
	if s.Throughput {
		var raw *throughputResult
		if s.Raw {
			b.progress("throughput limit: raw writer, %d sockets", idle.Added)
			r, err := b.rawThroughput(ctx, s.Rate, int(idle.Added), throughputParams{MsgRate: s.MsgRate, Duration: s.TPDuration})
			if err != nil {
				fail("raw writer", err)
			} else {
				raw = &r
			}
		}
		b.add(throughputRows(tp, raw)...)
		b.noteErrs("throughput", tp.Errs)
	}
	if broadcastDone != nil && s.Raw {
		// The same lines at the same spacing to as many raw sockets: the
		// fan-out floor of this machine, clients included.
		n := int(broadcastDone.Held)
		b.progress("broadcast floor: raw writer, %d sockets", n)
		r, err := b.rawThroughput(ctx, s.Rate, n, throughputParams{MsgRate: 1 / s.Spacing.Seconds(), Duration: time.Duration(s.Messages) * s.Spacing})
		if err != nil {
			fail("raw broadcast", err)
		} else {
			later = append(later, broadcastFloorRows(*broadcastDone, r)...)
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

// rawThroughput measures the raw writer with n sockets, publishing as p says.
func (b *bench) rawThroughput(ctx context.Context, rate float64, n int, p throughputParams) (throughputResult, error) {
	t, err := b.raw(ctx)
	if err != nil {
		return throughputResult{}, err
	}
	defer t.Close()
	f, err := b.fleet(ctx, t, n, true)
	if err != nil {
		return throughputResult{}, err
	}
	defer f.close()
	if _, err := f.open(ctx, n, max(rate, 2000), []string{"multipart"}); err != nil {
		return throughputResult{}, err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return throughputResult{}, err
	}
	pub := newRawPublisher(t.Base)
	defer pub.close()
	return runThroughput(ctx, t, f, pub, p)
}

// gameParts runs each room layout on a fresh comet server.
func (b *bench) gameParts(ctx context.Context, s suite, fail func(string, error)) {
	for _, g := range s.Games {
		part := fmt.Sprintf("game: %d room(s) × %d bots", g.Rooms, g.Players)
		g.Duration, g.InputHz, g.TickHz = s.GameDuration, s.InputHz, 20
		if len(g.Transports) == 0 {
			g.Transports = []string{"multipart", "sse", "iframe"}
		}
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
