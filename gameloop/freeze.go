package gameloop

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"comet"
)

// A graceful restart hands every room to the next process (issue 13):
// Freeze stops each room between two ticks and returns what it takes to go
// on, Thaw rebuilds it in the successor and resumes ticking at the same tick.
//
// The game itself is restored by replaying its match log — the recording
// Replay reads, which every room now keeps in memory — from the seed, not
// from a per-mode snapshot: modes are deterministic and already replay bit
// for bit, so no mode has to write or version a serializer, and the digest
// of the replayed world, compared with the one taken at the freeze, proves
// the restored match is the same one. The bots' brains are restored the same
// way: they think again after every replayed step, as the room made them.
// Everything around the game (members, seats, lifecycle timers in ticks,
// leavers, renames, queued inputs) is plain data in SavedRoom.

// SavedRoomFormat is the version of SavedRoom this build writes and reads;
// Thaw refuses any other.
const SavedRoomFormat = 1

// SavedRoom is a frozen room: everything Thaw needs to continue it from the
// tick it stopped at. It is JSON-serializable.
type SavedRoom struct {
	Format   int      `json:"format"`
	ID       string   `json:"id"`
	Mode     string   `json:"mode"`
	Name     string   `json:"name"`
	Max      int      `json:"max"`
	Private  bool     `json:"private,omitempty"`
	Code     string   `json:"code,omitempty"`
	Creator  string   `json:"creator,omitempty"`
	Settings Settings `json:"settings"` // the room's own (its capacity applied)
	State    string   `json:"state"`    // StateWaiting, StateCountdown, StateRunning or StateEnded
	Tick     uint64   `json:"tick"`
	NextNum  uint32   `json:"next_num"` // the last player number given
	// Timers, in ticks elapsed at the freeze: since the state began, since
	// the room has been short of players and since it has had no human (nil:
	// not running).
	StateTicks int64         `json:"state_ticks"`
	ShortTicks *int64        `json:"short_ticks,omitempty"`
	EmptyTicks *int64        `json:"empty_ticks,omitempty"`
	Match      SavedMatch    `json:"match"`
	Members    []SavedMember `json:"members"` // players in seat order, then the queue in arrival order, then spectators
	// Pending are the inputs queued for the next tick, in arrival order: a
	// freeze keeps them, so the thawed room's next tick applies them as the
	// next tick would have.
	Pending []SavedInput `json:"pending,omitempty"`
}

// SavedMatch is the room's current match: its identity, its log up to the
// frozen tick and the digest of the game there.
type SavedMatch struct {
	ID      string            `json:"id"`
	Seed    int64             `json:"seed"`
	Started time.Time         `json:"started,omitzero"`
	Ticks   int               `json:"ticks"`  // stepped
	Digest  string            `json:"digest"` // of the game at the frozen tick (see Replay)
	Log     []byte            `json:"log"`    // the recording so far, header first (JSON lines, see Replay)
	Leavers []SavedLeaver     `json:"leavers,omitempty"`
	Renamed map[uint32]string `json:"renamed,omitempty"` // labels of players renamed during the match
}

// SavedLeaver is a player who left the running match, kept for its result.
type SavedLeaver struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Standing Standing `json:"standing"`
}

// Member roles of SavedMember.
const (
	RolePlayer    = "player"
	RoleQueued    = "queued" // waits for a seat, watching
	RoleSpectator = "spectator"
)

// SavedMember is one member of a frozen room. Session tells a participant
// that had a sink from a server bot, which Thaw restores without one.
type SavedMember struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Num     uint32 `json:"num,omitempty"` // players only
	Role    string `json:"role"`
	Session bool   `json:"session,omitempty"`
}

// SavedInput is one input queued for the next tick: the player's number and
// the JSON it sent.
type SavedInput struct {
	Num   uint32          `json:"n"`
	Input json.RawMessage `json:"in"`
}

// errNotFrozen: Freeze gave up on a room before its goroutine took the
// freeze; the room keeps running.
var errNotFrozen = errors.New("not frozen")

