// Package modetest is the test kit every game mode uses: it runs real rooms
// of a mode in virtual time with bots and scripted players, records and
// replays them, and checks the invariants every mode must keep. The engine
// runs Check for every registered mode (gameloop/modes), so a mode is tested
// from its registration line on; a mode's own tests add its rules.
package modetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
)

// Check runs every invariant of this package on md, each as a subtest.
func Check(t *testing.T, md gameloop.Mode) {
	t.Helper()
	t.Run("declaration", func(t *testing.T) { CheckDeclaration(t, md) })
	t.Run("decoder", func(t *testing.T) { CheckDecoder(t, md) })
	t.Run("streams", func(t *testing.T) { CheckStreams(t, md) })
	t.Run("determinism", func(t *testing.T) { CheckDeterminism(t, md) })
	t.Run("replay", func(t *testing.T) { CheckReplay(t, md) })
	t.Run("capacity", func(t *testing.T) { CheckCapacity(t, md) })
}

// CheckDeclaration checks what clients are told of md: a title, input fields
// and entity kinds with fields.
func CheckDeclaration(t testing.TB, md gameloop.Mode) {
	t.Helper()
	info := gameloop.Describe(md, md.Defaults())
	if info.Title == "" || len(info.Input) == 0 {
		t.Errorf("mode %s declares no title or no input fields (ModeSpec.Title, ModeSpec.Input)", md.Name())
	}
	for _, k := range info.Kinds {
		if k.Name == "" {
			t.Errorf("mode %s has a kind without a name", md.Name())
		}
	}
}

// Options shape a scripted run; zero fields take defaults.
type Options struct {
	Seed    uint64 // the match seed and the script's randomness
	Ticks   int    // running ticks to play (default 150)
	Max     int    // room capacity (default: MaxPlayers, at most 24)
	Humans  int    // scripted players with sessions (default 4, at most Max-1)
	Checker func(run *Run, tick int)
}

// Run is a scripted room: what Play built and saw.
type Run struct {
	T       testing.TB
	Mode    gameloop.Mode
	Room    *gameloop.HandRoom
	Sinks   map[string]*Sink // viewers by participant id
	Digests []string         // the game's digest after every running tick
	rec     *memRecorder
}

// Recording returns the bytes recorded of match id and whether it was closed.
func (r *Run) Recording(id string) ([]byte, bool) { return r.rec.get(id) }

