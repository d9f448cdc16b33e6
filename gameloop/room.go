package gameloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"comet"
)

// MaxCatchUp is how many extra ticks a room runs back to back to catch up
// after an overrun; further behind, it skips the missed ticks instead of
// spiralling, staying on its original schedule.
const MaxCatchUp = 3

// Room states as sent in room.state. RoomInfo.State shows countdown as
// "waiting" (the room still fills).
const (
	StateWaiting   = "waiting"
	StateCountdown = "countdown"
	StateRunning   = "running"
	StateEnded     = "ended"
)

var errRoomGone = comet.Errorf(comet.ENOTFOUND, "room closed")

// room is one game room. Everything below the mutable line is owned by the
// room goroutine (run); other goroutines reach it only through ctrl.
type room struct {
	id, name, code string
	creator        string // participant id shown the join code
	private        bool
	mode           Mode
	set            Settings
	max            int
	period         time.Duration
	mgr            *Manager
	log            *slog.Logger
	met            *roomMetrics
	queue          *inputQueue
	ctrl           chan func()
	done           chan struct{} // closed when the room is finished: run returned or the watchdog gave up on it
	finished       atomic.Bool   // done is closed and the manager's room count released
	exited         chan struct{} // closed when run returns, even long after the watchdog gave up
	busy           atomic.Int64  // since when (manager time + 1) the goroutine works; 0 idle, abandoned: given up
	info           atomic.Pointer[RoomInfo]
	resyncMu       sync.Mutex
	resyncs        map[string]bool // participants to send a fresh start at the next tick (coalesced)
	gone           bool            // guarded by mgr.mu: the room no longer accepts members
	botsN          atomic.Int32    // server bots, for quick play's "has space"

	// Owned by the room goroutine.
	closed     bool
	members    map[string]*member // by participant id
	players    []*member          // in join order: bots think and new matches rejoin in this order
	viewers    []*member          // members with a sink, in join order
	byNum      map[uint32]*member
	holds      map[string]bool   // participants admitted as players (true: to the queue), on their way from another room
	queued     []*member         // players waiting for a seat, in arrival order
	renamed    map[uint32]string // labels of players renamed during this match, by number
	nextNum    uint32
	humans     int // human players
	bots       int
	spectators int

	state      string
	stateAt    time.Time // when the state began
	shortSince time.Time // a human is here and players < MinPlayers since; zero otherwise
	emptySince time.Time // no humans (players or spectators) since; zero otherwise
	tick       uint64
	match      *match
	over       bool // the game reported its win condition this tick

	overruns      int       // since the last overrun log line
	overrunLogged time.Time // when that was

	pool       worldPool
	enc        encoder
	lastGroups int
	inputs     []queued
	botBuf     []byte
	views      map[ViewKey]*World
	groups     map[groupKey]*group
	groupList  []*group
	groupFree  []*group
	infoDirty  bool
	stateDirty bool
	scoresAt   time.Time
	scoresMsg  *comet.Message
	lastScores []byte
}

// member is a participant of a room: a player (num > 0) or a spectator.
type member struct {
	p    Participant
	num  uint32 // 0 for spectators
	bot  Bot    // the brain of a "bot-" participant
	sub  comet.Subscription
	base *World  // the view this viewer last received; nil sends a snapshot
	key  ViewKey // its view this tick
	// queued: a player waiting for a seat (the mode's Seater said Queue); it
	// watches as a spectator until seated.
	queued bool
}

func (mb *member) isBot() bool { return isBotID(mb.p.ID) }

// isServerBot: a bot the room added itself (no session), which it may drop.
func (mb *member) isServerBot() bool { return mb.isBot() && mb.p.Sink == nil }

// abandoned is the value of room.busy once the watchdog gave up on the room.
const abandoned = -1

// begin marks the goroutine busy; false if the watchdog gave up on the room,
// which the goroutine then must not touch again.
func (r *room) begin() bool { return r.busy.CompareAndSwap(0, r.mgr.since()) }

// end marks the goroutine idle; false if the watchdog gave up on the room
// meanwhile.
func (r *room) end() bool {
	v := r.busy.Load()
	return v != abandoned && r.busy.CompareAndSwap(v, 0)
}

// isAbandoned reports whether the watchdog gave up on the room: its late
// goroutine then sends nothing and changes nothing outside the room.
func (r *room) isAbandoned() bool { return r.busy.Load() == abandoned }

// finish closes done and releases the manager's count of running rooms, once,
// whether the goroutine returned or the watchdog abandoned it.
func (r *room) finish() {
	if r.finished.CompareAndSwap(false, true) {
		close(r.done)
		r.mgr.rooms.Done()
	}
}

