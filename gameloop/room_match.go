package gameloop

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"time"

	"comet"
)

// match is one match of a room: a fresh game with its own seed.
type match struct {
	id      string
	seed    int64
	game    instance
	rec     *recorder
	started time.Time // when it began running
	ticks   int       // ticks stepped
	limit   int       // ticks until the time limit
	leavers []leaver
}

type leaver struct {
	member   *member
	standing Standing
}

// stateData is room.state.
type stateData struct {
	State   string `json:"state"`
	Match   string `json:"match"`
	Tick    uint64 `json:"tick"`
	Players int    `json:"players"`
	Min     int    `json:"min"`
	Max     int    `json:"max"`
	// LeftMs is the time to the next transition: the start (countdown), the
	// time limit (running), the next match (ended), or bots filling the room
	// (waiting, when a human is there); 0 when none is scheduled.
	LeftMs int64 `json:"left_ms"`
}

// scoresData is room.scores.
type scoresData struct {
	Top     []scoreRow `json:"top"`
	Players int        `json:"players"`
}

type scoreRow struct {
	Num   uint32 `json:"n"`
	Name  string `json:"name"`
	Score int    `json:"score"`
	Bot   bool   `json:"bot,omitempty"`
}

// ScoreboardSize is how many rows room.scores carries.
const ScoreboardSize = 10

// matchRand is the random source of a match's game: a function of the seed
// alone, so a replay draws the same numbers.
func matchRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// newMatch starts a fresh match with the current players, everyone waiting.
func (r *room) newMatch() {
	seed := r.mgr.seed()
	id := "m_" + randomID(8)
	env := Env{
		Settings: r.set, TickHz: r.set.TickHz, DT: 1 / float64(r.set.TickHz),
		Rand: matchRand(seed), Log: r.log.With("match", id),
	}
	m := &match{id: id, seed: seed, game: r.mode.start(env), limit: env.Ticks(r.set.Duration)}
	m.rec = r.mgr.newRecorder(r, m)
	r.match = m
	clear(r.renamed) // the new game is given the current names
	r.trimBots()
	for _, mb := range r.players {
		r.matchJoin(mb)
	}
	r.seatQueue()
	for _, mb := range r.viewers { // a new world: everyone starts from a snapshot
		r.pool.release(mb.base)
		mb.base = nil
	}
	r.setState(StateWaiting, r.mgr.clock.Now())
	r.scoresMsg = nil
	r.lastScores = nil
}

func (r *room) setState(s string, now time.Time) {
	r.state, r.stateAt = s, now
	r.stateDirty = true
	r.infoDirty = true
	info := r.snapshotInfo()
	r.info.Store(&info)
}

// lifecycle moves the room through waiting → countdown → running → ended →
// (next match), fills it with bots and closes it when nobody watches.
func (r *room) lifecycle(now time.Time) {
	cfg := &r.mgr.cfg
	if r.humans+r.spectators == 0 && !r.emptySince.IsZero() && now.Sub(r.emptySince) >= cfg.EmptyTimeout {
		r.close("empty")
		return
	}
	short := r.humans > 0 && len(r.players) < r.set.MinPlayers && r.state != StateEnded
	switch {
	case !short:
		r.shortSince = time.Time{}
	case r.shortSince.IsZero():
		r.shortSince = now
		r.stateDirty = r.stateDirty || r.state == StateWaiting
	case now.Sub(r.shortSince) >= cfg.BotFillDelay:
		r.addBots(r.set.MinPlayers)
		r.shortSince = time.Time{}
	}
	switch r.state {
	case StateWaiting:
		r.seatQueue()
		if len(r.players) >= r.set.MinPlayers && r.humans > 0 {
			r.setState(StateCountdown, now)
		}
	case StateCountdown:
		switch {
		case len(r.players) < r.set.MinPlayers || r.humans == 0:
			r.setState(StateWaiting, now)
		case now.Sub(r.stateAt) >= r.set.Countdown:
			r.match.started = now
			r.setState(StateRunning, now)
			r.scoresAt = time.Time{}
		}
	case StateRunning:
		if r.over || r.match.ticks >= r.match.limit {
			r.endMatch(now, false)
		}
	case StateEnded:
		if now.Sub(r.stateAt) >= r.set.Intermission {
			r.newMatch()
		}
	}
}

// endMatch ranks the players, publishes match.result and hands the result to
// storage (when a human took part), then shows the intermission.
func (r *room) endMatch(now time.Time, aborted bool) {
	m := r.match
	r.over = false
	res := r.result(now, aborted)
	m.rec.end(r.tick, aborted, m.game)
	if aborted {
		r.met.aborted.Inc()
	} else {
		r.met.finished.Inc()
	}
	if msg := r.message("match.result", res); msg != nil {
		r.publish(msg)
	}
	if slices.ContainsFunc(res.Players, func(p comet.MatchPlayer) bool { return !p.Bot }) {
		r.mgr.save(res)
	}
	r.log.Info("match ended", "match", m.id, "aborted", aborted, "players", len(res.Players), "ticks", m.ticks)
	if !aborted {
		r.setState(StateEnded, now)
	}
}

