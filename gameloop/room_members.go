package gameloop

import (
	"fmt"
	"slices"
	"time"

	"comet"
)

// Participant is a player (or spectator) seen by the engine. Sink is that
// player's session; the engine never blocks on it. A participant whose ID
// starts "bot-" is played by the mode's bot; if it also has a Sink it
// receives the stream like a browser (load tests, watching a bot).
type Participant struct {
	ID   string // player id; server-side bots use ids starting "bot-"
	Name string
	Sink comet.Sink
}

// RoomInfo is a room as listed in the lobby.
type RoomInfo struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Mode       string `json:"mode"`
	Players    int    `json:"players"` // bots included
	Bots       int    `json:"-"`       // of Players; not in the lobby JSON yet (the lead decides)
	Max        int    `json:"max"`
	Spectators int    `json:"spectators"`       // queued players included
	Queued     int    `json:"queued,omitempty"` // of Spectators: waiting for a seat
	State      string `json:"state"`            // "waiting" | "running" | "ended"
	Private    bool   `json:"private"`
	Code       string `json:"-"` // join code of a private room, shown only to its creator via room.joined
	Creator    string `json:"-"` // the participant who created it ("" for quick play): a private room is listed to them alone
}

// joinedData is room.joined.
type joinedData struct {
	Room      string   `json:"room"`
	Name      string   `json:"name"`
	Mode      string   `json:"mode"`
	You       uint32   `json:"you"`
	Spectator bool     `json:"spectator"`
	Queued    bool     `json:"queued,omitempty"` // a spectator waiting for a seat at the next match
	TickHz    int      `json:"tick_hz"`
	Max       int      `json:"max"`
	Private   bool     `json:"private"`
	Code      string   `json:"code,omitempty"`
	Kinds     []Kind   `json:"kinds"`
	Rules     rulesDoc `json:"rules"`
}

type rulesDoc struct {
	MinPlayers     int   `json:"min_players"`
	DurationMs     int64 `json:"duration_ms"`
	ScoreLimit     int   `json:"score_limit,omitempty"`
	CountdownMs    int64 `json:"countdown_ms"`
	IntermissionMs int64 `json:"intermission_ms"`
}

type leftData struct {
	Room string `json:"room"`
}

type closedData struct {
	Room   string `json:"room"`
	Reason string `json:"reason"`
}

// join adds p as a player (spectator false) or spectator, on the room
// goroutine.
func (r *room) join(p Participant, spectator bool) error {
	if r.closed {
		return errRoomGone
	}
	delete(r.holds, p.ID) // its seat, if held, is the one checked below
	old := r.members[p.ID]
	if old != nil && old.queued {
		if spectator { // from the queue to plain watching
			r.unqueue(old)
		}
		r.rebind(old, p)
		return nil
	}
	if old != nil && (old.num == 0) == spectator {
		r.rebind(old, p) // the same join again, maybe from a new session
		return nil
	}
	queued := false
	if !spectator {
		var err error
		if queued, err = r.seatFor(p.ID, p.Name); err != nil {
			return err // before leaving old: a refused switch keeps the spectator
		}
	}
	if old != nil {
		r.leave(old, false) // switching between playing and watching
	}
	if !r.mgr.claim(p.ID, r, spectator || queued, p.Sink) {
		return comet.Errorf(comet.ECONFLICT, "already in another room")
	}
	if !spectator && !queued && len(r.players)+r.heldSeats() >= r.max {
		r.dropBot() // a human takes a server bot's place (seatFor saw one)
	}
	mb := &member{p: p, queued: queued}
	r.members[p.ID] = mb
	if spectator || queued {
		r.spectators++
		r.met.spectators.Inc()
		if queued {
			r.queued = append(r.queued, mb)
		}
	} else {
		if err := r.addPlayer(mb); err != nil {
			delete(r.members, p.ID)
			r.mgr.unclaim(p.ID, r)
			return err
		}
	}
	if p.Sink != nil {
		r.viewers = append(r.viewers, mb)
		mb.sub = r.mgr.cfg.Bus.Subscribe(comet.RoomTopic(r.id), p.Sink)
		r.mgr.bindSeat(p.ID, r, p.Sink, mb.sub)
		r.welcome(mb)
	}
	if r.humans+r.spectators > 0 {
		r.emptySince = time.Time{}
	}
	r.changed()
	r.log.Debug("joined", "player", p.ID, "spectator", spectator)
	return nil
}

