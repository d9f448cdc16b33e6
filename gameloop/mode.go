// Package gameloop runs game rooms: one goroutine per room steps a compiled-in
// game mode at a fixed tick, streams each viewer a snapshot and then diffs of
// its view, runs the match lifecycle and hands results to storage.
//
// Modes (gameloop/modes/...) know nothing of HTTP, SQL or JSON framing: they
// implement Game, render entities into a World and decode their own input.
package gameloop

import (
	"fmt"
	"hash"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"comet"
)

// Player is a participant as a mode sees it. Num is the player's entity id in
// every World the mode renders; it is unique within the room and never reused.
type Player struct {
	Num  uint32
	ID   string
	Name string
	Bot  bool
}

// MaxPlayerNum bounds player numbers; modes number their other entities
// (projectiles, food, segments) from MaxPlayerNum up so ids never collide.
const MaxPlayerNum = 1 << 20

// Input is one decoded input of one player, in arrival order.
type Input[In any] struct {
	Player uint32
	In     In
}

// Step is what a mode gets on every running tick: the tick number and the
// inputs that arrived since the previous step.
type Step[In any] struct {
	Tick   uint64
	Inputs []Input[In]
}

// Standing is one player's current score; Stats are mode-specific counters
// (frags, deaths, ...) stored with the match result.
type Standing struct {
	Player uint32
	Score  int
	Stats  map[string]int
}

// ViewKey names a view of the world. Viewers whose keys are equal see the same
// entities, so the engine renders and encodes each key once per tick. Key 0 is
// the whole world.
type ViewKey uint64

// Game is the state of one match of one mode. The room goroutine calls every
// method, one at a time, so a Game needs no locks. A Game must be
// deterministic: with the same Env.Rand seed, joins, leaves and steps it must
// reach the same state bit for bit (no wall clock, no map iteration order).
type Game[In any] interface {
	// Join adds a player (human or bot) to the world.
	Join(p Player)
	// Leave removes a player that joined earlier.
	Leave(num uint32)
	// Tick advances the world by one fixed dt; it reports true when the
	// match's win condition is reached (the time limit is the engine's).
	Tick(s Step[In]) (over bool)
	// Render writes the entities of view key into w (key 0: the whole world).
	Render(key ViewKey, w *World)
	// Standings lists every player's score, best first.
	Standings() []Standing
}

// Viewer is implemented by modes that show players different views (area of
// interest, hidden information). ViewOf gets 0 for a spectator. Without it
// every viewer sees view 0, the whole world.
type Viewer interface {
	ViewOf(num uint32) ViewKey
}

// BotMaker is implemented by modes with server-side bots. A bot plays through
// the same path as a browser: the JSON it returns goes through the mode's
// decoder and the room's input queue.
type BotMaker interface {
	NewBot(p Player, rng *rand.Rand) Bot
}

// Bot decides one bot's input. Think appends the JSON input a browser would
// send to dst and returns it; returning dst unchanged sends nothing this tick.
type Bot interface {
	Think(tick uint64, dst []byte) []byte
}

// Seater is implemented by modes that decide who takes a seat (as Nakama's
// MatchJoinAttempt); without it a free seat seats a player and a full room
// refuses it, and either way the room never exceeds its capacity.
type Seater interface {
	JoinAttempt(a JoinAttempt) Seating
}

// JoinAttempt is a player asking for a seat. Free counts the seats free now
// (a server bot's seat is free to a human: the bot yields it).
type JoinAttempt struct {
	Player  Player // Num is 0: a number is given when the player is seated
	Running bool   // a match is being played
	Players int    // players seated, bots included
	Free    int
}

// Seating is a mode's answer to a JoinAttempt; the zero value seats the
// player now (or refuses it as full when Free is 0).
type Seating struct {
	Queue  bool   // watch until the next match (or the waiting room) seats the queue in arrival order
	Refuse string // refuse with this reason (ECONFLICT)
}

// Digester is implemented by modes whose state holds more than they render
// (velocities, timers, queued turns): Digest writes all of it so replays can
// be compared bit for bit.
type Digester interface {
	Digest(h hash.Hash)
}