// Freeze stops every room between two ticks, telling nobody and saving no
// match, and returns them sorted by id; afterwards the manager opens no room.
// A room it cannot freeze (ctx ended, a log too long) keeps running, is named
// in the error, and is closed by Shutdown as usual.
func (m *Manager) Freeze(ctx context.Context) ([]SavedRoom, error) {
	m.mu.Lock()
	m.closing = true
	rooms := make([]*room, 0, len(m.byID))
	for _, r := range m.byID {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	slices.SortFunc(rooms, func(a, b *room) int { return cmp.Compare(a.id, b.id) })

	type result struct {
		sv  SavedRoom
		err error
	}
	results := make([]chan result, len(rooms))
	decided := make([]atomic.Bool, len(rooms)) // the room took the freeze, or Freeze gave up on it
	for i, r := range rooms {
		results[i] = make(chan result, 1)
		fn := func() {
			if !decided[i].CompareAndSwap(false, true) {
				return
			}
			sv, err := r.freeze()
			results[i] <- result{sv, err}
		}
		select { // every room is asked first, so they freeze in parallel
		case r.ctrl <- fn:
		case <-r.done:
			results[i] <- result{err: errRoomGone}
		case <-ctx.Done():
		}
	}
	saved := make([]SavedRoom, 0, len(rooms))
	var errs []error
	for i, r := range rooms {
		var res result
		select {
		case res = <-results[i]:
		case <-r.done:
			select {
			case res = <-results[i]:
			default:
				res.err = errRoomGone
			}
		case <-ctx.Done():
			if decided[i].CompareAndSwap(false, true) {
				res.err = fmt.Errorf("%w: %w", errNotFrozen, ctx.Err())
			} else { // the room is freezing right now
				select {
				case res = <-results[i]:
				case <-r.done:
					res.err = errRoomGone
				}
			}
		}
		if res.err != nil {
			if !errors.Is(res.err, errRoomGone) {
				errs = append(errs, fmt.Errorf("freeze room %s: %w", r.id, res.err))
			}
			continue
		}
		saved = append(saved, res.sv)
	}
	return saved, errors.Join(errs...)
}

// freeze saves the room and takes it out of play without a word to anyone,
// on the room goroutine, between two ticks. Inputs queued for the next tick
// are kept; later ones are refused (the players are no longer admitted).
func (r *room) freeze() (SavedRoom, error) {
	if r.closed || r.isAbandoned() {
		return SavedRoom{}, errRoomGone
	}
	m := r.match
	if m.rec == nil || m.rec.memFull {
		return SavedRoom{}, fmt.Errorf("match %s: its log outgrew %d bytes", m.id, maxLog)
	}
	now := r.mgr.clock.Now()
	sv := SavedRoom{
		Format: SavedRoomFormat, ID: r.id, Mode: r.mode.Name(), Name: r.name, Max: r.max,
		Private: r.private, Code: r.code, Creator: r.creator, Settings: r.set,
		State: r.state, Tick: r.tick, NextNum: r.nextNum,
		StateTicks: r.ticksSince(r.stateAt, now),
		ShortTicks: r.timer(r.shortSince, now), EmptyTicks: r.timer(r.emptySince, now),
		Match: SavedMatch{
			ID: m.id, Seed: m.seed, Started: m.started, Ticks: m.ticks,
			Digest: digestOf(m.game), Log: m.rec.mem,
		},
	}
	if len(r.renamed) > 0 {
		sv.Match.Renamed = make(map[uint32]string, len(r.renamed))
		for n, name := range r.renamed {
			sv.Match.Renamed[n] = name
		}
	}
	for _, l := range m.leavers {
		sv.Match.Leavers = append(sv.Match.Leavers, SavedLeaver{ID: l.member.p.ID, Name: l.member.p.Name, Standing: l.standing})
	}
	saveMember := func(mb *member, role string) {
		sv.Members = append(sv.Members, SavedMember{ID: mb.p.ID, Name: mb.p.Name, Num: mb.num, Role: role, Session: mb.p.Sink != nil})
	}
	for _, mb := range r.players {
		saveMember(mb, RolePlayer)
	}
	for _, mb := range r.queued {
		saveMember(mb, RoleQueued)
	}
	var watchers []*member
	for _, mb := range r.members {
		if mb.num == 0 && !mb.queued {
			watchers = append(watchers, mb)
		}
	}
	slices.SortFunc(watchers, func(a, b *member) int { return cmp.Compare(a.p.ID, b.p.ID) })
	for _, mb := range watchers {
		saveMember(mb, RoleSpectator)
	}

	for _, mb := range r.players { // no input gets in after the drain below
		r.queue.forget(mb.p.ID)
	}
	var cb bytes.Buffer
	for _, q := range r.queue.drain(nil) {
		cb.Reset()
		if err := json.Compact(&cb, q.raw); err != nil {
			r.log.Warn("queued input dropped at the freeze", "player", q.num, "err", err)
			continue
		}
		sv.Pending = append(sv.Pending, SavedInput{Num: q.num, Input: bytes.Clone(cb.Bytes())})
	}

	r.closed = true
	m.rec.close() // the file, if any, ends without an end line: the match goes on elsewhere
	r.mgr.roomFrozen(r)
	for _, mb := range r.viewers {
		if mb.sub != nil {
			mb.sub.Close()
		}
	}
	for _, mb := range r.members {
		r.pool.release(mb.base)
		mb.base = nil
	}
	r.met.humans.Sub(float64(r.humans))
	r.met.bots.Sub(float64(r.bots))
	r.met.spectators.Sub(float64(r.spectators))
	r.met.rooms.Dec()
	r.log.Info("room frozen", "tick", r.tick, "state", r.state, "match", m.id, "members", len(sv.Members), "log_bytes", len(sv.Match.Log))
	return sv, nil
}

// ticksSince is the whole ticks elapsed from t to now.
func (r *room) ticksSince(t, now time.Time) int64 {
	if t.IsZero() || !now.After(t) {
		return 0
	}
	return int64(now.Sub(t) / r.period)
}

// timer is ticksSince for a timer that may not run (zero t: nil).
func (r *room) timer(t, now time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := r.ticksSince(t, now)
	return &n
}

// roomFrozen forgets a frozen room and unseats its members, without OnLeave:
// they stay in it, in the successor.
func (m *Manager) roomFrozen(r *room) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked(r)
	for id := range r.members {
		if s, ok := m.where[id]; ok && s.room == r {
			delete(m.where, id)
		}
	}
}

