package gameloop

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"comet"
)

// ManagerConfig is everything a Manager needs, given once.
type ManagerConfig struct {
	// Bus carries room topics (comet.RoomTopic(id)). The engine subscribes
	// joiners' sinks itself, inside the room goroutine, so the snapshot
	// precedes every diff, and unsubscribes them when they leave.
	Bus comet.Bus
	// Store receives finished matches; nil publishes results only.
	Store        comet.MatchStore
	Logger       *slog.Logger
	Registerer   prometheus.Registerer // nil: metrics are kept but not exported
	BotFillDelay time.Duration         // a room short of players gets bots after this (default 5s)
	EmptyTimeout time.Duration         // a room with no humans closes after this (default 30s)
	// OnRoomChange is called, from any goroutine, whenever a room's RoomInfo
	// changes (at most once per tick per room) or it closes. It must not block.
	OnRoomChange func(info RoomInfo, closed bool)
	// OnLeave is called, on the room's goroutine (or the watchdog's), for
	// every participant (server bots aside) the engine takes out of a room on
	// its own: when the room closes (shutdown, a mode's panic, a hung tick)
	// with it still inside.
	// Leaves the participant asked for (Leave, or a Join, QuickJoin, Create or
	// Spectate moving it elsewhere) are not reported: the caller knows. It
	// must not block nor call the Manager.
	OnLeave func(participantID, roomID string)

	// Modes are the compiled-in game modes (modes.All()).
	Modes []Mode
	// Settings override modes' defaults by mode name (non-zero fields win);
	// tests use them for short matches.
	Settings map[string]Settings
	// Clock is the engine's time (default the wall clock).
	Clock Clock
	// Seed returns each match's random seed (default: crypto/rand).
	Seed func() int64
	// RecordTo, when set, opens the writer each match's recording (JSON
	// lines, see Replay) is written to; it is closed when the match ends.
	// A nil writer with no error records that match in memory only.
	RecordTo func(roomID, matchID string) (io.WriteCloser, error)
	// MaxRooms caps open rooms; past it Create and QuickJoin answer
	// ERATELIMIT "server full" (default 1,000).
	MaxRooms int
	// MaxRoomsPerCreator caps the open rooms one participant created
	// (ERATELIMIT past it; default 3). Quick-play rooms have no creator.
	MaxRoomsPerCreator int
	// CallTimeout bounds a call into a room (join, leave, ...) whose context
	// has no deadline (default 5s).
	CallTimeout time.Duration
	// WatchdogTimeout is how long a room may stay inside one piece of work (a
	// tick, a join) before the watchdog closes it with reason "error" and
	// abandons its goroutine (default 10s).
	WatchdogTimeout time.Duration
}

// RoomSpec is a room a player asks to create.
type RoomSpec struct {
	Mode    string `json:"mode"`
	Name    string `json:"name"`
	Max     int    `json:"max"`
	Private bool   `json:"private"`
	// Code is a private room's join code chosen by the caller (a cluster
	// reserves it cluster-wide first, NewJoinCode); empty, the manager draws one.
	Code string `json:"-"`
}

// Manager owns every room: it routes participants and inputs to them.
//
// Locking, outermost first: a participant's stripe lock (one room operation
// per participant at a time) → the room goroutine (reached through its ctrl
// channel, never while holding mu) → mu (the room and seat maps; held
// briefly, never while calling a room, a sink or OnRoomChange). A room's input
// queue lock and the bus's own locks are leaves.
type Manager struct {
	cfg      ManagerConfig
	clock    Clock
	log      *slog.Logger
	met      *metrics
	modes    map[string]Mode
	settings map[string]Settings
	ctx      context.Context
	stop     context.CancelFunc
	rooms    sync.WaitGroup
	saves    sync.WaitGroup
	locks    [64]sync.Mutex // per participant (striped): one room operation at a time
	seedHash maphash.Seed
	epoch    time.Time // the watchdog's time origin (wall clock, monotonic)
	watch    sync.Once // starts the watchdog with the first room
	wdStop   chan struct{}
	wdOnce   sync.Once

	mu        sync.Mutex
	byID      map[string]*room
	byCode    map[string]*room
	where     map[string]seat // participant id → its room
	byCreator map[string]int  // open rooms per creator
	seq       int
	closing   bool
}