// freeSeats counts the player seats free for id, net of the seats held for
// others: a human may take a server bot's seat, a bot not.
func (r *room) freeSeats(id string) int {
	taken := len(r.players) + r.heldSeats()
	if !isBotID(id) {
		for _, mb := range r.players {
			if mb.isServerBot() {
				taken--
			}
		}
	}
	return r.max - taken
}

// heldSeats counts the seats held for players on their way (not the queue).
func (r *room) heldSeats() int {
	n := 0
	for _, queued := range r.holds {
		if !queued {
			n++
		}
	}
	return n
}

// seatFor decides a player's join: seated now (false), queued for the next
// match (true), or refused (ECONFLICT: full, or the mode's reason). The room
// never seats more than its capacity whatever the mode answers.
func (r *room) seatFor(id, name string) (queued bool, err error) {
	free := r.freeSeats(id)
	s := r.match.game.seating(JoinAttempt{
		Player:  Player{ID: id, Name: name, Bot: isBotID(id)},
		Running: r.state == StateRunning, Players: len(r.players), Free: max(free, 0),
	})
	switch {
	case s.Refuse != "":
		return false, comet.Errorf(comet.ECONFLICT, "room %s: %s", r.name, s.Refuse)
	case s.Queue:
		return true, nil
	case free <= 0:
		return false, comet.Errorf(comet.ECONFLICT, "room %s is full", r.name)
	case int(r.nextNum)+r.heldSeats() >= MaxPlayerNum-1:
		return false, comet.Errorf(comet.ECONFLICT, "room %s has seen too many players; create a new one", r.name)
	}
	return false, nil
}

// hold admits a player before it leaves its current room: a player seat is
// kept for it until its join (or unhold), so the join cannot then be refused
// for want of space; a queued player holds no seat. Watching needs no seat; a
// member already playing or queued has what it needs.
func (r *room) hold(id, name string, spectator bool) error {
	if r.closed {
		return errRoomGone
	}
	delete(r.holds, id)
	if mb := r.members[id]; spectator || (mb != nil && (mb.num != 0 || mb.queued)) {
		return nil
	}
	queued, err := r.seatFor(id, name)
	if err != nil {
		return err
	}
	if r.holds == nil {
		r.holds = make(map[string]bool)
	}
	r.holds[id] = queued
	return nil
}

// unqueue takes a queued member out of the queue; it stays as a spectator.
func (r *room) unqueue(mb *member) {
	mb.queued = false
	r.queued = slices.DeleteFunc(r.queued, func(x *member) bool { return x == mb })
}

// seatQueue seats queued members in arrival order while seats are free (a
// server bot yields its seat): at a new match and while the room waits.
func (r *room) seatQueue() {
	for len(r.queued) > 0 {
		mb := r.queued[0]
		if len(r.players)+r.heldSeats() >= r.max && !r.dropBot() {
			return
		}
		r.unqueue(mb)
		r.spectators--
		r.met.spectators.Dec()
		r.mgr.setRole(mb.p.ID, r, false)
		if err := r.addPlayer(mb); err != nil {
			r.log.Warn("cannot seat a queued player", "player", mb.p.ID, "err", err)
			r.spectators++
			r.met.spectators.Inc()
			r.mgr.setRole(mb.p.ID, r, true)
			return
		}
		if mb.p.Sink != nil {
			r.greet(mb) // now a player: its number in room.joined; output sends the snapshot
			r.pool.release(mb.base)
			mb.base = nil
		}
		r.changed()
	}
}

// unhold gives up a seat held for id whose join will not come.
func (r *room) unhold(id string) { delete(r.holds, id) }

// rename shows member id under name from now on: in results and scores at
// once, in entity labels from the next render (the game still has the old
// name until the next match rejoins everyone).
func (r *room) rename(id, name string) {
	mb := r.members[id]
	if mb == nil || mb.p.Name == name {
		return
	}
	mb.p.Name = name
	if mb.num != 0 {
		if r.renamed == nil {
			r.renamed = make(map[uint32]string)
		}
		r.renamed[mb.num] = name
	}
	r.log.Debug("renamed", "player", id)
}

