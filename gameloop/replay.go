package gameloop

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// A recording is JSON lines: a header, then every join, leave and step of the
// match in the order the game saw them, then an end line with the digest of
// the final state. Replay runs it again and compares the digest.
//
//	{"v":1,"room":"r_…","match":"m_…","mode":"<name>","seed":42,"settings":{…}}
//	{"t":0,"join":{"n":1,"id":"p_…","name":"Ada","bot":false}}
//	{"t":0,"leave":1}
//	{"t":7,"s":1,"in":[[1,{"m":3}],[2,{"m":0}]]}   (a step; "in" omitted when empty)
//	{"t":30,"end":{"digest":"<sha-256 hex>","aborted":false}}

// RecordingHeader is the first line of a recording.
type RecordingHeader struct {
	V        int      `json:"v"`
	Room     string   `json:"room"`
	Match    string   `json:"match"`
	Mode     string   `json:"mode"`
	Seed     int64    `json:"seed"`
	Settings Settings `json:"settings"`
}

type recLine struct {
	T     uint64            `json:"t"`
	Join  *recJoin          `json:"join,omitempty"`
	Leave uint32            `json:"leave,omitempty"`
	In    []json.RawMessage `json:"in,omitempty"`
	End   *recEnd           `json:"end,omitempty"`
}

type recJoin struct {
	N    uint32 `json:"n"`
	ID   string `json:"id"`
	Name string `json:"name"`
	Bot  bool   `json:"bot"`
}

type recEnd struct {
	Digest  string `json:"digest"`
	Aborted bool   `json:"aborted"`
}

// maxLog bounds a match's recording kept in memory for Freeze; a longer
// match stops keeping it, and its room is closed rather than handed over.
const maxLog = 64 << 20

// recorder writes one match's recording: always into memory (what Freeze
// hands over), and to a file when recording is configured. A nil *recorder
// records nothing; a file write error is logged once and stops the file,
// never the match nor the memory copy.
type recorder struct {
	w       io.WriteCloser // nil: memory only
	bw      *bufio.Writer
	log     *slog.Logger
	buf     []byte
	cb      bytes.Buffer
	err     error  // the file's
	mem     []byte // the recording so far, header first
	memFull bool   // mem outgrew maxLog and was dropped
}

func newRecorderTo(w io.WriteCloser, log *slog.Logger, h RecordingHeader) *recorder {
	rec := &recorder{w: w, log: log}
	if w != nil {
		rec.bw = bufio.NewWriterSize(w, 64<<10)
	}
	line, err := json.Marshal(h)
	if err != nil {
		rec.fail(fmt.Errorf("encode header: %w", err))
		rec.memFull = true
		return rec
	}
	rec.write(line)
	return rec
}

func (rec *recorder) fail(err error) {
	if rec.err == nil {
		rec.err = err
		rec.log.Error("match recording stopped", "err", err)
	}
}

func (rec *recorder) write(line []byte) {
	if !rec.memFull {
		if len(rec.mem)+len(line)+1 > maxLog {
			rec.memFull, rec.mem = true, nil
			rec.log.Warn("match log too long to hand over on a restart", "limit", maxLog)
		} else {
			rec.mem = append(append(rec.mem, line...), '\n')
		}
	}
	if rec.w == nil || rec.err != nil {
		return
	}
	if _, err := rec.bw.Write(line); err != nil {
		rec.fail(fmt.Errorf("write recording: %w", err))
		return
	}
	if err := rec.bw.WriteByte('\n'); err != nil {
		rec.fail(fmt.Errorf("write recording: %w", err))
	}
}

func (rec *recorder) join(tick uint64, p Player) {
	if rec == nil {
		return
	}
	line, _ := json.Marshal(recLine{T: tick, Join: &recJoin{N: p.Num, ID: p.ID, Name: p.Name, Bot: p.Bot}})
	rec.write(line)
}

func (rec *recorder) leave(tick uint64, num uint32) {
	if rec == nil {
		return
	}
	line, _ := json.Marshal(recLine{T: tick, Leave: num})
	rec.write(line)
}