// Thaw recreates rooms a predecessor froze and resumes each at its tick,
// seating every member but a server bot with sinkFor(its id) (nil: removed as
// a leave) and sending it room.joined, room.state and a snapshot. A room it
// cannot restore (format, mode, a log that does not replay to the saved
// digest, an id or code taken) is refused whole, its members told
// room.closed {"reason":"restart"} and the error naming it; the rest go on.
func (m *Manager) Thaw(ctx context.Context, saved []SavedRoom, sinkFor func(participantID string) comet.Sink) error {
	built := make([]*room, len(saved))
	errs := make([]error, len(saved))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(saved)) { // replaying is the cost: every core
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(saved); i = int(next.Add(1) - 1) {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				built[i], errs[i] = m.rebuild(ctx, &saved[i])
			}
		})
	}
	wg.Wait()
	var failed []error
	for i := range saved {
		if errs[i] == nil {
			errs[i] = m.resume(built[i], &saved[i], sinkFor)
		}
		if errs[i] != nil {
			err := fmt.Errorf("thaw room %s: %w", saved[i].ID, errs[i])
			m.log.Error("room not restored: its members are told it closed", "room", saved[i].ID, "mode", saved[i].Mode, "err", errs[i])
			m.refuse(&saved[i], sinkFor)
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// rebuild builds a saved room off line: its game replayed from the log and
// checked against the saved digest, its members without sinks. Nothing is
// registered yet.
func (m *Manager) rebuild(ctx context.Context, sv *SavedRoom) (*room, error) {
	if sv.Format != SavedRoomFormat {
		return nil, fmt.Errorf("format %d, this build reads %d", sv.Format, SavedRoomFormat)
	}
	md := m.modes[sv.Mode]
	if md == nil {
		return nil, fmt.Errorf("unknown mode %q", sv.Mode)
	}
	switch sv.State {
	case StateWaiting, StateCountdown, StateRunning, StateEnded:
	default:
		return nil, fmt.Errorf("unknown state %q", sv.State)
	}
	if sv.Max < 1 || sv.Max > sv.Settings.MaxPlayers || sv.NextNum >= MaxPlayerNum-1 {
		return nil, fmt.Errorf("capacity %d of %d, or player number %d, out of range", sv.Max, sv.Settings.MaxPlayers, sv.NextNum)
	}
	sc := bufio.NewScanner(bytes.NewReader(sv.Match.Log))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("match %s: empty log", sv.Match.ID)
	}
	var h RecordingHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		return nil, fmt.Errorf("match %s: log header: %w", sv.Match.ID, err)
	}
	if h.Room != sv.ID || h.Match != sv.Match.ID || h.Mode != sv.Mode || h.Seed != sv.Match.Seed || h.Settings != sv.Settings {
		return nil, fmt.Errorf("match %s: the log's header is of another room or match", sv.Match.ID)
	}
	rp, err := newReplayer(md, h, true)
	if err != nil {
		return nil, fmt.Errorf("match %s: %w", sv.Match.ID, err)
	}
	for n := 2; sc.Scan(); n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("match %s: %w", sv.Match.ID, err)
			}
		}
		if err := rp.apply(n, sc.Bytes()); err != nil {
			return nil, fmt.Errorf("match %s: replay: %w", sv.Match.ID, err)
		}
		if rp.ended && rp.recorded != "" {
			if d := digestOf(rp.g); d != rp.recorded {
				return nil, fmt.Errorf("match %s: end digest %s, recorded %s: %w", sv.Match.ID, d, rp.recorded, ErrDiverged)
			}
			rp.recorded = ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("match %s: read log: %w", sv.Match.ID, err)
	}
	if d := digestOf(rp.g); d != sv.Match.Digest {
		return nil, fmt.Errorf("match %s: replayed digest %s, saved %s: %w", sv.Match.ID, d, sv.Match.Digest, ErrDiverged)
	}
	if rp.steps != sv.Match.Ticks {
		return nil, fmt.Errorf("match %s: %d ticks replayed, %d saved: %w", sv.Match.ID, rp.steps, sv.Match.Ticks, ErrDiverged)
	}

	set := sv.Settings
	r := &room{
		id: sv.ID, name: sv.Name, code: sv.Code, creator: sv.Creator, private: sv.Private,
		mode: md, set: set, max: sv.Max, period: time.Second / time.Duration(set.TickHz),
		mgr: m, met: m.met.forMode(sv.Mode), queue: newInputQueue(),
		ctrl: make(chan func(), 64), done: make(chan struct{}), exited: make(chan struct{}),
		members: make(map[string]*member), byNum: make(map[uint32]*member),
		tick: sv.Tick, nextNum: sv.NextNum, state: sv.State,
	}
	r.log = m.log.With("room", r.id, "mode", sv.Mode)
	r.match = &match{
		id: sv.Match.ID, seed: sv.Match.Seed, game: rp.g, rec: m.resumeRecorder(r, sv),
		started: sv.Match.Started, ticks: sv.Match.Ticks, limit: rp.limit,
	}
	for _, l := range sv.Match.Leavers {
		r.match.leavers = append(r.match.leavers, leaver{member: &member{p: Participant{ID: l.ID, Name: l.Name}}, standing: l.Standing})
	}
	if len(sv.Match.Renamed) > 0 {
		r.renamed = sv.Match.Renamed
	}
	var nums []uint32
	for _, s := range sv.Members {
		if s.ID == "" || r.members[s.ID] != nil {
			return nil, fmt.Errorf("member %q missing or repeated", s.ID)
		}
		mb := &member{p: Participant{ID: s.ID, Name: s.Name}}
		switch s.Role {
		case RolePlayer:
			if s.Num == 0 || s.Num > sv.NextNum || r.byNum[s.Num] != nil {
				return nil, fmt.Errorf("player %s: number %d taken or out of range", s.ID, s.Num)
			}
			mb.num = s.Num
			r.byNum[mb.num] = mb
			r.players = append(r.players, mb)
			nums = append(nums, mb.num)
			if mb.isBot() {
				r.bots++
				mb.bot = rp.bots[mb.num]
				if !s.Session {
					r.botsN.Add(1)
				}
			} else {
				r.humans++
			}
			r.queue.admit(mb.p.ID, mb.num)
		case RoleQueued:
			mb.queued = true
			r.queued = append(r.queued, mb)
			r.spectators++
		case RoleSpectator:
			r.spectators++
		default:
			return nil, fmt.Errorf("member %s: unknown role %q", s.ID, s.Role)
		}
		r.members[s.ID] = mb
	}
	if !slices.Equal(nums, rp.order) {
		return nil, fmt.Errorf("match %s: players %v, the log has %v: %w", sv.Match.ID, nums, rp.order, ErrDiverged)
	}
	for _, in := range sv.Pending {
		if r.byNum[in.Num] == nil {
			continue // its player left at the freeze; the room would have dropped it too
		}
		dec, err := md.decode(in.Input)
		if err != nil {
			return nil, fmt.Errorf("queued input of player %d: %w", in.Num, err)
		}
		r.queue.pending = append(r.queue.pending, queued{num: in.Num, in: dec, raw: in.Input})
		r.queue.counts[in.Num]++
	}
	now := m.clock.Now()
	r.stateAt = now.Add(-time.Duration(sv.StateTicks) * r.period)
	if sv.ShortTicks != nil {
		r.shortSince = now.Add(-time.Duration(*sv.ShortTicks) * r.period)
	}
	if sv.EmptyTicks != nil {
		r.emptySince = now.Add(-time.Duration(*sv.EmptyTicks) * r.period)
	}
	if r.state == StateRunning || r.state == StateEnded {
		r.publishScores() // no viewer yet: it only prepares room.scores for the welcomes
	}
	info := r.snapshotInfo()
	r.info.Store(&info)
	return r, nil
}

