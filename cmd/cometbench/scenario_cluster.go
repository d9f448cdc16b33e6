package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"comet/internal/pgtest"
)

// The cluster scenario (issue 18): held streams over N `comet serve` nodes
// sharing one nats-server and one PostgreSQL on this machine, beside a
// single default node (SQLite, in-process bus) holding one node's share and
// N raw writers (the fan-out floor) measured in the same run; then one room
// whose players' streams and inputs are half on its home node and half on
// another node (relayed and forwarded).

// clusterParams is what `cometbench cluster` measures.
type clusterParams struct {
	Nodes        int
	Streams      int     // lobby streams over all nodes
	Single       int     // the single-node baseline's streams (default Streams/Nodes)
	RelayShare   float64 // second lobby variant: this share of each node's streams is homed on the next node (0: no variant)
	Rate         float64 // streams opened per second over all nodes (the single node opens at Rate/Nodes)
	Hold         time.Duration
	Settle       time.Duration
	Transports   []string
	Messages     int // broadcast lines
	Spacing      time.Duration
	GamePlayers  int // one arena room on node 1 (0: no game)
	InputHz      float64
	GameDuration time.Duration
	Raw          bool // the raw writers' floor
}

// nodeMem is one node's cost of the streams held on it.
type nodeMem struct {
	Name             string
	Held             int64   // streams held on the node (direct and mirrored)
	RampPer, HoldPer float64 // RSS growth per held stream after the ramp, after the hold
	LivePer          float64 // growth of the heap the last GC marked live, per held stream, at the end of the hold
	BaseRSS, RSS     float64 // RSS before the ramp, at the end of the hold
	CPUPct           float64 // CPU while idle, % of a core
}

// clusterLobby is one lobby variant on the cluster.
type clusterLobby struct {
	Variant                     string
	Nodes                       []nodeMem
	Held, Failed, Lost, Relayed int64
	RampTook, Idle              time.Duration
	RampPer, HoldPer, LivePer   float64 // all nodes' RSS and live heap growth per held stream
	NATSRamp, NATSIdle, NATSBC  varz
	NATSRSS                     float64
	BC                          broadcastResult
}

// clusterGame is the room half played from its home node, half relayed.
type clusterGame struct {
	Players, Relayed  int64
	Running           int64
	JoinFailed        int
	Direct, Relay     agentStats
	Ticks             float64
	TickP99           float64
	NATS              varz
	Duration          time.Duration
	InputHz           float64
	RelayedInputsPOST int64
}

// lobbyGroup is the agents holding one node's direct or relayed streams.
type lobbyGroup struct {
	node    int
	f       *fleet
	n       int
	relayed bool
}

// nodeFleet builds agents for n streams on base whose sessions are opened
// on sessionBase ("" : on base) with token ("" : a new player each).
func (b *bench) nodeFleet(ctx context.Context, base, sessionBase, token string, n int) (*fleet, error) {
	o := fleetOpts{Agents: max((n+b.cfg.PerAgent-1)/b.cfg.PerAgent, 1), InProcess: b.cfg.InProcess,
		Token: token, SessionBase: sessionBase, Stderr: b.cfg.Stderr}
	if !b.cfg.InProcess {
		o.IPsPerAgent = b.cfg.PerAgent/2000 + 1
	}
	return newFleet(ctx, base, o, b.log)
}

// joinFleets is one fleet of several fleets' agents, for stats and
// broadcasts over all of them; close the parts, not it.
func joinFleets(parts ...*fleet) *fleet {
	all := &fleet{log: parts[0].log}
	for _, f := range parts {
		all.agents = append(all.agents, f.agents...)
	}
	return all
}