// step records one stepped tick; a tick without inputs is still a line, so
// replay steps it too.
func (rec *recorder) step(tick uint64, inputs []queued) {
	if rec == nil {
		return
	}
	b := append(rec.buf[:0], `{"t":`...)
	b = strconv.AppendUint(b, tick, 10)
	b = append(b, `,"s":1`...)
	if len(inputs) > 0 {
		b = append(b, `,"in":[`...)
		for i, q := range inputs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = strconv.AppendUint(b, uint64(q.num), 10)
			b = append(b, ',')
			rec.cb.Reset()
			if err := json.Compact(&rec.cb, q.raw); err != nil {
				rec.fail(fmt.Errorf("record input of player %d: %w", q.num, err))
				rec.memFull, rec.mem = true, nil // a log without it would not replay
				return
			}
			b = append(b, rec.cb.Bytes()...)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	rec.buf = b
	rec.write(b)
}

// end writes the digest of the final state and closes the file; the memory
// copy goes on (joins and leaves of the intermission).
func (rec *recorder) end(tick uint64, aborted bool, g instance) {
	if rec == nil {
		return
	}
	line, _ := json.Marshal(recLine{T: tick, End: &recEnd{Digest: digestOf(g), Aborted: aborted}})
	rec.write(line)
	rec.close()
}

// close flushes and closes the file, if any.
func (rec *recorder) close() {
	if rec == nil || rec.w == nil {
		return
	}
	if rec.err == nil {
		if err := rec.bw.Flush(); err != nil {
			rec.fail(fmt.Errorf("flush recording: %w", err))
		}
	}
	if err := rec.w.Close(); err != nil {
		rec.fail(fmt.Errorf("close recording: %w", err))
	}
	rec.w = nil
}

// RecordToDir returns a ManagerConfig.RecordTo that writes each match's
// recording to dir/<room id>_<match id>.jsonl, creating dir if needed: what
// comet serve --record DIR wires.
func RecordToDir(dir string) func(roomID, matchID string) (io.WriteCloser, error) {
	return func(roomID, matchID string) (io.WriteCloser, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("recordings directory: %w", err)
		}
		name := filepath.Base(roomID) + "_" + filepath.Base(matchID) + ".jsonl"
		// A match thawed after a restart writes its file again, whole.
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("create recording: %w", err)
		}
		return f, nil
	}
}

// ReplayFile replays the recording at path (see Replay): what
// comet replay FILE runs before printing WriteReport.
func ReplayFile(ctx context.Context, modes []Mode, path string) (*ReplayResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	res, err := Replay(ctx, modes, bufio.NewReader(f))
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// WriteReport prints what a replay reproduced: the match, the ticks, the
// final digest against the recorded one, and the final standings by name.
func (res *ReplayResult) WriteReport(w io.Writer) error {
	h := res.Header
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "match %s of room %s, mode %s, seed %d: %d ticks replayed\n", h.Match, h.Room, h.Mode, h.Seed, res.Steps)
	switch {
	case res.Recorded == "":
		fmt.Fprintf(bw, "digest %s (the recording has no end line to compare)\n", res.Digest)
	case res.Recorded == res.Digest:
		fmt.Fprintf(bw, "digest %s matches the recording\n", res.Digest)
	default:
		fmt.Fprintf(bw, "digest %s DIFFERS from the recorded %s\n", res.Digest, res.Recorded)
	}
	st := slices.Clone(res.Standings)
	slices.SortStableFunc(st, func(a, b Standing) int { return cmp.Compare(b.Score, a.Score) })
	seen := map[uint32]bool{}
	for i, s := range st {
		seen[s.Player] = true
		fmt.Fprintf(bw, "%3d. %s %d%s\n", i+1, res.playerName(s.Player), s.Score, res.botMark(s.Player))
	}
	for _, p := range res.Players {
		if !seen[p.Num] {
			seen[p.Num] = true
			fmt.Fprintf(bw, "     %s (left)%s\n", p.Name, res.botMark(p.Num))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write replay report: %w", err)
	}
	return nil
}

func (res *ReplayResult) player(num uint32) (Player, bool) {
	for _, p := range res.Players {
		if p.Num == num {
			return p, true
		}
	}
	return Player{}, false
}

func (res *ReplayResult) playerName(num uint32) string {
	if p, ok := res.player(num); ok {
		return p.Name
	}
	return fmt.Sprintf("#%d", num)
}

func (res *ReplayResult) botMark(num uint32) string {
	if p, ok := res.player(num); ok && p.Bot {
		return " (bot)"
	}
	return ""
}

// digestOf is the SHA-256 (hex) of a game's full state: what the mode's
// Digester writes plus the snapshot of the whole world.
func digestOf(g instance) string {
	h := sha256.New()
	g.digest(h)
	w := &World{}
	g.render(0, w)
	w.seal()
	h.Write(appendSnapshot(nil, 0, "", w))
	return hex.EncodeToString(h.Sum(nil))
}

// ReplayResult is what Replay reproduced.
type ReplayResult struct {
	Header    RecordingHeader
	Steps     int        // ticks stepped
	Digest    string     // of the final state
	Recorded  string     // the digest in the recording ("" if it has no end)
	Standings []Standing // final standings, best first as the mode lists them
	Players   []Player   // everyone who joined, in order (the latest name of each number)
}

// ErrDiverged is returned by Replay when the replayed final state differs
// from the recorded one.
var ErrDiverged = errors.New("replay diverged from the recording")

// Replay re-runs a recording with the same mode, seed, settings and inputs
// and checks that the final state is identical bit for bit.
func Replay(ctx context.Context, modes []Mode, r io.Reader) (*ReplayResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("replay: empty recording: %w", sc.Err())
	}
	var res ReplayResult
	if err := json.Unmarshal(sc.Bytes(), &res.Header); err != nil {
		return nil, fmt.Errorf("replay: header: %w", err)
	}
	h := res.Header
	var md Mode
	for _, m := range modes {
		if m.Name() == h.Mode {
			md = m
		}
	}
	rp, err := newReplayer(md, h, false)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	for n := 2; sc.Scan(); n++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		if err := rp.apply(n, sc.Bytes()); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("replay: read: %w", err)
	}
	res.Steps, res.Recorded, res.Players = rp.steps, rp.recorded, rp.joined
	res.Digest = digestOf(rp.g)
	res.Standings = rp.g.standings()
	if res.Recorded != "" && res.Recorded != res.Digest {
		return &res, fmt.Errorf("replay of match %s: digest %s, recorded %s: %w", h.Match, res.Digest, res.Recorded, ErrDiverged)
	}
	return &res, nil
}