// resumeRecorder continues a thawed match's recording: in memory from the
// saved log, and to RecordTo's writer (the log so far first) when configured.
func (m *Manager) resumeRecorder(r *room, sv *SavedRoom) *recorder {
	rec := &recorder{log: r.log, mem: sv.Match.Log}
	if m.cfg.RecordTo == nil {
		return rec
	}
	w, err := m.cfg.RecordTo(r.id, sv.Match.ID)
	switch {
	case err != nil:
		r.log.Error("open match recording", "match", sv.Match.ID, "err", err)
		return rec
	case w == nil: // no file (the server's RecordTo when not recording): memory only
		return rec
	}
	rec.w, rec.bw = w, bufio.NewWriterSize(w, 64<<10)
	if _, err := rec.bw.Write(sv.Match.Log); err != nil {
		rec.fail(fmt.Errorf("write recording: %w", err))
	}
	return rec
}

// resume registers a rebuilt room, seats its members with their sinks (or
// removes them), welcomes every viewer and starts its goroutine.
func (m *Manager) resume(r *room, sv *SavedRoom, sinkFor func(string) comet.Sink) error {
	m.mu.Lock()
	switch {
	case m.closing:
		m.mu.Unlock()
		return comet.Errorf(comet.ECONFLICT, "server is shutting down")
	case m.byID[r.id] != nil:
		m.mu.Unlock()
		return fmt.Errorf("room id %s is taken", r.id)
	case r.code != "" && m.byCode[r.code] != nil:
		m.mu.Unlock()
		return fmt.Errorf("join code %s is taken", r.code)
	}
	m.byID[r.id] = r
	if r.code != "" {
		m.byCode[r.code] = r
	}
	if r.creator != "" {
		m.byCreator[r.creator]++
	}
	m.rooms.Add(1)
	m.mu.Unlock()
	m.watch.Do(func() { go m.watchdog() })
	r.met.rooms.Inc()
	r.met.humans.Add(float64(r.humans))
	r.met.bots.Add(float64(r.bots))
	r.met.spectators.Add(float64(r.spectators))

	var gone []*member
	for i := range sv.Members {
		s := &sv.Members[i]
		mb := r.members[s.ID]
		if isBotID(s.ID) && !s.Session {
			m.claim(s.ID, r, false, nil) // a server bot: its seat is the room's own
			continue
		}
		sink := sinkFor(s.ID)
		if sink == nil || !m.claim(s.ID, r, mb.num == 0 || mb.queued, sink) {
			gone = append(gone, mb)
			continue
		}
		mb.p.Sink = sink
		r.viewers = append(r.viewers, mb)
		mb.sub = m.cfg.Bus.Subscribe(comet.RoomTopic(r.id), sink)
		m.bindSeat(s.ID, r, sink, mb.sub)
	}
	for _, mb := range gone {
		if mb.isBot() && mb.num != 0 {
			r.botsN.Add(1) // leave counts a sinkless bot off the server bots
		}
		r.leave(mb, false)
		if cb := m.cfg.OnLeave; cb != nil {
			cb(mb.p.ID, r.id)
		}
	}
	if r.humans+r.spectators == 0 && r.emptySince.IsZero() {
		r.emptySince = m.clock.Now()
	}
	for _, mb := range r.viewers {
		r.welcome(mb)
	}
	r.changed()
	r.infoDirty = false
	if cb := m.cfg.OnRoomChange; cb != nil {
		cb(*r.info.Load(), false)
	}
	// Logged before the room's goroutine owns its state.
	r.log.Info("room thawed", "tick", r.tick, "state", r.state, "match", r.match.id,
		"players", len(r.players), "spectators", r.spectators, "removed", len(gone))
	go r.run(m.ctx)
	return nil
}