// Play runs a room of md by hand on a virtual clock: scripted players send
// generated inputs (valid and invalid), leave, come back and resync (p0
// stays throughout); a spectator and a bot with a session watch; server bots
// fill the room but for one seat. After
// every running tick it records the game's digest and calls opt.Checker.
func Play(t testing.TB, md gameloop.Mode, opt Options) *Run {
	t.Helper()
	set := md.Defaults()
	if opt.Ticks == 0 {
		opt.Ticks = 150
	}
	if opt.Max == 0 {
		opt.Max = min(set.MaxPlayers, 24)
	}
	if opt.Humans == 0 {
		opt.Humans = 4
	}
	opt.Humans = max(min(opt.Humans, opt.Max-1), 1)
	rec := &memRecorder{bufs: map[string]*closeBuffer{}}
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: NewBus(), Modes: []gameloop.Mode{md}, RecordTo: rec.open,
		Clock:    gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
		Seed:     func() int64 { return int64(opt.Seed) + 1 },
		Settings: map[string]gameloop.Settings{md.Name(): {Duration: time.Hour, ScoreLimit: 1 << 30}},
	})
	run := &Run{T: t, Mode: md, Room: gameloop.NewHandRoom(m, md.Name(), opt.Max), Sinks: map[string]*Sink{}, rec: rec}
	rng := rand.New(rand.NewPCG(opt.Seed, 42))
	room := run.Room
	// join adds a viewer; a refused comeback (a mode's Seater may refuse
	// joins mid-match) is allowed, a refused first join is not.
	join := func(id string, spectate bool) {
		s := NewSink()
		p := gameloop.Participant{ID: id, Name: "N" + id, Sink: s}
		join := room.Join
		if spectate {
			join = room.Spectate
		}
		if err := join(p); err != nil {
			if comet.ErrorCode(err) == comet.ECONFLICT && room.State() == gameloop.StateRunning {
				return
			}
			t.Fatalf("%s: join %s: %v", md.Name(), id, err)
		}
		run.Sinks[id] = s
	}
	humans := make([]string, opt.Humans)
	for i := range humans {
		humans[i] = fmt.Sprintf("p%d", i)
		join(humans[i], false)
	}
	join("watcher", true)
	if room.Players() < room.Max() {
		join("bot-seen", false) // a bot with a session: driven by its brain, streamed like a browser
	}
	for i := 0; room.Players() < room.Max()-1; i++ { // one seat stays free for the comings and goings
		if err := room.Join(gameloop.Participant{ID: fmt.Sprintf("bot-%d", i), Name: "B"}); err != nil {
			t.Fatalf("%s: bot %d: %v", md.Name(), i, err)
		}
	}
	room.Start()
	for tick := range opt.Ticks {
		for _, id := range humans {
			if _, in := run.Sinks[id]; !in || room.Queued(id) || rng.IntN(2) == 0 {
				continue // away, or waiting in the mode's queue for a seat
			}
			if err := room.Input(id, RandomInput(rng, md)); err != nil && comet.ErrorCode(err) != comet.EINVALID {
				t.Fatalf("%s: input error %v is not EINVALID", md.Name(), err)
			}
		}
		switch rng.IntN(40) {
		case 0: // someone (never p0, who always plays) leaves; later comes back with a new session
			if len(humans) == 1 {
				break
			}
			id := humans[1+rng.IntN(len(humans)-1)]
			if _, in := run.Sinks[id]; in {
				room.Leave(id)
				delete(run.Sinks, id)
			} else {
				join(id, false)
			}
		case 1:
			id := humans[rng.IntN(len(humans))]
			if _, in := run.Sinks[id]; in {
				room.Resync(id)
			}
		}
		room.Step()
		if room.State() != gameloop.StateRunning {
			t.Fatalf("%s: the match ended at tick %d with no time or score limit", md.Name(), tick)
		}
		run.Digests = append(run.Digests, room.Digest())
		if opt.Checker != nil {
			opt.Checker(run, tick)
		}
	}
	return run
}

// CheckStreams plays md and checks after every tick that each viewer's
// replica (its snapshot plus every diff it got, in order) equals a fresh
// snapshot of its view, that every entity is of a declared kind with its
// field count, and that viewers with equal view keys see the same bytes.
func CheckStreams(t testing.TB, md gameloop.Mode) {
	t.Helper()
	kinds := map[string]int{}
	for _, k := range md.Kinds() {
		kinds[k.Name] = len(k.Fields)
	}
	for seed := range uint64(2) {
		Play(t, md, Options{Seed: seed, Checker: func(run *Run, tick int) {
			byKey := map[gameloop.ViewKey][]byte{}
			for _, id := range slices.Sorted(mapsKeys(run.Sinks)) {
				s := run.Sinks[id]
				if err := s.Err(); err != nil {
					t.Fatalf("seed %d tick %d viewer %s: %v", seed, tick, id, err)
				}
				snap := run.Room.SnapshotFor(id)
				if again := run.Room.SnapshotFor(id); !bytes.Equal(snap, again) {
					t.Fatalf("seed %d tick %d: two renders of one view differ: Render must depend only on the state and the key", seed, tick)
				}
				key := run.Room.ViewOf(id)
				if other, ok := byKey[key]; ok && !bytes.Equal(other, snap) {
					t.Fatalf("seed %d tick %d: viewers of view %d see different entities", seed, tick, key)
				}
				byKey[key] = snap
				var want gameloop.Replica
				if err := want.ApplySnapshot(snap); err != nil {
					t.Fatal(err)
				}
				got := s.Replica()
				got.Tick = want.Tick // an unchanged view sends no diff, so the replica's tick may lag
				if !got.Equal(&want) {
					t.Fatalf("seed %d tick %d viewer %s: replica differs from a fresh snapshot\n got %v\nwant %v", seed, tick, id, got.Ents, want.Ents)
				}
				for eid, e := range want.Ents {
					if n, ok := kinds[e.Kind]; !ok || n != len(e.Vals) {
						t.Fatalf("tick %d: entity %d of kind %q has %d fields; declared kinds %v", tick, eid, e.Kind, len(e.Vals), kinds)
					}
				}
			}
		}})
	}
}