// addPlayer numbers mb, puts it into the match and lets its inputs in.
func (r *room) addPlayer(mb *member) error {
	if r.nextNum >= MaxPlayerNum-1 {
		return comet.Errorf(comet.ECONFLICT, "room %s has seen too many players; create a new one", r.name)
	}
	r.nextNum++
	mb.num = r.nextNum
	r.byNum[mb.num] = mb
	r.players = append(r.players, mb)
	if mb.isBot() {
		r.bots++
		r.met.bots.Inc()
		if mb.p.Sink == nil {
			r.botsN.Add(1)
		}
	} else {
		r.humans++
		r.met.humans.Inc()
	}
	r.matchJoin(mb)
	r.queue.admit(mb.p.ID, mb.num)
	return nil
}

// matchJoin puts a player into the current match's game (and its bot brain).
func (r *room) matchJoin(mb *member) {
	pl := Player{Num: mb.num, ID: mb.p.ID, Name: mb.p.Name, Bot: mb.isBot()}
	r.match.game.join(pl)
	r.match.rec.join(r.tick, pl)
	mb.bot = nil
	if pl.Bot {
		mb.bot = r.match.game.newBot(pl, botRand(r.match.seed, mb.num))
	}
}

// leave removes mb; notify sends it room.left (not when the room closes).
func (r *room) leave(mb *member, notify bool) {
	delete(r.members, mb.p.ID)
	r.mgr.unclaim(mb.p.ID, r)
	if mb.num != 0 {
		r.queue.forget(mb.p.ID)
		r.matchLeave(mb)
		delete(r.byNum, mb.num)
		delete(r.renamed, mb.num)
		r.players = slices.DeleteFunc(r.players, func(x *member) bool { return x == mb })
		if mb.isBot() {
			r.bots--
			r.met.bots.Dec()
			if mb.p.Sink == nil {
				r.botsN.Add(-1)
			}
		} else {
			r.humans--
			r.met.humans.Dec()
		}
	} else {
		r.spectators--
		r.met.spectators.Dec()
		if mb.queued {
			r.unqueue(mb)
		}
	}
	if mb.p.Sink != nil {
		r.viewers = slices.DeleteFunc(r.viewers, func(x *member) bool { return x == mb })
		if mb.sub != nil {
			mb.sub.Close()
		}
		r.pool.release(mb.base)
		mb.base = nil
		if notify {
			if m := r.message("room.left", leftData{Room: r.id}); m != nil {
				r.sendTo(mb, m)
			}
		}
	}
	if r.humans+r.spectators == 0 && r.emptySince.IsZero() {
		r.emptySince = r.mgr.clock.Now()
	}
	r.changed()
	r.log.Debug("left", "player", mb.p.ID)
}

// matchLeave takes a player out of the match, keeping its standing for the
// results if the match is running; a server bot replaced by a human keeps
// its score too, marked "replaced".
func (r *room) matchLeave(mb *member) {
	m := r.match
	if r.state == StateRunning {
		for _, s := range m.game.standings() {
			if s.Player == mb.num {
				if mb.isServerBot() {
					s.Stats = with(s.Stats, "replaced", 1)
				}
				m.leavers = append(m.leavers, leaver{member: mb, standing: s})
				break
			}
		}
	}
	m.game.leave(mb.num)
	m.rec.leave(r.tick, mb.num)
	mb.bot = nil
}

func (r *room) hasServerBot() bool {
	return slices.ContainsFunc(r.players, (*member).isServerBot)
}

// dropBot removes the most recently added server bot to make room for a human.
func (r *room) dropBot() bool {
	for i := len(r.players) - 1; i >= 0; i-- {
		if mb := r.players[i]; mb.isServerBot() {
			r.leave(mb, false)
			return true
		}
	}
	return false
}

// addBots adds server bots until the room has n players.
func (r *room) addBots(n int) {
	for len(r.players) < n && len(r.players) < r.max {
		num := r.nextNum + 1
		name := botNames[int(num)%len(botNames)]
		p := Participant{ID: fmt.Sprintf("bot-%s-%d", r.id, num), Name: "Bot " + name}
		mb := &member{p: p}
		if err := r.addPlayer(mb); err != nil {
			r.log.Warn("cannot add bot", "err", err)
			return
		}
		r.members[p.ID] = mb
		r.changed()
	}
}