// refuse tells the members of a room Thaw could not restore that it closed
// (reason "restart"), through OnLeave first as for any room the engine closes.
func (m *Manager) refuse(sv *SavedRoom, sinkFor func(string) comet.Sink) {
	msg, err := comet.NewMessage("room.closed", closedData{Room: sv.ID, Reason: "restart"})
	if err != nil {
		m.log.Error("encode event", "type", "room.closed", "err", err)
		return
	}
	for _, s := range sv.Members {
		if isBotID(s.ID) && !s.Session {
			continue
		}
		if cb := m.cfg.OnLeave; cb != nil {
			cb(s.ID, sv.ID)
		}
		if sink := sinkFor(s.ID); sink != nil {
			sink.Send(msg)
		}
	}
}

// RoomStatus is a room as Inspect reads it between two ticks.
type RoomStatus struct {
	ID        string
	Tick      uint64
	State     string
	Match     string
	Digest    string     // of the game's full state (see Replay)
	Standings []Standing // as the mode lists them
}

// Inspect reads room id (private rooms included) on its goroutine between
// two ticks: for tests and for checking a hand-over.
func (m *Manager) Inspect(ctx context.Context, id string) (RoomStatus, error) {
	m.mu.Lock()
	r := m.byID[id]
	m.mu.Unlock()
	if r == nil {
		return RoomStatus{}, comet.Errorf(comet.ENOTFOUND, "no room %q", id)
	}
	got := make(chan RoomStatus, 1) // a late run after a timeout writes here, to nobody
	err := r.call(ctx, func() error {
		got <- RoomStatus{
			ID: r.id, Tick: r.tick, State: r.state, Match: r.match.id,
			Digest: digestOf(r.match.game), Standings: r.match.game.standings(),
		}
		return nil
	})
	if err != nil {
		return RoomStatus{}, fmt.Errorf("inspect room %s: %w", id, err)
	}
	return <-got, nil
}