// Env is what a Game is given once, at creation.
type Env struct {
	Settings Settings
	TickHz   int
	DT       float64 // seconds per tick, 1/TickHz
	Rand     *rand.Rand
	Log      *slog.Logger
}

// Ticks converts a duration to a whole number of ticks (at least 1 for d > 0).
func (e Env) Ticks(d time.Duration) int {
	n := int(d * time.Duration(e.TickHz) / time.Second)
	if n == 0 && d > 0 {
		n = 1
	}
	return n
}

// Settings are a mode's match rules that a room, a test or an operator may
// override. Zero fields in an override keep the mode's default. In the Env of
// a game, MaxPlayers (and DefaultMax) is that room's capacity.
type Settings struct {
	TickHz       int           `json:"tick_hz"`      // 10..60
	MinPlayers   int           `json:"min_players"`  // bots fill a waiting room up to this
	DefaultMax   int           `json:"default_max"`  // capacity of quick-play rooms
	MaxPlayers   int           `json:"max_players"`  // the largest room a player may create
	Duration     time.Duration `json:"duration"`     // match time limit (ns in JSON)
	ScoreLimit   int           `json:"score_limit"`  // mode-specific win condition (0: none)
	Countdown    time.Duration `json:"countdown"`    // between enough players and the start
	Intermission time.Duration `json:"intermission"` // results shown before the next match
}

// merge returns s with o's non-zero fields applied.
func (s Settings) merge(o Settings) Settings {
	if o.TickHz != 0 {
		s.TickHz = o.TickHz
	}
	if o.MinPlayers != 0 {
		s.MinPlayers = o.MinPlayers
	}
	if o.DefaultMax != 0 {
		s.DefaultMax = o.DefaultMax
	}
	if o.MaxPlayers != 0 {
		s.MaxPlayers = o.MaxPlayers
	}
	if o.Duration != 0 {
		s.Duration = o.Duration
	}
	if o.ScoreLimit != 0 {
		s.ScoreLimit = o.ScoreLimit
	}
	if o.Countdown != 0 {
		s.Countdown = o.Countdown
	}
	if o.Intermission != 0 {
		s.Intermission = o.Intermission
	}
	return s
}

func (s Settings) validate() error {
	switch {
	case s.TickHz < 10 || s.TickHz > 60:
		return fmt.Errorf("tick rate %d Hz outside 10..60", s.TickHz)
	case s.MaxPlayers < 1 || s.MaxPlayers >= MaxPlayerNum/2:
		return fmt.Errorf("max players %d out of range", s.MaxPlayers)
	case s.DefaultMax < 1 || s.DefaultMax > s.MaxPlayers:
		return fmt.Errorf("default max %d outside 1..%d", s.DefaultMax, s.MaxPlayers)
	case s.MinPlayers < 1 || s.MinPlayers > s.DefaultMax:
		return fmt.Errorf("min players %d outside 1..%d", s.MinPlayers, s.DefaultMax)
	case s.Duration <= 0:
		return fmt.Errorf("match duration %v not positive", s.Duration)
	case s.Countdown < 0 || s.Intermission < 0:
		return fmt.Errorf("negative countdown or intermission")
	}
	return nil
}

// Kind describes one kind of entity on the wire: its short name and the names
// of its integer fields, in order. Clients receive the list in room.joined.
type Kind struct {
	Name   string   `json:"kind"`
	Fields []string `json:"fields"`
	Label  bool     `json:"label,omitempty"` // entities of this kind carry a name
}

// Input field types of InputField.Type.
const (
	InputInt    = "int"    // a whole number in [Min, Max]
	InputNumber = "number" // any number in [Min, Max]
	InputBool   = "bool"
)

// InputField declares one field of a mode's room.input object, for clients,
// docs and the generated inputs of gameloop/modetest. It documents what the
// decoder accepts; the decoder stays the authority.
type InputField struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"` // InputInt, InputNumber or InputBool
	Min      float64 `json:"min"`  // numbers only
	Max      float64 `json:"max"`
	Required bool    `json:"required"`
	Doc      string  `json:"doc,omitempty"`
}