// run is the room goroutine: a fixed-rate tick loop that also serves ctrl.
// Each piece of work is bracketed by begin and end, which the watchdog
// watches.
func (r *room) run(ctx context.Context) {
	defer close(r.exited)
	defer r.finish()
	defer r.recoverPanic()
	clock := r.mgr.clock
	next := clock.Now().Add(r.period)
	timer := clock.NewTimer(r.period)
	defer timer.Stop()
	for {
		select {
		case fn := <-r.ctrl:
			if !r.begin() {
				return
			}
			fn()
			if !r.end() || r.closed {
				return
			}
			continue
		case <-ctx.Done():
			if r.begin() {
				r.close("shutdown")
				r.end()
			}
			return
		case <-timer.C():
		}
		if !r.begin() {
			return
		}
		for catchUp := 0; ; catchUp++ {
			start := clock.Now()
			r.step(start)
			if r.closed || r.isAbandoned() {
				return
			}
			end := clock.Now()
			took := end.Sub(start)
			r.met.tick.Observe(took.Seconds())
			if took > r.period {
				r.overrun(end, took)
			}
			next = next.Add(r.period)
			if end.Before(next) {
				break
			}
			if catchUp == MaxCatchUp {
				missed := end.Sub(next)/r.period + 1
				next = next.Add(missed * r.period)
				r.met.skipped.Add(float64(missed))
				r.log.Warn("room fell behind: skipped ticks", "tick", r.tick, "skipped", int64(missed))
				break
			}
		}
		if !r.end() {
			return
		}
		timer.Reset(next.Sub(clock.Now()))
	}
}

// overrun counts a tick over budget; the log gets the first one and then at
// most one line per overrunLogEvery with the count, so a struggling room
// cannot flood it.
func (r *room) overrun(now time.Time, took time.Duration) {
	r.met.overruns.Inc()
	r.overruns++
	if !r.overrunLogged.IsZero() && now.Sub(r.overrunLogged) < overrunLogEvery {
		return
	}
	r.log.Warn("tick overrun", "tick", r.tick, "took", took, "budget", r.period, "overruns", r.overruns)
	r.overrunLogged, r.overruns = now, 0
}

const overrunLogEvery = 10 * time.Second

// step runs one tick: inputs, simulation, output, then the lifecycle.
func (r *room) step(now time.Time) {
	r.tick++
	r.inputs = r.queue.drain(r.inputs)
	if r.state == StateRunning {
		m := r.match
		r.over = m.game.step(r.tick, r.inputs)
		if r.isAbandoned() {
			return // the watchdog gave up on this tick: nothing more leaves the room
		}
		m.rec.step(r.tick, r.inputs)
		m.ticks++
		if !r.over && m.ticks < m.limit {
			r.botsThink()
		}
	}
	clear(r.inputs)
	r.pendingResyncs()
	r.output()
	m := r.match
	r.lifecycle(now)
	if r.match != m && !r.closed {
		r.output() // the new match's snapshots, before its room.state
	}
	r.flush(now)
}

// call runs fn on the room goroutine and waits for its error, at most until
// ctx ends or, when ctx has no deadline, ManagerConfig.CallTimeout. If the
// wait ends first fn may still run later; fns keep the manager's records
// consistent themselves, so that is harmless, and nothing waits for them.
func (r *room) call(ctx context.Context, fn func() error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.mgr.cfg.CallTimeout)
		defer cancel()
	}
	errc := make(chan error, 1) // buffered: a late fn never blocks the room
	select {
	case r.ctrl <- func() { errc <- fn() }:
	case <-r.done:
		return errRoomGone
	case <-ctx.Done():
		return r.callErr(ctx)
	}
	select {
	case err := <-errc:
		return err
	case <-r.done:
		select {
		case err := <-errc:
			return err
		default:
			return errRoomGone
		}
	case <-ctx.Done():
		return r.callErr(ctx)
	}
}

func (r *room) callErr(ctx context.Context) error {
	return fmt.Errorf("room %s did not answer in time: %w", r.id, ctx.Err())
}

// post runs fn on the room goroutine without waiting for it to run; it waits
// at most CallTimeout for room in the room's queue, then drops fn with a
// warning (the room is stuck and its watchdog will close it).
func (r *room) post(fn func()) {
	select {
	case r.ctrl <- fn:
		return
	case <-r.done:
		return
	default:
	}
	t := time.NewTimer(r.mgr.cfg.CallTimeout)
	defer t.Stop()
	select {
	case r.ctrl <- fn:
	case <-r.done:
	case <-t.C:
		r.log.Warn("room queue full: request dropped")
	}
}

// input decodes data and queues it for the next tick; never blocks.
func (r *room) input(playerID string, data []byte) error {
	in, err := r.mode.decode(data)
	if err != nil {
		var bug *decoderPanic
		if errors.As(err, &bug) {
			r.log.Error("input decoder panicked", "input", string(data), "panic", bug.value, "stack", bug.stack)
			return err // internal: logged, not shown
		}
		r.met.invalid.Inc()
		return InvalidInput(r.mode.Name(), err)
	}
	raw := append([]byte(nil), data...) // for the match's recording
	ok, dropped := r.queue.push(playerID, in, raw)
	switch {
	case !ok:
		return comet.Errorf(comet.ENOTFOUND, "not playing in room %s", r.id)
	case dropped:
		r.met.dropped.Inc()
	}
	return nil
}