// CheckDeterminism plays md twice from one seed with the same script: the
// game's digest must be equal after every tick, bit for bit.
func CheckDeterminism(t testing.TB, md gameloop.Mode) {
	t.Helper()
	a := Play(t, md, Options{Seed: 7, Ticks: 100})
	b := Play(t, md, Options{Seed: 7, Ticks: 100})
	for i := range a.Digests {
		if a.Digests[i] != b.Digests[i] {
			t.Fatalf("two runs from one seed differ at tick %d: use env.Rand only, no maps where order matters, no clock", i)
		}
	}
}

// CheckReplay plays md, ends the match and replays its recording: the replay
// must reach the recorded final digest, and the recording without its inputs
// must not.
func CheckReplay(t testing.TB, md gameloop.Mode) {
	t.Helper()
	run := Play(t, md, Options{Seed: 3, Ticks: 120})
	match := run.Room.Match()
	want := run.Room.Digest()
	run.Room.Close("test over") // saves the match as aborted and ends the recording
	rec, closed := run.Recording(match)
	if !closed {
		t.Fatal("the recording was not closed when the room closed")
	}
	res, err := gameloop.Replay(context.Background(), []gameloop.Mode{md}, bytes.NewReader(rec))
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if res.Digest != want || res.Recorded != want || res.Steps != 120 {
		t.Fatalf("replay reached %s after %d steps (recorded %s), want %s after 120", res.Digest, res.Steps, res.Recorded, want)
	}
	noInputs := regexp.MustCompile(`,"in":\[.*\]`).ReplaceAll(rec, nil)
	if _, err := gameloop.Replay(context.Background(), []gameloop.Mode{md}, bytes.NewReader(noInputs)); !errors.Is(err, gameloop.ErrDiverged) {
		t.Errorf("replay without the inputs: %v, want ErrDiverged (do inputs change the game?)", err)
	}
}

// CheckCapacity fills a room of md past its capacity: the room never seats
// more players than its capacity, refusing or queueing the rest.
func CheckCapacity(t testing.TB, md gameloop.Mode) {
	t.Helper()
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: NewBus(), Modes: []gameloop.Mode{md},
		Clock: gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
	})
	room := gameloop.NewHandRoom(m, md.Name(), md.Defaults().MaxPlayers+5)
	if room.Max() > md.Defaults().MaxPlayers {
		t.Fatalf("room capacity %d above the mode's MaxPlayers %d", room.Max(), md.Defaults().MaxPlayers)
	}
	for i := range room.Max() + 3 {
		err := room.Join(gameloop.Participant{ID: fmt.Sprintf("p%d", i), Name: "P", Sink: NewSink()})
		if err != nil && comet.ErrorCode(err) != comet.ECONFLICT {
			t.Fatalf("join %d: %v, want nil or a conflict", i, err)
		}
		if room.Players() > room.Max() {
			t.Fatalf("%d players seated in a room of %d", room.Players(), room.Max())
		}
		if i == 0 {
			room.Start()
		}
		room.Step()
	}
}