// replayer re-runs a recording line by line on a fresh game. With think set
// it also runs the bots' brains as the room did after each step (their
// inputs are already in the recording, so what they send is dropped), which
// leaves every brain in the state it had: what Thaw needs to go on.
type replayer struct {
	md       Mode
	h        RecordingHeader
	g        instance
	limit    int // ticks until the time limit: bots stop thinking there
	steps    int
	recorded string   // the last end line's digest
	ended    bool     // an end line was read
	joined   []Player // everyone who joined, in order (the latest name of each number)
	think    bool
	order    []uint32 // players in the game, in join order (the room's order)
	bots     map[uint32]Bot
	batch    []queued
	pairs    []inputPair // the inputs of the step line being read
	botBuf   []byte
}

type inputPair struct {
	num uint32
	raw []byte
}

// newReplayer checks a recording's header and starts its game.
func newReplayer(md Mode, h RecordingHeader, think bool) (*replayer, error) {
	if h.V != 1 {
		return nil, fmt.Errorf("recording version %d, want 1", h.V)
	}
	if md == nil {
		return nil, fmt.Errorf("unknown mode %q", h.Mode)
	}
	if err := h.Settings.validate(); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	env := Env{
		Settings: h.Settings, TickHz: h.Settings.TickHz, DT: 1 / float64(h.Settings.TickHz),
		Rand: matchRand(h.Seed),
		Log:  slog.New(slog.DiscardHandler),
	}
	return &replayer{
		md: md, h: h, g: md.start(env), limit: env.Ticks(h.Settings.Duration),
		think: think, bots: make(map[uint32]Bot),
	}, nil
}