// botsThink lets every bot decide its next input, which goes through the
// decoder and the queue like a browser's.
func (r *room) botsThink() {
	for _, mb := range r.players {
		if mb.bot == nil {
			continue
		}
		r.botBuf = mb.bot.Think(r.tick, r.botBuf[:0])
		if len(r.botBuf) == 0 {
			continue
		}
		if err := r.input(mb.p.ID, r.botBuf); err != nil {
			r.log.Error("bot sent bad input", "bot", mb.p.ID, "input", string(r.botBuf), "err", err)
		}
	}
}

// send delivers m to one viewer, or to everyone through the bus.
func (r *room) sendTo(mb *member, m *comet.Message) {
	if mb.p.Sink != nil && !r.isAbandoned() {
		mb.p.Sink.Send(m)
	}
}

func (r *room) publish(m *comet.Message) {
	if len(r.viewers) > 0 && !r.isAbandoned() {
		r.mgr.cfg.Bus.Publish(comet.RoomTopic(r.id), m)
	}
}

// message encodes a struct event; our event structs always marshal.
func (r *room) message(typ string, data any) *comet.Message {
	m, err := comet.NewMessage(typ, data)
	if err != nil {
		r.log.Error("encode event", "type", typ, "err", err)
		return nil
	}
	return m
}

// close ends the room: an unfinished match is saved as aborted, viewers are
// told and unsubscribed, and the manager forgets the room.
func (r *room) close(reason string) {
	if r.closed || r.isAbandoned() {
		return
	}
	r.closed = true
	if r.state == StateRunning {
		r.endMatch(r.mgr.clock.Now(), true)
	}
	if r.match != nil {
		r.match.rec.close()
	}
	// The manager forgets the room first, so nobody told "closed" can still
	// find it; OnLeave comes before room.closed, so the server takes the tab
	// off the room's chat channel before the tab hears the room is gone.
	unseated := r.mgr.roomClosed(r)
	if r.isAbandoned() {
		return // the watchdog gave up on this close midway and did the rest
	}
	if cb := r.mgr.cfg.OnLeave; cb != nil {
		for _, id := range unseated {
			cb(id, r.id)
		}
	}
	msg := r.message("room.closed", closedData{Room: r.id, Reason: reason})
	for _, mb := range r.viewers {
		if mb.sub != nil {
			mb.sub.Close()
		}
		if msg != nil {
			r.sendTo(mb, msg)
		}
	}
	for _, mb := range r.members {
		r.pool.release(mb.base)
		mb.base = nil
		r.queue.forget(mb.p.ID)
	}
	r.met.humans.Sub(float64(r.humans))
	r.met.bots.Sub(float64(r.bots))
	r.met.spectators.Sub(float64(r.spectators))
	r.met.rooms.Dec()
	info := r.snapshotInfo()
	r.info.Store(&info)
	if cb := r.mgr.cfg.OnRoomChange; cb != nil {
		cb(info, true)
	}
	r.log.Info("room closed", "reason", reason)
}

// recoverPanic keeps a bug in a mode (or the engine) from taking the server
// down: the room is logged with the stack and closed; its match is saved as
// aborted if the game can still produce standings.
func (r *room) recoverPanic() {
	p := recover()
	if p == nil {
		return
	}
	r.log.Error("room crashed", "panic", p, "tick", r.tick, "stack", string(debug.Stack()))
	defer func() {
		if p := recover(); p != nil { // the game is broken beyond standings
			r.log.Error("room crashed while closing", "panic", p)
			r.state = StateWaiting // no result from a broken game
			r.closed = false
			r.close("error")
		}
	}()
	r.closed = false // a panic inside close must be able to finish it
	r.close("error")
}

// queueResync asks for a fresh start of id's stream at the next tick; any
// number of requests before then cost one.
func (r *room) queueResync(id string) {
	r.resyncMu.Lock()
	defer r.resyncMu.Unlock()
	if r.resyncs == nil {
		r.resyncs = make(map[string]bool)
	}
	r.resyncs[id] = true
}

// pendingResyncs serves the queued resyncs: room.joined, room.state and
// room.scores now, and the snapshot with this tick's output, where viewers of
// one view share one render and one encoding.
func (r *room) pendingResyncs() {
	r.resyncMu.Lock()
	ids := r.resyncs
	r.resyncs = nil
	r.resyncMu.Unlock()
	for _, mb := range r.viewers {
		if ids[mb.p.ID] {
			r.greet(mb)
			r.pool.release(mb.base)
			mb.base = nil // output sends it a snapshot
		}
	}
}

func (r *room) botCount() int { return int(r.botsN.Load()) }

func isBotID(id string) bool { return len(id) >= 4 && id[:4] == "bot-" }