// result builds the comet.MatchResult: players present ranked by score
// (ties share a rank), then those who left during the match.
func (r *room) result(now time.Time, aborted bool) *comet.MatchResult {
	m := r.match
	st := m.game.standings()
	slices.SortStableFunc(st, func(a, b Standing) int { return cmp.Compare(b.Score, a.Score) })
	res := &comet.MatchResult{
		ID: m.id, RoomID: r.id, Mode: r.mode.Name(), Seed: m.seed,
		// UTC to the millisecond: what the stores keep and /api answers.
		Started: m.started.UTC().Truncate(time.Millisecond), Ended: now.UTC().Truncate(time.Millisecond), Aborted: aborted,
		Players: make([]comet.MatchPlayer, 0, len(st)+len(m.leavers)),
	}
	add := func(mb *member, s Standing, rank int) {
		res.Players = append(res.Players, comet.MatchPlayer{
			PlayerID: mb.p.ID, Name: mb.p.Name, Score: s.Score, Rank: rank, Bot: mb.isBot(), Stats: s.Stats,
		})
	}
	rank := 0
	for i, s := range st {
		mb := r.byNum[s.Player]
		if mb == nil {
			continue
		}
		if i == 0 || s.Score != st[i-1].Score {
			rank = len(res.Players) + 1
		}
		add(mb, s, rank)
	}
	// Those who left, best first; a player who left and came back is ranked
	// by the entry of its return, and one who left twice by its best.
	slices.SortStableFunc(m.leavers, func(a, b leaver) int { return cmp.Compare(b.standing.Score, a.standing.Score) })
	listed := make(map[string]bool, len(res.Players)+len(m.leavers))
	for _, p := range res.Players {
		listed[p.PlayerID] = true
	}
	prev := -1
	for _, l := range m.leavers {
		if listed[l.member.p.ID] {
			continue
		}
		listed[l.member.p.ID] = true
		if l.standing.Score != prev {
			rank, prev = len(res.Players)+1, l.standing.Score
		}
		s := l.standing
		s.Stats = with(s.Stats, "left", 1)
		add(l.member, s, rank)
	}
	return res
}

func with(stats map[string]int, k string, v int) map[string]int {
	out := make(map[string]int, len(stats)+1)
	for sk, sv := range stats {
		out[sk] = sv
	}
	out[k] = v
	return out
}

func (r *room) stateData(now time.Time) stateData {
	d := stateData{
		State: r.state, Tick: r.tick, Players: len(r.players),
		Min: r.set.MinPlayers, Max: r.max,
	}
	if r.match != nil {
		d.Match = r.match.id
	}
	var left time.Duration
	switch r.state {
	case StateWaiting:
		if !r.shortSince.IsZero() {
			left = r.mgr.cfg.BotFillDelay - now.Sub(r.shortSince)
		}
	case StateCountdown:
		left = r.set.Countdown - now.Sub(r.stateAt)
	case StateRunning:
		left = time.Duration(r.match.limit-r.match.ticks) * r.period
	case StateEnded:
		left = r.set.Intermission - now.Sub(r.stateAt)
	}
	d.LeftMs = max(left.Milliseconds(), 0)
	return d
}

// flush publishes what changed this tick: room.state, room.scores (at most
// once a second) and the lobby's RoomInfo.
func (r *room) flush(now time.Time) {
	if r.closed || r.isAbandoned() {
		return
	}
	if r.stateDirty {
		r.stateDirty = false
		if msg := r.message("room.state", r.stateData(now)); msg != nil {
			r.publish(msg)
		}
	}
	if r.state == StateRunning && (r.scoresAt.IsZero() || now.Sub(r.scoresAt) >= time.Second) {
		r.scoresAt = now
		r.publishScores()
	}
	if r.infoDirty {
		r.infoDirty = false
		if cb := r.mgr.cfg.OnRoomChange; cb != nil {
			cb(*r.info.Load(), false)
		}
	}
}

// publishScores sends room.scores when the top of the table changed.
func (r *room) publishScores() {
	st := r.match.game.standings()
	slices.SortStableFunc(st, func(a, b Standing) int { return cmp.Compare(b.Score, a.Score) })
	d := scoresData{Top: make([]scoreRow, 0, min(len(st), ScoreboardSize)), Players: len(r.players)}
	for _, s := range st {
		if len(d.Top) == ScoreboardSize {
			break
		}
		if mb := r.byNum[s.Player]; mb != nil {
			d.Top = append(d.Top, scoreRow{Num: s.Player, Name: mb.p.Name, Score: s.Score, Bot: mb.isBot()})
		}
	}
	raw, err := json.Marshal(d)
	if err != nil || bytes.Equal(raw, r.lastScores) {
		return
	}
	r.lastScores = raw
	if msg := r.rawMessage("room.scores", raw); msg != nil {
		r.scoresMsg = msg
		r.publish(msg)
	}
}

// saveTimeout bounds one SaveMatch call.
const saveTimeout = 10 * time.Second