// seat is where a participant is. Sink and sub mirror the room's member so
// the watchdog can tell it and unsubscribe it without the room's goroutine.
type seat struct {
	room      *room
	spectator bool
	sink      comet.Sink
	sub       comet.Subscription
}

// NewManager returns a Manager. It panics without a Bus or on a mode with
// invalid override settings: programming errors.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Bus == nil {
		panic("gameloop: ManagerConfig.Bus is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.BotFillDelay <= 0 {
		cfg.BotFillDelay = 5 * time.Second
	}
	if cfg.EmptyTimeout <= 0 {
		cfg.EmptyTimeout = 30 * time.Second
	}
	if cfg.MaxRooms <= 0 {
		cfg.MaxRooms = 1_000
	}
	if cfg.MaxRoomsPerCreator <= 0 {
		cfg.MaxRoomsPerCreator = 3
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.WatchdogTimeout <= 0 {
		cfg.WatchdogTimeout = 10 * time.Second
	}

	if cfg.Seed == nil {
		cfg.Seed = func() int64 { return int64(binary.LittleEndian.Uint64(randomBytes(8)) >> 1) }
	}
	m := &Manager{
		cfg: cfg, clock: cfg.Clock, log: cfg.Logger.With("component", "gameloop"),
		met:   newMetrics(cfg.Registerer),
		modes: make(map[string]Mode), settings: make(map[string]Settings),
		byID: make(map[string]*room), byCode: make(map[string]*room), where: make(map[string]seat),
		byCreator: make(map[string]int),
		seedHash:  maphash.MakeSeed(), epoch: time.Now(), wdStop: make(chan struct{}),
	}
	m.ctx, m.stop = context.WithCancel(context.Background())
	for _, md := range cfg.Modes {
		s := md.Defaults().merge(cfg.Settings[md.Name()])
		if err := s.validate(); err != nil {
			panic(fmt.Sprintf("gameloop: settings of mode %s: %v", md.Name(), err))
		}
		m.modes[md.Name()] = md
		m.settings[md.Name()] = s
	}
	return m
}