// openGroups ramps every group's streams at once, each at its share of rate.
func openGroups(ctx context.Context, groups []lobbyGroup, rate float64, total int, transports []string) error {
	errc := make(chan error, len(groups))
	for _, g := range groups {
		go func() {
			_, err := g.f.open(ctx, g.n, rate*float64(g.n)/float64(total), transports)
			errc <- err
		}()
	}
	var errs []error
	for range groups {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// liveHeap reads every node's go_gc_heap_live_bytes (NaN where unread).
func (c *benchCluster) liveHeap(ctx context.Context) []float64 {
	out := make([]float64, len(c.nodes))
	for i, t := range c.nodes {
		out[i] = math.NaN()
		if m, err := t.metrics(ctx); err == nil {
			out[i] = m.Sum("go_gc_heap_live_bytes")
		}
	}
	return out
}

// snap reads every node's RSS and CPU and NATS's counters.
func (c *benchCluster) snap(ctx context.Context) ([]procSample, varz, error) {
	out := make([]procSample, len(c.nodes))
	for i, t := range c.nodes {
		s, err := t.sample()
		if err != nil {
			return nil, varz{}, err
		}
		out[i] = s
	}
	v, err := c.nats.readVarz(ctx)
	return out, v, err
}

// runClusterLobby holds p.Streams streams over a fresh cluster, a relayShare
// of each node's homed on the next node, and broadcasts lobby lines to all.
func (b *bench) runClusterLobby(ctx context.Context, pg *pgtest.Cluster, natsBin string, p clusterParams, relayShare float64, variant string) (clusterLobby, error) {
	r := clusterLobby{Variant: variant}
	c, err := b.startCluster(ctx, pg, natsBin, variant, p.Nodes)
	if err != nil {
		return r, err
	}
	defer c.close()
	tok, err := newPlayer(ctx, c.nodes[0].Base)
	if err != nil {
		return r, err
	}
	per := p.Streams / p.Nodes
	nRel := int(math.Round(float64(per) * relayShare))
	var groups []lobbyGroup
	defer func() {
		for _, g := range groups {
			_ = g.f.close()
		}
	}()
	for i, nd := range c.nodes {
		for _, relayed := range []bool{false, true} {
			n, home := per-nRel, ""
			if relayed {
				n, home = nRel, c.nodes[(i+1)%len(c.nodes)].Base
			}
			if n <= 0 {
				continue
			}
			f, err := b.nodeFleet(ctx, nd.Base, home, tok, n)
			if err != nil {
				return r, err
			}
			groups = append(groups, lobbyGroup{node: i, f: f, n: n, relayed: relayed})
		}
	}
	parts := make([]*fleet, len(groups))
	for i, g := range groups {
		parts[i] = g.f
	}
	all := joinFleets(parts...)

	s0, v0, err := c.snap(ctx)
	if err != nil {
		return r, err
	}
	live0 := c.liveHeap(ctx)
	start := time.Now()
	if err := openGroups(ctx, groups, p.Rate, per*p.Nodes, p.Transports); err != nil {
		return r, fmt.Errorf("%s: %w", variant, err)
	}
	r.RampTook = time.Since(start)
	if err := sleepCtx(ctx, p.Settle); err != nil {
		return r, err
	}
	s1, v1, err := c.snap(ctx)
	if err != nil {
		return r, err
	}
	b.progress("%s: %d streams open in %s; holding %s", variant, per*p.Nodes, r.RampTook.Round(100*time.Millisecond), p.Hold)
	if err := sleepCtx(ctx, p.Hold); err != nil {
		return r, err
	}
	s2, v2, err := c.snap(ctx)
	if err != nil {
		return r, err
	}
	live2 := c.liveHeap(ctx)
	r.NATSRamp, r.NATSIdle, r.Idle = v1.sub(v0), v2.sub(v1), s2[0].At.Sub(s1[0].At)
	held := make([]int64, p.Nodes)
	for _, g := range groups {
		st, err := g.f.stats(ctx, false)
		if err != nil {
			return r, err
		}
		held[g.node] += st.Held
		r.Held += st.Held
		r.Failed += st.OpenFailed
		r.Lost += st.Lost
		if g.relayed {
			r.Relayed += st.Held
		}
	}
	var rampSum, holdSum int64
	liveSum := 0.0
	for i, nd := range c.nodes {
		m := nodeMem{Name: nd.Name, Held: held[i], RampPer: math.NaN(), HoldPer: math.NaN(), LivePer: math.NaN(),
			BaseRSS: float64(s0[i].RSS), RSS: float64(s2[i].RSS), CPUPct: deltaOf(s1[i], s2[i], nil, nil).CPUPct()}
		if held[i] > 0 {
			m.RampPer = float64(s1[i].RSS-s0[i].RSS) / float64(held[i])
			m.HoldPer = float64(s2[i].RSS-s0[i].RSS) / float64(held[i])
			m.LivePer = (live2[i] - live0[i]) / float64(held[i])
		}
		rampSum += s1[i].RSS - s0[i].RSS
		holdSum += s2[i].RSS - s0[i].RSS
		liveSum += live2[i] - live0[i]
		r.Nodes = append(r.Nodes, m)
	}
	r.RampPer, r.HoldPer, r.LivePer = math.NaN(), math.NaN(), math.NaN()
	if r.Held > 0 {
		r.RampPer, r.HoldPer = float64(rampSum)/float64(r.Held), float64(holdSum)/float64(r.Held)
		r.LivePer = liveSum / float64(r.Held)
	}
	if p.Messages > 0 {
		b.progress("%s: broadcast of %d lobby lines to %d streams (said on %s)", variant, p.Messages, r.Held, c.nodes[0].Name)
		r.BC, err = runBroadcast(ctx, c.nodes[0], all, broadcastParams{Messages: p.Messages, Spacing: p.Spacing, Rate: p.Rate}, b.log)
		if err != nil {
			return r, fmt.Errorf("%s broadcast: %w", variant, err)
		}
		v3, err := c.nats.readVarz(ctx)
		if err != nil {
			return r, err
		}
		r.NATSBC = v3.sub(v2)
	}
	if s, err := c.nats.sample(); err == nil {
		r.NATSRSS = float64(s.RSS)
	}
	return r, nil
}

// singleLobby is the baseline: one default node (SQLite, in-process bus)
// holding one node's share, opened at one node's share of the rate.
type singleLobby struct {
	Idle idleResult
	BC   broadcastResult
}

func (b *bench) runSingleLobby(ctx context.Context, p clusterParams) (singleLobby, error) {
	var r singleLobby
	t, err := b.comet(ctx, "single")
	if err != nil {
		return r, err
	}
	defer kill(t)
	f, err := b.fleet(ctx, t, p.Single, false)
	if err != nil {
		return r, err
	}
	defer f.close()
	r.Idle, err = runIdle(ctx, t, f, idleParams{Streams: p.Single, Rate: p.Rate / float64(p.Nodes), Hold: p.Hold, Transports: p.Transports, Settle: p.Settle})
	if err != nil {
		return r, err
	}
	if p.Messages > 0 {
		b.progress("single: broadcast of %d lobby lines to %d streams", p.Messages, r.Idle.Added)
		r.BC, err = runBroadcast(ctx, t, f, broadcastParams{Messages: p.Messages, Spacing: p.Spacing, Rate: p.Rate}, b.log)
	}
	return r, err
}

// multiRawPublisher writes each line on every raw writer at once.
type multiRawPublisher []*rawPublisher

func (m multiRawPublisher) publish(ctx context.Context, k int, at time.Time) error {
	errc := make(chan error, len(m))
	for _, p := range m {
		go func() { errc <- p.publish(ctx, k, at) }()
	}
	var errs []error
	for range m {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

func (m multiRawPublisher) close() {
	for _, p := range m {
		p.close()
	}
}

// runRawFloor holds p.Streams multipart sockets over p.Nodes raw writers
// (one per node, as many sockets each) and writes the broadcast's lines to
// all of them at once: the machine's fan-out floor for that many sockets.
func (b *bench) runRawFloor(ctx context.Context, p clusterParams) (throughputResult, error) {
	per := p.Streams / p.Nodes
	var groups []lobbyGroup
	var pub multiRawPublisher
	defer func() {
		for _, g := range groups {
			_ = g.f.close()
		}
	}()
	var first *target
	for i := range p.Nodes {
		t, err := b.raw(ctx)
		if err != nil {
			return throughputResult{}, err
		}
		defer kill(t)
		if first == nil {
			first = t
		}
		f, err := b.fleet(ctx, t, per, true)
		if err != nil {
			return throughputResult{}, err
		}
		groups = append(groups, lobbyGroup{node: i, f: f, n: per})
		pub = append(pub, newRawPublisher(t.Base))
	}
	defer pub.close()
	if err := openGroups(ctx, groups, max(p.Rate, 2000), per*p.Nodes, []string{"multipart"}); err != nil {
		return throughputResult{}, err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return throughputResult{}, err
	}
	parts := make([]*fleet, len(groups))
	for i, g := range groups {
		parts[i] = g.f
	}
	return runThroughput(ctx, first, joinFleets(parts...), pub,
		throughputParams{MsgRate: 1 / p.Spacing.Seconds(), Duration: time.Duration(p.Messages) * p.Spacing})
}

// runClusterGame plays one arena room on a fresh two-node cluster: every
// player's session is homed on node 1, where the room is; half the players
// hold their stream and send their inputs on node 1, the other half on
// node 2 (the stream relayed from node 1, each input POST forwarded there).
func (b *bench) runClusterGame(ctx context.Context, pg *pgtest.Cluster, natsBin string, p clusterParams) (clusterGame, error) {
	r := clusterGame{Duration: p.GameDuration, InputHz: p.InputHz}
	c, err := b.startCluster(ctx, pg, natsBin, "game", 2)
	if err != nil {
		return r, err
	}
	defer c.close()
	home, edge := c.nodes[0], c.nodes[1]
	modes, err := gameModes(ctx, home)
	if err != nil {
		return r, err
	}
	if !contains(modes, "arena") {
		return r, fmt.Errorf("%w (modes: %v)", errNoGame, modes)
	}
	direct, err := b.nodeFleet(ctx, home.Base, "", "", 1)
	if err != nil {
		return r, err
	}
	defer direct.close()
	relayed, err := b.nodeFleet(ctx, edge.Base, home.Base, "", 1)
	if err != nil {
		return r, err
	}
	defer relayed.close()
	all := joinFleets(direct, relayed) // agent 0, on the home, creates the room
	defer all.closeAll(context.Background())
	_, failed, err := addRoomBots(ctx, all, gameParams{Rooms: 1, Players: p.GamePlayers, Transports: p.Transports})
	r.JoinFailed = failed
	if err != nil {
		return r, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := all.stats(ctx, false)
		if err != nil {
			return r, err
		}
		r.Players, r.Running = st.Bots, st.BotsRunning
		if st.BotsRunning >= st.Bots || time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return r, err
		}
	}
	m0, err := home.metrics(ctx)
	if err != nil {
		return r, err
	}
	v0, err := c.nats.readVarz(ctx)
	if err != nil {
		return r, err
	}
	if _, err := all.stats(ctx, true); err != nil {
		return r, err
	}
	if err := all.inputs(ctx, p.InputHz); err != nil {
		return r, err
	}
	if err := sleepCtx(ctx, p.GameDuration); err != nil {
		return r, err
	}
	m1, err := home.metrics(ctx)
	if err != nil {
		return r, err
	}
	v1, err := c.nats.readVarz(ctx)
	if err != nil {
		return r, err
	}
	rin, err := relayed.stats(ctx, false) // the inputs forwarded during the window
	if err != nil {
		return r, err
	}
	if err := all.inputs(ctx, 0); err != nil {
		return r, err
	}
	if r.Direct, err = direct.stats(ctx, false); err != nil {
		return r, err
	}
	if r.Relay, err = relayed.stats(ctx, false); err != nil {
		return r, err
	}
	r.Relayed = r.Relay.Bots
	r.RelayedInputsPOST = rin.Inputs - rin.InputsWS
	r.NATS = v1.sub(v0)
	const tick = "comet_game_tick_seconds"
	r.Ticks = m1.Sum(tick+"_count", "mode", "arena") - m0.Sum(tick+"_count", "mode", "arena")
	r.TickP99 = bucketQuantile(m0.Buckets(tick, "mode", "arena"), m1.Buckets(tick, "mode", "arena"), 0.99)
	return r, nil
}

// runCluster measures every part of p; a part that fails is reported as an
// error row and the others still run.
func (b *bench) runCluster(ctx context.Context, p clusterParams) error {
	var errs []error
	fail := func(part string, err error) {
		errs = append(errs, fmt.Errorf("%s: %w", part, err))
		b.add(row{Scenario: part, Metric: "error", Value: err.Error(), Verdict: "NOT met"})
		b.progress("%s failed: %v", part, err)
	}
	natsBin, err := b.buildBins(ctx)
	if err != nil {
		return err
	}
	b.progress("starting PostgreSQL (internal/pgtest)")
	pg, err := pgtest.Start(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = pg.Stop() }()

	var single *singleLobby
	b.progress("single node: %d streams", p.Single)
	if s, err := b.runSingleLobby(ctx, p); err != nil {
		fail("single node", err)
	} else {
		single = &s
	}
	var raw *throughputResult
	if p.Raw && p.Messages > 0 {
		b.progress("raw writers: %d × %d sockets", p.Nodes, p.Streams/p.Nodes)
		if r, err := b.runRawFloor(ctx, p); err != nil {
			fail("raw writers", err)
		} else {
			raw = &r
		}
	}
	var lobbies []clusterLobby
	variants := []struct {
		name  string
		share float64
	}{{"direct", 0}, {"relayed", p.RelayShare}}
	for _, v := range variants {
		if v.name == "relayed" && p.RelayShare <= 0 {
			continue
		}
		b.progress("cluster %s: %d streams over %d nodes", v.name, p.Streams, p.Nodes)
		l, err := b.runClusterLobby(ctx, pg, natsBin, p, v.share, v.name)
		if err != nil {
			fail("cluster "+v.name, err)
			continue
		}
		lobbies = append(lobbies, l)
	}
	b.add(clusterLobbyRows(p, single, lobbies, raw)...)
	if single != nil {
		b.noteErrs("single node", single.Idle.Errs)
	}
	if p.GamePlayers > 0 {
		b.progress("cluster game: %d players in one room, half relayed", p.GamePlayers)
		g, err := b.runClusterGame(ctx, pg, natsBin, p)
		switch {
		case err != nil:
			fail("cluster game", err)
		default:
			b.add(clusterGameRows(g)...)
			b.noteErrs("cluster game (home)", g.Direct.Errs)
			b.noteErrs("cluster game (relayed)", g.Relay.Errs)
		}
	}
	b.report("cometbench cluster", p.describe())
	return errors.Join(errs...)
}

func (p clusterParams) describe() []string {
	d := []string{
		fmt.Sprintf("cluster: %d `comet serve` nodes, one nats-server (built from %s, JetStream on), one PostgreSQL (internal/pgtest, fsync off) for all; each node its own process (open files capped at 20,000 a process)", p.Nodes, natsModule),
		fmt.Sprintf("lobby streams: %s over the nodes (%s each, %s), opened at %.0f/s in all; settle %s, hold %s; variants: direct (every session homed where its stream is held) and relayed (%.0f%% of each node's streams homed on the next node)",
			count(int64(p.Streams)), count(int64(p.Streams/p.Nodes)), strings.Join(p.Transports, ", "), p.Rate, p.Settle, p.Hold, 100*p.RelayShare),
		fmt.Sprintf("single-node baseline: %s streams on one default node (SQLite, in-process bus), opened at %.0f/s (one node's share), same settle and hold", count(int64(p.Single)), p.Rate/float64(p.Nodes)),
	}
	if p.Messages > 0 {
		d = append(d, fmt.Sprintf("broadcast: %d lobby chat lines %s apart, said on node 1; floor: %d raw writers × %s multipart sockets, the same lines written to all at once", p.Messages, p.Spacing, p.Nodes, count(int64(p.Streams/p.Nodes))))
	}
	if p.GamePlayers > 0 {
		d = append(d, fmt.Sprintf("game: a fresh 2-node cluster, one arena room of %d bots on node 1, every bot's session homed on node 1; half hold their stream and POST inputs on node 1, half on node 2 (stream relayed from node 1, inputs forwarded to it); %g inputs/s per bot for %s", p.GamePlayers, p.InputHz, p.GameDuration))
	}
	return d
}

// clusterLobbyRows report the lobby variants beside the single node and the floor.
func clusterLobbyRows(p clusterParams, single *singleLobby, lobbies []clusterLobby, raw *throughputResult) []row {
	var rows []row
	if single != nil {
		sc := fmt.Sprintf("single node: %s streams", count(single.Idle.Added))
		rows = append(rows,
			row{sc, "streams held / open failures / lost", fmt.Sprintf("%s / %d / %d", count(single.Idle.Added), single.Idle.Failed, single.Idle.Lost), "", ""},
			row{sc, "RSS per held stream after the ramp / after the hold", fmt.Sprintf("%s / %s", kib(single.Idle.RSSRampPer), kib(single.Idle.RSSPer)), "", ""},
			row{sc, "RSS before the ramp / at the end of the hold; live heap per held stream (last GC)", fmt.Sprintf("%s / %s; %s", mib(single.Idle.RSS-single.Idle.RSSPer*float64(single.Idle.Added)), mib(single.Idle.RSS), kibOrNA(single.Idle.LivePer)), "", ""})
		if single.BC.Messages > 0 {
			rows = append(rows, bcRow(sc, single.BC))
		}
	}
	if raw != nil {
		sc := fmt.Sprintf("floor: %d raw writers, %s sockets", p.Nodes, count(raw.Held))
		rows = append(rows, row{sc, "broadcast deliveries (got / expected), p50 / p99 / max",
			fmt.Sprintf("%s / %s, %s / %s / %s", count(raw.Got), count(raw.Expected), ms(raw.Lat.Quantile(0.5)), ms(raw.Lat.Quantile(0.99)), ms(raw.Lat.Max())), "", ""})
	}
	var direct *clusterLobby
	for i, l := range lobbies {
		if l.Variant == "direct" {
			direct = &lobbies[i]
		}
		sc := fmt.Sprintf("cluster %s: %s streams over %d nodes", l.Variant, count(l.Held), len(l.Nodes))
		if l.Relayed > 0 {
			sc += fmt.Sprintf(" (%s relayed)", count(l.Relayed))
		}
		rows = append(rows, row{sc, "streams held / open failures / lost", fmt.Sprintf("%s / %d / %d (ramp %s)", count(l.Held), l.Failed, l.Lost, l.RampTook.Round(100*time.Millisecond)),
			fmt.Sprintf("≥ %s, 0, 0", count(int64(p.Streams))), verdict(l.Held >= int64(p.Streams/p.Nodes*p.Nodes) && l.Failed == 0 && l.Lost == 0)})
		worst := 0.0
		for _, n := range l.Nodes {
			rows = append(rows, row{sc, fmt.Sprintf("%s: streams held, RSS per stream after the ramp / after the hold, live heap per stream, RSS before / after, idle CPU", n.Name),
				fmt.Sprintf("%s, %s / %s, %s, %s / %s, %s", count(n.Held), kib(n.RampPer), kib(n.HoldPer), kibOrNA(n.LivePer), mib(n.BaseRSS), mib(n.RSS), pct(n.CPUPct)), "", ""})
			worst = max(worst, n.HoldPer)
		}
		rows = append(rows, row{sc, "all nodes: RSS per stream after the ramp / after the hold; live heap per stream", fmt.Sprintf("%s / %s; %s", kib(l.RampPer), kib(l.HoldPer), kibOrNA(l.LivePer)), "", ""})
		if single != nil {
			q := worst / single.Idle.RSSPer
			target, v := "", ""
			if l.Variant == "direct" {
				target, v = "≤ 1.25×", verdictIf(!math.IsNaN(q), q <= 1.25)
			}
			rows = append(rows,
				row{sc, "RSS per stream after the hold, worst node ÷ single node", fmt.Sprintf("%.2f×", q), target, v},
				row{sc, "RSS per stream after the hold, all nodes ÷ single node", fmt.Sprintf("%.2f×", l.HoldPer/single.Idle.RSSPer), "", ""},
				row{sc, "live heap per stream, all nodes ÷ single node", fmt.Sprintf("%.2f×", l.LivePer/single.Idle.LivePer), "", ""})
		}
		idleS := l.Idle.Seconds()
		rows = append(rows,
			row{sc, "NATS during the ramp: msgs in / out, bytes in / out", natsCell(l.NATSRamp), "", ""},
			row{sc, "NATS while idle: msgs in / out per second, bytes in / out per second", fmt.Sprintf("%.1f / %.1f, %s / %s", float64(l.NATSIdle.InMsgs)/idleS, float64(l.NATSIdle.OutMsgs)/idleS, bytesCell(float64(l.NATSIdle.InBytes)/idleS), bytesCell(float64(l.NATSIdle.OutBytes)/idleS)), "", ""},
			row{sc, "nats-server RSS at the end", mib(l.NATSRSS), "", ""})
		if l.BC.Messages > 0 {
			rows = append(rows, bcRow(sc, l.BC),
				row{sc, "NATS during the broadcast: msgs in / out, bytes in / out", natsCell(l.NATSBC), "", ""})
			if single != nil && single.BC.Lat.N > 0 {
				rows = append(rows, row{sc, "broadcast p99 ÷ single node's", fmt.Sprintf("%.2f", float64(l.BC.Lat.Quantile(0.99))/float64(max(single.BC.Lat.Quantile(0.99), 1))), "", ""})
			}
			if raw != nil && raw.Lat.N > 0 {
				rows = append(rows, row{sc, "broadcast p99 ÷ the raw writers'", fmt.Sprintf("%.2f", float64(l.BC.Lat.Quantile(0.99))/float64(max(raw.Lat.Quantile(0.99), 1))), "", ""})
			}
		}
		if l.Relayed > 0 && direct != nil {
			rows = append(rows, relayCostRows(sc, *direct, l)...)
		}
	}
	return rows
}

// relayCostRows put a relayed variant beside the direct one: what each
// relayed stream adds in memory and NATS traffic.
func relayCostRows(sc string, d, l clusterLobby) []row {
	n := float64(l.Relayed)
	rows := []row{{sc, "RSS added per relayed stream (all nodes, after the hold, vs direct)",
		kib((l.HoldPer*float64(l.Held) - d.HoldPer*float64(d.Held)) / n), "", ""}}
	if l.BC.Messages > 0 && d.BC.Messages > 0 {
		lines := float64(l.BC.Messages)
		bc := l.NATSBC.sub(d.NATSBC)
		rows = append(rows, row{sc, "NATS added per relayed stream per broadcast line: msgs in, bytes in (vs direct)",
			fmt.Sprintf("%.4f, %s", float64(bc.InMsgs)/n/lines, bytesCell(float64(bc.InBytes)/n/lines)), "", ""})
	}
	rows = append(rows, row{sc, "NATS added by the relayed streams while idle: msgs in per second (vs direct)",
		fmt.Sprintf("%.1f", float64(l.NATSIdle.InMsgs)/l.Idle.Seconds()-float64(d.NATSIdle.InMsgs)/d.Idle.Seconds()), "", ""})
	return rows
}

func bcRow(sc string, bc broadcastResult) row {
	lost := bc.Expected - bc.Got
	exact := lost == 0 && bc.Dups == 0 && bc.SeqDups == 0 && bc.SeqGaps == 0 && bc.Resets == 0
	return row{sc, fmt.Sprintf("broadcast of %d lines: got / expected, losses / dups / seq gaps / seq repeats, p50 / p99 / max", bc.Messages),
		fmt.Sprintf("%s / %s, %d / %d / %d / %d, %s / %s / %s", count(bc.Got), count(bc.Expected), lost, bc.Dups, bc.SeqGaps, bc.SeqDups,
			ms(bc.Lat.Quantile(0.5)), ms(bc.Lat.Quantile(0.99)), ms(bc.Lat.Max())), "exactly once", verdict(exact)}
}

func natsCell(v varz) string {
	return fmt.Sprintf("%s / %s, %s / %s", count(v.InMsgs), count(v.OutMsgs), bytesCell(float64(v.InBytes)), bytesCell(float64(v.OutBytes)))
}

// bytesCell shows a byte count in B, KiB or MiB.
func bytesCell(v float64) string {
	switch {
	case math.Abs(v) >= 1<<20:
		return mib(v)
	case math.Abs(v) >= 1<<10:
		return kib(v)
	}
	return fmt.Sprintf("%.0f B", v)
}

// clusterGameRows compare the relayed players with those on the room's node.
func clusterGameRows(g clusterGame) []row {
	sc := fmt.Sprintf("cluster game: 1 arena room, %s bots homed on node 1 (%s on node 2: stream relayed, inputs forwarded), %g inputs/s each, %s",
		count(g.Players), count(g.Relayed), g.InputHz, g.Duration.Round(time.Second))
	dp99, rp99 := g.Direct.GameLat.Quantile(0.99), g.Relay.GameLat.Quantile(0.99)
	add := rp99 - dp99
	lat := func(s agentStats) string {
		return fmt.Sprintf("%s / %s / %s (%s seen of %s; POST %s / %s)", ms(s.GameLat.Quantile(0.5)), ms(s.GameLat.Quantile(0.99)), ms(s.GameLat.Max()),
			count(s.Observed), count(s.Inputs), ms(s.PostLat.Quantile(0.5)), ms(s.PostLat.Quantile(0.99)))
	}
	rows := []row{
		{sc, "bots joined / running / join failures", fmt.Sprintf("%s / %s / %d", count(g.Players), count(g.Running), g.JoinFailed), "all running", verdict(g.Running == g.Players && g.JoinFailed == 0)},
		{sc, "on node 1 (same node): input → observed diff p50 / p99 / max", lat(g.Direct), "", ""},
		{sc, "on node 2 (relayed): input → observed diff p50 / p99 / max", lat(g.Relay), "", ""},
		{sc, "p99 relayed − same node", ms(add), "≤ 5 ms", verdictIf(g.Direct.GameLat.N > 0 && g.Relay.GameLat.N > 0, add <= 5*time.Millisecond)},
		{sc, "input errors (same node / relayed)", fmt.Sprintf("%d / %d", g.Direct.InputErrs, g.Relay.InputErrs), "0", verdict(g.Direct.InputErrs+g.Relay.InputErrs == 0)},
		{sc, "ticks, tick p99 (bucket bound)", fmt.Sprintf("%s, %s", num(g.Ticks), tickSeconds(g.TickP99)), "", ""},
		{sc, "NATS during the inputs: msgs in / out, bytes in / out", natsCell(g.NATS), "", ""},
	}
	if g.Ticks > 0 {
		relayMsgs := float64(g.NATS.InMsgs) - 2*float64(g.RelayedInputsPOST) // each forwarded input: a request and its reply
		rows = append(rows,
			row{sc, "NATS per tick: msgs in, bytes in (all)", fmt.Sprintf("%.2f, %s", float64(g.NATS.InMsgs)/g.Ticks, bytesCell(float64(g.NATS.InBytes)/g.Ticks)), "", ""},
			row{sc, "NATS per tick less the forwarded inputs (2 msgs each, " + count(g.RelayedInputsPOST) + "): msgs in", fmt.Sprintf("%.2f", relayMsgs/g.Ticks), "", ""})
	}
	return rows
}

// runClusterCmd parses the cluster scenario's flags and runs it.
func runClusterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := clusterParams{Raw: true}
	var cfg Config
	fs.IntVar(&p.Nodes, "nodes", 4, "cluster nodes")
	fs.IntVar(&p.Streams, "streams", 60000, "lobby streams over all nodes")
	fs.IntVar(&p.Single, "single", 0, "the single-node baseline's streams (default streams/nodes)")
	fs.Float64Var(&p.RelayShare, "relay-share", 0.25, "relayed variant: share of each node's streams homed on the next node (0: skip the variant)")
	fs.Float64Var(&p.Rate, "rate", 500, "streams opened per second over all nodes")
	fs.DurationVar(&p.Hold, "hold", 60*time.Second, "idle hold after the ramp")
	fs.DurationVar(&p.Settle, "settle", 5*time.Second, "wait after the ramp before the first sample")
	transports := fs.String("transports", "multipart,sse,iframe", "held transports, used in turn")
	fs.IntVar(&p.Messages, "messages", 5, "broadcast lines (0: no broadcast)")
	fs.DurationVar(&p.Spacing, "spacing", 2*time.Second, "time between broadcast lines")
	fs.IntVar(&p.GamePlayers, "game-players", 200, "bots in the cross-node room (0: no game)")
	fs.Float64Var(&p.InputHz, "input-hz", 2, "game: inputs per second per bot")
	fs.DurationVar(&p.GameDuration, "game-duration", 30*time.Second, "game: input time")
	noRaw := fs.Bool("no-raw", false, "skip the raw writers' floor")
	fs.IntVar(&cfg.PerAgent, "per-agent", 7000, "connections per client process (open files are capped at 20,000)")
	fs.StringVar(&cfg.Work, "work", "", "scratch directory (default: a new temp dir)")
	out := fs.String("out", "", "also write the report to this file")
	timeout := fs.Duration("timeout", 40*time.Minute, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	p.Raw = !*noRaw
	p.Transports = strings.Split(*transports, ",")
	for _, t := range p.Transports {
		if !validTransport(t) || t == "longpoll" {
			return fmt.Errorf("--transports: %q is not a held transport (multipart, sse, iframe, ws)", t)
		}
	}
	switch {
	case p.Nodes < 2:
		return fmt.Errorf("--nodes %d: want at least 2", p.Nodes)
	case p.Streams < p.Nodes:
		return fmt.Errorf("--streams %d: want at least one per node", p.Streams)
	case p.RelayShare < 0 || p.RelayShare > 1:
		return fmt.Errorf("--relay-share %g: want 0 to 1", p.RelayShare)
	case p.Rate <= 0 || p.Hold < 0 || p.Settle < 0 || p.Messages < 0 || (p.Messages > 0 && p.Spacing <= 0):
		return errors.New("--rate must be positive, --hold, --settle and --messages not negative, --spacing positive")
	case p.GamePlayers != 0 && (p.GamePlayers < 2 || p.GamePlayers > 1000 || p.InputHz <= 0 || p.GameDuration <= 0):
		return fmt.Errorf("--game-players %d: want 0 or 2..1000, with a positive --input-hz and --game-duration", p.GamePlayers)
	}
	if p.Single <= 0 {
		p.Single = p.Streams / p.Nodes
	}
	return runBench(ctx, cfg, *timeout, *out, stdout, stderr, func(ctx context.Context, b *bench) error { return b.runCluster(ctx, p) })
}