// apply runs line n of the recording.
func (rp *replayer) apply(n int, line []byte) error {
	if tick, ok := rp.scanStep(line); ok { // most lines: no reflection
		return rp.step(n, tick)
	}
	var l struct {
		recLine
		S int `json:"s"`
	}
	if err := json.Unmarshal(line, &l); err != nil {
		return fmt.Errorf("line %d: %w", n, err)
	}
	switch {
	case l.Join != nil:
		p := Player{Num: l.Join.N, ID: l.Join.ID, Name: l.Join.Name, Bot: l.Join.Bot}
		rp.g.join(p)
		if i := slices.IndexFunc(rp.joined, func(q Player) bool { return q.Num == p.Num }); i >= 0 {
			rp.joined[i] = p
		} else {
			rp.joined = append(rp.joined, p)
		}
		if rp.think {
			rp.order = append(slices.DeleteFunc(rp.order, func(x uint32) bool { return x == p.Num }), p.Num)
			delete(rp.bots, p.Num)
			if p.Bot {
				if b := rp.g.newBot(p, botRand(rp.h.Seed, p.Num)); b != nil {
					rp.bots[p.Num] = b
				}
			}
		}
	case l.Leave != 0:
		rp.g.leave(l.Leave)
		if rp.think {
			rp.order = slices.DeleteFunc(rp.order, func(x uint32) bool { return x == l.Leave })
			delete(rp.bots, l.Leave)
		}
	case l.S == 1:
		rp.pairs = rp.pairs[:0]
		for _, raw := range l.In {
			var pair []json.RawMessage
			var num uint32
			if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
				return fmt.Errorf("line %d: input %s is not [player,input]", n, raw)
			}
			if err := json.Unmarshal(pair[0], &num); err != nil {
				return fmt.Errorf("line %d: player %s: %w", n, pair[0], err)
			}
			rp.pairs = append(rp.pairs, inputPair{num, pair[1]})
		}
		return rp.step(n, l.T)
	case l.End != nil:
		rp.recorded, rp.ended = l.End.Digest, true
	default:
		return fmt.Errorf("line %d: unknown entry %s", n, line)
	}
	return nil
}

// step decodes the inputs in rp.pairs and steps the game at tick, then lets
// the bots think as the room does after a step.
func (rp *replayer) step(n int, tick uint64) error {
	rp.batch = rp.batch[:0]
	for _, p := range rp.pairs {
		in, err := rp.md.decode(p.raw)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		rp.batch = append(rp.batch, queued{num: p.num, in: in})
	}
	over := rp.g.step(tick, rp.batch)
	clear(rp.batch)
	rp.steps++
	if rp.think && !over && rp.steps < rp.limit {
		for _, num := range rp.order {
			if b := rp.bots[num]; b != nil {
				rp.botBuf = b.Think(tick, rp.botBuf[:0])
			}
		}
	}
	return nil
}

// scanStep reads a step line exactly as recorder.step writes it into
// rp.pairs; anything else (ok false) is left to encoding/json.
func (rp *replayer) scanStep(line []byte) (tick uint64, ok bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"t":`))
	if !ok {
		return 0, false
	}
	if tick, rest, ok = cutUint(rest, 64); !ok {
		return 0, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"s":1`)); !ok {
		return 0, false
	}
	rp.pairs = rp.pairs[:0]
	if string(rest) == "}" {
		return tick, true
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"in":[`)); !ok {
		return 0, false
	}
	for {
		var num uint64
		if rest, ok = bytes.CutPrefix(rest, []byte{'['}); !ok {
			return 0, false
		}
		if num, rest, ok = cutUint(rest, 32); !ok {
			return 0, false
		}
		if rest, ok = bytes.CutPrefix(rest, []byte{','}); !ok {
			return 0, false
		}
		end := objectEnd(rest)
		if end < 0 {
			return 0, false
		}
		rp.pairs = append(rp.pairs, inputPair{uint32(num), rest[:end]})
		if rest, ok = bytes.CutPrefix(rest[end:], []byte{']'}); !ok {
			return 0, false
		}
		if rest, ok = bytes.CutPrefix(rest, []byte{','}); ok {
			continue
		}
		return tick, string(rest) == "]}"
	}
}

// cutUint reads a decimal number of at most bits bits at the start of b.
func cutUint(b []byte, bits int) (uint64, []byte, bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || (i > 1 && b[0] == '0') {
		return 0, b, false
	}
	v, err := strconv.ParseUint(string(b[:i]), 10, bits)
	return v, b[i:], err == nil
}

// objectEnd is the length of the JSON object b starts with, or -1: it
// counts brackets outside strings and leaves checking to the decoder.
func objectEnd(b []byte) int {
	if len(b) == 0 || b[0] != '{' {
		return -1
	}
	depth, inStr := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// botRand is the random source of player num's bot brain in the match of
// seed, as the room draws it when the bot joins.
func botRand(seed int64, num uint32) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(num)))
}