// trimBots drops server bots beyond what the room needs: MinPlayers in all.
func (r *room) trimBots() {
	for len(r.players) > r.set.MinPlayers && r.dropBot() {
	}
}

var botNames = []string{"Ada", "Bit", "Cog", "Dot", "Echo", "Flux", "Gear", "Hex", "Ion", "Jolt", "Kilo", "Lux", "Mux", "Nano", "Ohm", "Pixel", "Quark", "Rivet", "Servo", "Tesla", "Unit", "Volt", "Watt", "Xor", "Yotta", "Zed"}

// welcome sends a new (or reset) viewer everything it needs, in order:
// room.joined, room.state, room.scores, then a snapshot of its view.
func (r *room) welcome(mb *member) {
	r.greet(mb)
	r.sendSnapshot(mb)
}

// greet sends room.joined, room.state and room.scores: a viewer's fresh start
// before its snapshot.
func (r *room) greet(mb *member) {
	d := joinedData{
		Room: r.id, Name: r.name, Mode: r.mode.Name(), You: mb.num, Spectator: mb.num == 0, Queued: mb.queued,
		TickHz: r.set.TickHz, Max: r.max, Private: r.private, Kinds: r.mode.Kinds(),
		Rules: rulesDoc{
			MinPlayers: r.set.MinPlayers, DurationMs: r.set.Duration.Milliseconds(), ScoreLimit: r.set.ScoreLimit,
			CountdownMs: r.set.Countdown.Milliseconds(), IntermissionMs: r.set.Intermission.Milliseconds(),
		},
	}
	if mb.p.ID == r.creator {
		d.Code = r.code
	}
	for _, m := range []*comet.Message{
		r.message("room.joined", d),
		r.message("room.state", r.stateData(r.mgr.clock.Now())),
		r.scoresMsg,
	} {
		if m != nil {
			r.sendTo(mb, m)
		}
	}
}

// rebind points a member at a new session (a reloaded tab joins again) and
// starts its stream over.
func (r *room) rebind(mb *member, p Participant) {
	if p.Name != "" {
		r.rename(mb.p.ID, p.Name) // a reloaded tab may bring a name changed meanwhile
	}
	if mb.p.Sink != p.Sink {
		if mb.sub != nil {
			mb.sub.Close()
			mb.sub = nil
		}
		if mb.p.Sink == nil {
			r.viewers = append(r.viewers, mb)
		}
		mb.p.Sink = p.Sink
		if p.Sink == nil {
			r.mgr.bindSeat(mb.p.ID, r, nil, nil)
			r.viewers = slices.DeleteFunc(r.viewers, func(x *member) bool { return x == mb })
			r.pool.release(mb.base)
			mb.base = nil
			return
		}
		mb.sub = r.mgr.cfg.Bus.Subscribe(comet.RoomTopic(r.id), p.Sink)
		r.mgr.bindSeat(mb.p.ID, r, p.Sink, mb.sub)
	}
	r.resync(mb)
}

// resync starts a viewer over: room.joined, state and a fresh snapshot.
func (r *room) resync(mb *member) {
	if mb.p.Sink == nil {
		return
	}
	r.welcome(mb)
}

// changed marks RoomInfo (and the waiting room's state) for publication at
// the end of the tick; the snapshot in r.info is updated at once.
func (r *room) changed() {
	info := r.snapshotInfo()
	r.info.Store(&info)
	r.infoDirty = true
	if r.state == StateWaiting || r.state == StateCountdown {
		r.stateDirty = true
	}
}

func (r *room) snapshotInfo() RoomInfo {
	state := r.state
	if state == StateCountdown {
		state = StateWaiting
	}
	return RoomInfo{
		ID: r.id, Name: r.name, Mode: r.mode.Name(), Players: len(r.players), Bots: r.bots, Max: r.max,
		Spectators: r.spectators, Queued: len(r.queued), State: state, Private: r.private, Code: r.code,
		Creator: r.creator,
	}
}