// Modes lists the registered mode names, sorted.
func (m *Manager) Modes() []string {
	names := make([]string, 0, len(m.modes))
	for n := range m.modes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ModeInfos declares every registered mode with this manager's settings,
// sorted by name: what GET /api/modes returns and the create-room form needs.
func (m *Manager) ModeInfos() []ModeInfo {
	out := make([]ModeInfo, 0, len(m.modes))
	for _, name := range m.Modes() {
		out = append(out, Describe(m.modes[name], m.settings[name]))
	}
	return out
}

// Rooms lists every open room (private ones included, marked Private),
// sorted by mode and name.
func (m *Manager) Rooms() []RoomInfo {
	m.mu.Lock()
	out := make([]RoomInfo, 0, len(m.byID))
	for _, r := range m.byID {
		out = append(out, *r.info.Load())
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b RoomInfo) int {
		return cmp.Or(cmp.Compare(a.Mode, b.Mode), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// RoomOf returns the room a participant plays or watches in.
func (m *Manager) RoomOf(participantID string) (RoomInfo, bool) {
	s, ok := m.seatOf(participantID)
	if !ok {
		return RoomInfo{}, false
	}
	return *s.room.info.Load(), true
}

// QuickJoin puts p into the fullest open public room of mode that has space,
// or a new one, leaving p's current room. A refused join (no room with space,
// too many rooms) leaves p where it was.
func (m *Manager) QuickJoin(ctx context.Context, mode string, p Participant) (RoomInfo, error) {
	if err := m.checkMode(mode); err != nil {
		return RoomInfo{}, err
	}
	if err := checkParticipant(p); err != nil {
		return RoomInfo{}, err
	}
	unlock := m.lockParticipant(p.ID)
	defer unlock()
	if s, ok := m.seatOf(p.ID); ok && !s.spectator && s.room.mode.Name() == mode && !s.room.private {
		return m.enter(ctx, s.room, p, false) // already playing this mode: a fresh start
	}
	for range 3 { // a chosen room may fill or close before we get in
		r, err := m.pickOrOpen(mode)
		if err != nil {
			return RoomInfo{}, err
		}
		info, err := m.move(ctx, r, p, false)
		if err == nil || (comet.ErrorCode(err) != comet.ECONFLICT && !errors.Is(err, errRoomGone)) {
			return info, err
		}
	}
	return RoomInfo{}, comet.Errorf(comet.ECONFLICT, "no room of %s has space; try again", mode)
}

// Create opens a room and puts its creator in it as a player, leaving the
// creator's current room; if the room cannot be opened the creator stays put.
func (m *Manager) Create(ctx context.Context, spec RoomSpec, p Participant) (RoomInfo, error) {
	if err := m.checkMode(spec.Mode); err != nil {
		return RoomInfo{}, err
	}
	if err := checkParticipant(p); err != nil {
		return RoomInfo{}, err
	}
	name, err := checkRoomName(spec.Name)
	if err != nil {
		return RoomInfo{}, err
	}
	set := m.settings[spec.Mode]
	if spec.Max != 0 && (spec.Max < 2 || spec.Max > set.MaxPlayers) {
		return RoomInfo{}, comet.Errorf(comet.EINVALID, "max players must be between 2 and %d for %s", set.MaxPlayers, spec.Mode)
	}
	if name == "" {
		name = p.Name + "'s " + spec.Mode
		if p.Name == "" || utf8.RuneCountInString(name) > maxRoomName {
			name = spec.Mode
		}
	}
	unlock := m.lockParticipant(p.ID)
	defer unlock()
	r, err := m.openRoom(spec.Mode, name, spec.Max, spec.Private, p.ID, spec.Code)
	if err != nil {
		return RoomInfo{}, err
	}
	info, err := m.move(ctx, r, p, false)
	if err != nil {
		r.post(func() { r.close("creator could not join") })
		return RoomInfo{}, err
	}
	return info, nil
}

// Join puts p into a room by id, or by join code for a private room, leaving
// p's current room. A refused join (unknown room or code, a private room's
// id, a full room) leaves p where it was.
func (m *Manager) Join(ctx context.Context, roomOrCode string, p Participant) (RoomInfo, error) {
	return m.joinByRef(ctx, roomOrCode, p, false)
}

// Spectate lets p watch a room (by id, or join code for a private room),
// leaving p's current room; refused, it leaves p where it was.
func (m *Manager) Spectate(ctx context.Context, roomOrCode string, p Participant) (RoomInfo, error) {
	return m.joinByRef(ctx, roomOrCode, p, true)
}

func (m *Manager) joinByRef(ctx context.Context, ref string, p Participant, spectator bool) (RoomInfo, error) {
	if err := checkParticipant(p); err != nil {
		return RoomInfo{}, err
	}
	r, err := m.lookup(ref)
	if err != nil {
		return RoomInfo{}, err
	}
	unlock := m.lockParticipant(p.ID)
	defer unlock()
	return m.move(ctx, r, p, spectator)
}

// Leave takes a participant out of its room; a no-op if it is in none.
func (m *Manager) Leave(ctx context.Context, participantID string) error {
	unlock := m.lockParticipant(participantID)
	defer unlock()
	return m.leaveOthers(ctx, participantID, nil)
}

// Rename shows a participant under a new name in its room: entity labels
// (sent again in the next diff), room.scores and match.result. A no-op
// outside a room. It waits for a room operation of the same participant in
// progress, so a join that read the old name is renamed once it lands.
func (m *Manager) Rename(participantID, name string) {
	unlock := m.lockParticipant(participantID)
	defer unlock()
	s, ok := m.seatOf(participantID)
	if !ok {
		return
	}
	r := s.room
	r.post(func() { r.rename(participantID, name) })
}

// Input decodes and validates one input (EINVALID on bad input) and queues
// it for the participant's room without blocking. Inputs beyond
// MaxInputsPerTick per tick are dropped and counted, not refused.
func (m *Manager) Input(participantID string, data json.RawMessage) error {
	s, ok := m.seatOf(participantID)
	switch {
	case !ok:
		return comet.Errorf(comet.ENOTFOUND, "not in a room")
	case s.spectator:
		return comet.Errorf(comet.EINVALID, "spectators cannot send input")
	}
	return s.room.input(participantID, data)
}

// Resync sends the participant room.joined, room.state and a fresh snapshot
// (its session was reset and lost the stream) at the room's next tick. It
// never blocks, and any number of calls before that tick cost one snapshot.
func (m *Manager) Resync(participantID string) {
	if s, ok := m.seatOf(participantID); ok {
		s.room.queueResync(participantID)
	}
}

// Shutdown stops every room (a running match is saved with Aborted set) and
// waits for them and for pending saves, or for ctx. A room stuck in a tick is
// abandoned by the watchdog meanwhile; Shutdown returns by ctx's deadline
// whatever the rooms do.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	m.stop()
	done := make(chan struct{})
	go func() {
		m.rooms.Wait()
		m.saves.Wait()
		close(done)
	}()
	select {
	case <-done:
		m.watch.Do(func() {}) // no watchdog may start after this
		m.wdOnce.Do(func() { close(m.wdStop) })
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gameloop shutdown: %d rooms still open: %w", len(m.Rooms()), ctx.Err())
	}
}

// since is the watchdog's clock: wall time since the manager began, plus one
// so that it is never 0 (idle).
func (m *Manager) since() int64 { return int64(time.Since(m.epoch)) + 1 }

// watchdog closes rooms whose goroutine stays inside one piece of work longer
// than WatchdogTimeout; it runs from the first room to the end of Shutdown.
func (m *Manager) watchdog() {
	every := max(m.cfg.WatchdogTimeout/4, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	var rooms []*room
	for {
		select {
		case <-m.wdStop:
			return
		case <-t.C:
		}
		m.mu.Lock()
		rooms = rooms[:0]
		for _, r := range m.byID {
			rooms = append(rooms, r)
		}
		m.mu.Unlock()
		now := m.since()
		for _, r := range rooms {
			v := r.busy.Load()
			if v > 0 && time.Duration(now-v) > m.cfg.WatchdogTimeout && r.busy.CompareAndSwap(v, abandoned) {
				m.abandon(r, time.Duration(now-v))
			}
		}
		clear(rooms)
	}
}

// abandon closes a hung room without its goroutine, which is never called
// again: members are unseated and told room.closed {"reason":"error"}, and
// the match is lost (its state belongs to the hung goroutine).
func (m *Manager) abandon(r *room, stuck time.Duration) {
	type gone struct {
		id   string
		seat seat
	}
	var seats []gone
	m.mu.Lock()
	m.forgetLocked(r)
	for id, s := range m.where {
		if s.room == r {
			seats = append(seats, gone{id, s})
			delete(m.where, id)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(seats, func(a, b gone) int { return cmp.Compare(a.id, b.id) })
	r.log.Error("room hung: closed by the watchdog", "stuck", stuck, "members", len(seats))
	r.met.abandoned.Inc()
	r.met.rooms.Dec()
	r.met.bots.Sub(float64(r.botsN.Load()))
	for _, g := range seats {
		switch {
		case g.seat.spectator:
			r.met.spectators.Dec()
		case isBotID(g.id):
			r.met.bots.Dec()
		default:
			r.met.humans.Dec()
		}
	}
	if cb := m.cfg.OnLeave; cb != nil {
		for _, g := range seats {
			cb(g.id, r.id)
		}
	}
	msg, err := comet.NewMessage("room.closed", closedData{Room: r.id, Reason: "error"})
	if err != nil {
		r.log.Error("encode event", "type", "room.closed", "err", err)
	}
	for _, g := range seats {
		if g.seat.sub != nil {
			g.seat.sub.Close()
		}
		if g.seat.sink != nil && msg != nil {
			g.seat.sink.Send(msg)
		}
	}
	if cb := m.cfg.OnRoomChange; cb != nil {
		cb(*r.info.Load(), true)
	}
	r.finish()
}

// move takes p from its current room into r. The target holds a seat for p
// before p leaves anything, so the refusals (a full room, too many players)
// leave p where it was; only r closing in between can leave p in no room.
func (m *Manager) move(ctx context.Context, r *room, p Participant, spectator bool) (RoomInfo, error) {
	if err := r.call(ctx, func() error { return r.hold(p.ID, p.Name, spectator) }); err != nil {
		r.post(func() { r.unhold(p.ID) }) // the hold may have been taken if ctx ended while waiting
		if errors.Is(err, errRoomGone) {
			return RoomInfo{}, fmt.Errorf("join room %s: %w", r.id, err)
		}
		return RoomInfo{}, err
	}
	if err := m.leaveOthers(ctx, p.ID, r); err != nil {
		r.post(func() { r.unhold(p.ID) })
		return RoomInfo{}, err
	}
	info, err := m.enter(ctx, r, p, spectator)
	if err != nil {
		// Queued behind the join if it was sent, so a join that ran has
		// already used the hold and this is a no-op.
		r.post(func() { r.unhold(p.ID) })
	}
	return info, err
}

// enter runs the join on the room goroutine and returns the room's info.
func (m *Manager) enter(ctx context.Context, r *room, p Participant, spectator bool) (RoomInfo, error) {
	var info RoomInfo
	err := r.call(ctx, func() error {
		err := r.join(p, spectator)
		info = r.snapshotInfo() // as of the join, before later ticks change it
		return err
	})
	if err != nil {
		return RoomInfo{}, fmt.Errorf("join room %s: %w", r.id, err)
	}
	return info, nil
}

// leaveOthers takes id out of its current room unless that room is keep.
func (m *Manager) leaveOthers(ctx context.Context, id string, keep *room) error {
	s, ok := m.seatOf(id)
	if !ok || s.room == keep {
		return nil
	}
	r := s.room
	err := r.call(ctx, func() error {
		if mb := r.members[id]; mb != nil {
			r.leave(mb, true)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRoomGone) {
		return fmt.Errorf("leave room %s: %w", r.id, err)
	}
	return nil
}

func (m *Manager) seatOf(id string) (seat, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.where[id]
	return s, ok
}

// claim records id as a member of r; it fails if r is closing or id sits in
// another room (a join whose caller gave up may run late).
func (m *Manager) claim(id string, r *room, spectator bool, sink comet.Sink) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.gone {
		return false
	}
	if s, ok := m.where[id]; ok && s.room != r {
		return false
	}
	m.where[id] = seat{room: r, spectator: spectator, sink: sink}
	return true
}

// setRole records whether id watches (or waits in the queue) or plays in r.
func (m *Manager) setRole(id string, r *room, spectator bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.where[id]; ok && s.room == r {
		s.spectator = spectator
		m.where[id] = s
	}
}

// bindSeat records id's current session and room subscription in its seat
// in r, for the watchdog.
func (m *Manager) bindSeat(id string, r *room, sink comet.Sink, sub comet.Subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.where[id]; ok && s.room == r {
		s.sink, s.sub = sink, sub
		m.where[id] = s
	}
}

func (m *Manager) unclaim(id string, r *room) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.where[id]; ok && s.room == r {
		delete(m.where, id)
	}
}

// roomClosed forgets r and its members; called on r's goroutine. It returns
// the participants (server bots aside) it unseated, for OnLeave.
func (m *Manager) roomClosed(r *room) (unseated []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked(r)
	for id, mb := range r.members {
		if s, ok := m.where[id]; ok && s.room == r {
			delete(m.where, id)
			if !mb.isServerBot() {
				unseated = append(unseated, id)
			}
		}
	}
	slices.Sort(unseated)
	return unseated
}

// forgetLocked takes r out of the room maps and its creator's count, once;
// m.mu is held.
func (m *Manager) forgetLocked(r *room) {
	if r.gone {
		return
	}
	r.gone = true
	delete(m.byID, r.id)
	if r.code != "" {
		delete(m.byCode, r.code)
	}
	if r.creator != "" {
		if m.byCreator[r.creator]--; m.byCreator[r.creator] <= 0 {
			delete(m.byCreator, r.creator)
		}
	}
}

func (m *Manager) lockParticipant(id string) func() {
	l := &m.locks[maphash.String(m.seedHash, id)%uint64(len(m.locks))]
	l.Lock()
	return l.Unlock
}

func (m *Manager) checkMode(mode string) error {
	if _, ok := m.modes[mode]; !ok {
		return comet.Errorf(comet.EINVALID, "unknown mode %q (have %s)", mode, strings.Join(m.Modes(), ", "))
	}
	return nil
}

// lookup finds a room by id, or a private room by its join code.
func (m *Manager) lookup(ref string) (*room, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.byID[ref]; ok && !r.gone {
		if r.private {
			return nil, comet.Errorf(comet.EFORBIDDEN, "room %s is private: join it with its code", r.name)
		}
		return r, nil
	}
	if r, ok := m.byCode[strings.ToUpper(strings.TrimSpace(ref))]; ok && !r.gone {
		return r, nil
	}
	return nil, comet.Errorf(comet.ENOTFOUND, "no room %q", ref)
}

// pickOrOpen returns the room quick play of mode joins: pickRoom's, or a
// new one. Picking and opening are one step under m.mu, so that quick
// plays at the same moment meet in one new room rather than each opening
// its own.
func (m *Manager) pickOrOpen(mode string) (*room, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.pickRoom(mode); r != nil {
		return r, nil
	}
	return m.openRoomLocked(mode, "", 0, false, "", "")
}

// pickRoom chooses the public room of mode with the most players that still
// has space, preferring rooms not between matches. m.mu is held.
func (m *Manager) pickRoom(mode string) *room {
	var best *room
	var bestInfo RoomInfo
	for _, r := range m.byID {
		info := r.info.Load()
		if r.gone || r.private || r.mode.Name() != mode || info.Players-r.botCount() >= info.Max {
			continue
		}
		better := best == nil ||
			(info.State != StateEnded && bestInfo.State == StateEnded) ||
			((info.State == StateEnded) == (bestInfo.State == StateEnded) && info.Players > bestInfo.Players)
		if better {
			best, bestInfo = r, *info
		}
	}
	return best
}

// openRoom creates and starts a room; max 0 means the mode's default.
func (m *Manager) openRoom(mode, name string, max int, private bool, creator, code string) (*room, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.openRoomLocked(mode, name, max, private, creator, code)
}

// openRoomLocked is openRoom with m.mu held.
func (m *Manager) openRoomLocked(mode, name string, max int, private bool, creator, code string) (*room, error) {
	if m.closing {
		return nil, comet.Errorf(comet.ECONFLICT, "server is shutting down")
	}
	if len(m.byID) >= m.cfg.MaxRooms {
		return nil, comet.Errorf(comet.ERATELIMIT, "server full: %d rooms are open; join one of them", len(m.byID))
	}
	if creator != "" && m.byCreator[creator] >= m.cfg.MaxRoomsPerCreator {
		return nil, comet.Errorf(comet.ERATELIMIT,
			"you already have %d open rooms, the most one player may create; a room closes %v after its last player leaves",
			m.byCreator[creator], m.cfg.EmptyTimeout)
	}
	m.seq++
	if name == "" {
		name = fmt.Sprintf("%s #%d", mode, m.seq)
	}
	r := m.newRoom(mode, name, max, private, creator)
	if private {
		if code != "" && m.byCode[code] == nil {
			r.code = code
		}
		for r.code == "" || m.byCode[r.code] != nil {
			r.code = joinCode()
		}
		m.byCode[r.code] = r
		r.changed()
	}
	m.byID[r.id] = r
	if creator != "" {
		m.byCreator[creator]++
	}
	m.rooms.Add(1)
	m.watch.Do(func() { go m.watchdog() })
	go r.run(m.ctx)
	r.log.Info("room opened", "name", name, "max", max, "private", private)
	return r, nil
}

// newRoom builds a room with its first match, not yet running.
func (m *Manager) newRoom(mode, name string, max int, private bool, creator string) *room {
	set := m.settings[mode]
	if max == 0 {
		max = set.DefaultMax
	}
	max = min(max, set.MaxPlayers) // a room never holds more than its mode's capacity
	// A room's settings describe that room: the game sizes its world by
	// MaxPlayers, and the recording carries them for replays.
	set.MinPlayers = min(set.MinPlayers, max)
	set.MaxPlayers, set.DefaultMax = max, max
	r := &room{
		id: "r_" + randomID(6), name: name, creator: creator, private: private,
		mode: m.modes[mode], set: set, max: max, period: time.Second / time.Duration(set.TickHz),
		mgr: m, met: m.met.forMode(mode), queue: newInputQueue(),
		ctrl: make(chan func(), 64), done: make(chan struct{}), exited: make(chan struct{}),
		members: make(map[string]*member), byNum: make(map[uint32]*member),
	}
	r.log = m.log.With("room", r.id, "mode", mode)
	r.newMatch()
	r.met.rooms.Inc()
	return r
}

// save hands a result to the store in the background, so a slow database
// never stalls a room.
func (m *Manager) save(res *comet.MatchResult) {
	if m.cfg.Store == nil {
		return
	}
	m.saves.Add(1)
	go func() {
		defer m.saves.Done()
		ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
		defer cancel()
		if err := m.cfg.Store.SaveMatch(ctx, res); err != nil {
			m.log.Error("save match", "match", res.ID, "room", res.RoomID, "err", err)
		}
	}()
}

func (m *Manager) seed() int64 { return m.cfg.Seed() }

// newRecorder starts the recording of a match: in memory always (for
// Freeze), and to RecordTo's writer when configured.
func (m *Manager) newRecorder(r *room, mt *match) *recorder {
	var w io.WriteCloser
	if m.cfg.RecordTo != nil {
		var err error
		if w, err = m.cfg.RecordTo(r.id, mt.id); err != nil {
			r.log.Error("open match recording", "match", mt.id, "err", err)
			w = nil
		}
	}
	return newRecorderTo(w, r.log, RecordingHeader{
		V: 1, Room: r.id, Match: mt.id, Mode: r.mode.Name(), Seed: mt.seed, Settings: r.set,
	})
}

const maxRoomName = 40

// checkRoomName trims a room name and rejects control characters and names
// over maxRoomName characters.
func checkRoomName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return "", comet.Errorf(comet.EINVALID, "room name is not valid UTF-8")
	case utf8.RuneCountInString(name) > maxRoomName:
		return "", comet.Errorf(comet.EINVALID, "room name longer than %d characters", maxRoomName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", comet.Errorf(comet.EINVALID, "room name contains control characters")
	}
	return name, nil
}

func checkParticipant(p Participant) error {
	if p.ID == "" || len(p.ID) > 128 {
		return comet.Errorf(comet.EINVALID, "participant id must be 1 to 128 bytes")
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics on a broken kernel)
	return b
}

func randomID(n int) string { return hex.EncodeToString(randomBytes(n)) }

// NewJoinCode draws a private room's join code (for RoomSpec.Code).
func NewJoinCode() string { return joinCode() }

// joinCode is 6 characters without look-alikes (no 0/O, 1/I/L), drawn
// uniformly (bytes past the last whole multiple of the alphabet are redrawn).
func joinCode() string {
	const alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
	const limit = 256 / len(alphabet) * len(alphabet)
	code := make([]byte, 0, 6)
	for len(code) < cap(code) {
		for _, c := range randomBytes(8) {
			if int(c) < limit && len(code) < cap(code) {
				code = append(code, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(code)
}