// ModeSpec defines a mode. Decode must be a pure function: it runs on the
// caller's goroutine and returns a *comet.Error with code EINVALID for bad
// input (NaN, infinities and out-of-range values included).
type ModeSpec[In any] struct {
	Name     string
	Title    string // shown to players (default Name)
	Settings Settings
	Kinds    []Kind
	Input    []InputField // the fields of room.input; every registered mode declares them
	Decode   func(data []byte) (In, error)
	New      func(env Env) Game[In]
}

// Mode is a registered game mode; build one with Define.
type Mode interface {
	Name() string
	Title() string
	Defaults() Settings
	Kinds() []Kind
	Input() []InputField
	start(env Env) instance
	decode(data []byte) (any, error)
}

// ModeInfo is what clients and docs learn of a mode (GET /api/modes): its
// names, room sizes, tick rate, match rules, entity kinds and input fields.
type ModeInfo struct {
	Name           string       `json:"name"`
	Title          string       `json:"title"`
	TickHz         int          `json:"tick_hz"`
	MinPlayers     int          `json:"min_players"`
	DefaultMax     int          `json:"default_max"`
	MaxPlayers     int          `json:"max_players"`
	DurationMs     int64        `json:"duration_ms"`
	ScoreLimit     int          `json:"score_limit,omitempty"`
	CountdownMs    int64        `json:"countdown_ms"`
	IntermissionMs int64        `json:"intermission_ms"`
	Kinds          []Kind       `json:"kinds"`
	Input          []InputField `json:"input"`
}

// Describe is md's declaration with settings s (a Manager's effective
// settings, or md.Defaults()).
func Describe(md Mode, s Settings) ModeInfo {
	return ModeInfo{
		Name: md.Name(), Title: md.Title(), TickHz: s.TickHz,
		MinPlayers: s.MinPlayers, DefaultMax: s.DefaultMax, MaxPlayers: s.MaxPlayers,
		DurationMs: s.Duration.Milliseconds(), ScoreLimit: s.ScoreLimit,
		CountdownMs: s.Countdown.Milliseconds(), IntermissionMs: s.Intermission.Milliseconds(),
		Kinds: md.Kinds(), Input: md.Input(),
	}
}

// Define turns a typed spec into a Mode. It panics on an invalid spec, which
// is a programming error caught by any test that registers the mode.
func Define[In any](spec ModeSpec[In]) Mode {
	if spec.Name == "" || spec.Decode == nil || spec.New == nil || len(spec.Kinds) == 0 {
		panic("gameloop: mode spec needs Name, Kinds, Decode and New")
	}
	if err := spec.Settings.validate(); err != nil {
		panic(fmt.Sprintf("gameloop: mode %s: %v", spec.Name, err))
	}
	if err := validateInput(spec.Input); err != nil {
		panic(fmt.Sprintf("gameloop: mode %s: input: %v", spec.Name, err))
	}
	if spec.Title == "" {
		spec.Title = spec.Name
	}
	return &mode[In]{spec: spec}
}

func validateInput(fields []InputField) error {
	seen := map[string]bool{}
	for _, f := range fields {
		switch {
		case f.Name == "" || seen[f.Name]:
			return fmt.Errorf("field name %q empty or repeated", f.Name)
		case f.Type != InputInt && f.Type != InputNumber && f.Type != InputBool:
			return fmt.Errorf("field %s: type %q is not int, number or bool", f.Name, f.Type)
		case f.Type != InputBool && f.Min > f.Max:
			return fmt.Errorf("field %s: min %v above max %v", f.Name, f.Min, f.Max)
		}
		seen[f.Name] = true
	}
	return nil
}

type mode[In any] struct{ spec ModeSpec[In] }