// CheckDecoder feeds md's decoder inputs generated from its declaration and
// mutated: valid ones must be accepted, and no input may panic or fail with
// anything but EINVALID.
func CheckDecoder(t testing.TB, md gameloop.Mode) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		in := ValidInput(rng, md)
		if err := gameloop.CheckInput(md, in); err != nil {
			t.Fatalf("valid input %s (per the declaration) refused: %v", in, err)
		}
		in = RandomInput(rng, md)
		if err := gameloop.CheckInput(md, in); err != nil && comet.ErrorCode(err) != comet.EINVALID {
			t.Fatalf("input %s: error %v is not EINVALID", in, err)
		}
	}
	for _, bad := range []string{``, `{`, `[]`, `null`, `{"` + md.Input()[0].Name + `":"x"}`, `{"zz":1}`, `{}{}`} {
		if err := gameloop.CheckInput(md, []byte(bad)); comet.ErrorCode(err) != comet.EINVALID {
			t.Errorf("input %q: %v, want EINVALID", bad, err)
		}
	}
}

// FuzzDecoder fuzzes md's decoder, seeded from its declaration: no input may
// panic or fail with anything but EINVALID. Use it from a mode's FuzzDecode.
func FuzzDecoder(f *testing.F, md gameloop.Mode) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		f.Add(ValidInput(rng, md))
		f.Add(RandomInput(rng, md))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := gameloop.CheckInput(md, data); err != nil && comet.ErrorCode(err) != comet.EINVALID {
			t.Fatalf("input %q: error %v is not EINVALID", data, err)
		}
	})
}

// ValidInput is a room.input md's declaration says is valid: every required
// field and some optional ones, each within its range.
func ValidInput(rng *rand.Rand, md gameloop.Mode) []byte {
	b := []byte{'{'}
	for _, f := range md.Input() {
		if !f.Required && rng.IntN(2) == 0 {
			continue
		}
		b = appendField(b, f.Name)
		switch f.Type {
		case gameloop.InputBool:
			b = strconv.AppendBool(b, rng.IntN(2) == 0)
		case gameloop.InputInt:
			b = strconv.AppendInt(b, int64(f.Min)+rng.Int64N(int64(f.Max-f.Min)+1), 10)
		default:
			b = strconv.AppendFloat(b, f.Min+rng.Float64()*(f.Max-f.Min), 'f', 2, 64)
		}
	}
	return append(b, '}')
}

// RandomInput is a room.input for md that is often invalid: values out of
// range or of the wrong type, missing or unknown fields, malformed JSON.
func RandomInput(rng *rand.Rand, md gameloop.Mode) []byte {
	switch rng.IntN(12) {
	case 0:
		return []byte(`{"` + md.Input()[0].Name + `":`) // malformed
	case 1:
		return []byte(`{"zz":1}`)
	case 2, 3, 4, 5:
		return ValidInput(rng, md)
	}
	b := []byte{'{'}
	for _, f := range md.Input() {
		if rng.IntN(8) == 0 {
			continue // a missing field
		}
		b = appendField(b, f.Name)
		switch rng.IntN(6) {
		case 0:
			b = strconv.AppendBool(b, rng.IntN(2) == 0)
		case 1:
			b = strconv.AppendFloat(b, (rng.Float64()*4-2)*max(f.Max-f.Min, 1)+f.Min, 'f', 3, 64)
		case 2:
			b = append(b, "null"...)
		default:
			b = strconv.AppendInt(b, int64(f.Min)-2+rng.Int64N(int64(f.Max-f.Min)+5), 10)
		}
	}
	return append(b, '}')
}

func appendField(b []byte, name string) []byte {
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = strconv.AppendQuote(b, name)
	return append(b, ':')
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// memRecorder keeps match recordings in memory.
type memRecorder struct {
	mu   sync.Mutex
	bufs map[string]*closeBuffer
}

type closeBuffer struct {
	bytes.Buffer
	closed bool
}

func (b *closeBuffer) Close() error { b.closed = true; return nil }

func (r *memRecorder) open(_, match string) (io.WriteCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &closeBuffer{}
	r.bufs[match] = b
	return b, nil
}

func (r *memRecorder) get(match string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bufs[match]
	if b == nil {
		return nil, false
	}
	return bytes.Clone(b.Bytes()), b.closed
}