func (m *mode[In]) Name() string        { return m.spec.Name }
func (m *mode[In]) Title() string       { return m.spec.Title }
func (m *mode[In]) Defaults() Settings  { return m.spec.Settings }
func (m *mode[In]) Kinds() []Kind       { return m.spec.Kinds }
func (m *mode[In]) Input() []InputField { return m.spec.Input }

func (m *mode[In]) decode(data []byte) (_ any, err error) {
	defer func() {
		if p := recover(); p != nil { // a decoder bug must not take the caller down
			err = &decoderPanic{value: p, stack: string(debug.Stack())}
		}
	}()
	in, err := m.spec.Decode(data)
	if err != nil {
		return nil, err
	}
	return in, nil
}

// decoderPanic is a mode decoder's panic turned into an internal error.
type decoderPanic struct {
	value any
	stack string
}

func (e *decoderPanic) Error() string { return fmt.Sprintf("input decoder panicked: %v", e.value) }

func (m *mode[In]) start(env Env) instance {
	g := m.spec.New(env)
	in := &typed[In]{game: g}
	in.viewer, _ = g.(Viewer)
	in.bots, _ = g.(BotMaker)
	in.digester, _ = g.(Digester)
	in.seater, _ = g.(Seater)
	return in
}

// instance is a Game with its input type erased, as the room drives it.
type instance interface {
	join(p Player)
	leave(num uint32)
	step(tick uint64, inputs []queued) bool
	render(key ViewKey, w *World)
	viewOf(num uint32) ViewKey
	standings() []Standing
	newBot(p Player, rng *rand.Rand) Bot
	digest(h hash.Hash)
	seating(a JoinAttempt) Seating
}

type typed[In any] struct {
	game     Game[In]
	viewer   Viewer
	bots     BotMaker
	digester Digester
	seater   Seater
	batch    []Input[In]
}

// seating asks the mode's Seater; without one a free seat seats the player.
func (t *typed[In]) seating(a JoinAttempt) Seating {
	if t.seater == nil {
		return Seating{}
	}
	return t.seater.JoinAttempt(a)
}

func (t *typed[In]) join(p Player)              { t.game.Join(p) }
func (t *typed[In]) leave(num uint32)           { t.game.Leave(num) }
func (t *typed[In]) render(k ViewKey, w *World) { t.game.Render(k, w) }
func (t *typed[In]) standings() []Standing      { return t.game.Standings() }
func (t *typed[In]) digest(h hash.Hash) {
	if t.digester != nil {
		t.digester.Digest(h)
	}
}

func (t *typed[In]) viewOf(num uint32) ViewKey {
	if t.viewer == nil {
		return 0
	}
	return t.viewer.ViewOf(num)
}

func (t *typed[In]) newBot(p Player, rng *rand.Rand) Bot {
	if t.bots == nil {
		return nil
	}
	return t.bots.NewBot(p, rng)
}

func (t *typed[In]) step(tick uint64, inputs []queued) bool {
	t.batch = t.batch[:0]
	for _, q := range inputs {
		in, ok := q.in.(In)
		if !ok {
			continue // decoded by another match's mode: cannot happen, rooms never change mode
		}
		t.batch = append(t.batch, Input[In]{Player: q.num, In: in})
	}
	over := t.game.Tick(Step[In]{Tick: tick, Inputs: t.batch})
	clear(t.batch) // drop references to decoded inputs
	return over
}

// InvalidInput wraps a decoder's complaint as the client-facing EINVALID
// error "<mode> input: <complaint>"; an EINVALID *comet.Error passes as is.
func InvalidInput(mode string, err error) error {
	if comet.ErrorCode(err) == comet.EINVALID {
		return err
	}
	return comet.Errorf(comet.EINVALID, "%s input: %v", mode, err)
}

// MaxInputBytes bounds one input's JSON; inputs are a handful of fields.
const MaxInputBytes = 512

// CheckInput decodes data with md's decoder as a room does and returns its
// complaint: nil, an EINVALID *comet.Error, or an internal error if the
// decoder panicked. For tests (gameloop/modetest) and tools.
func CheckInput(md Mode, data []byte) error {
	_, err := md.decode(data)
	return err
}
