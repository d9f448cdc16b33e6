package gameloop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
)

// A recording is JSON lines: a header, then every join, leave and step of the
// match in the order the game saw them, then an end line with the digest of
// the final state. Replay runs it again and compares the digest.
//
//	{"v":1,"room":"r_…","match":"m_…","mode":"tag","seed":42,"settings":{…}}
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

// recorder writes one match's recording. A nil *recorder records nothing; a
// write error is logged once and stops the recording, never the match.
type recorder struct {
	w   io.WriteCloser
	bw  *bufio.Writer
	log *slog.Logger
	buf []byte
	err error
}

func newRecorderTo(w io.WriteCloser, log *slog.Logger, h RecordingHeader) *recorder {
	rec := &recorder{w: w, bw: bufio.NewWriterSize(w, 64<<10), log: log}
	line, err := json.Marshal(h)
	if err != nil {
		rec.fail(fmt.Errorf("encode header: %w", err))
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
	if rec.err != nil {
		return
	}
	line = append(line, '\n')
	if _, err := rec.bw.Write(line); err != nil {
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
	if rec == nil || rec.err != nil {
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
			var cb bytes.Buffer
			if err := json.Compact(&cb, q.raw); err != nil {
				rec.fail(fmt.Errorf("record input of player %d: %w", q.num, err))
				return
			}
			b = append(b, cb.Bytes()...)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	rec.buf = b
	rec.write(b)
}

// end writes the digest of the final state and closes the recording.
func (rec *recorder) end(tick uint64, aborted bool, g instance) {
	if rec == nil {
		return
	}
	line, _ := json.Marshal(recLine{T: tick, End: &recEnd{Digest: digestOf(g), Aborted: aborted}})
	rec.write(line)
	rec.close()
}

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
// recording to dir/<match id>.jsonl, creating dir if needed.
func RecordToDir(dir string) func(roomID, matchID string) (io.WriteCloser, error) {
	return func(_, matchID string) (io.WriteCloser, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("recordings directory: %w", err)
		}
		f, err := os.Create(filepath.Join(dir, filepath.Base(matchID)+".jsonl"))
		if err != nil {
			return nil, fmt.Errorf("create recording: %w", err)
		}
		return f, nil
	}
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
	if h.V != 1 {
		return nil, fmt.Errorf("replay: recording version %d, want 1", h.V)
	}
	var md Mode
	for _, m := range modes {
		if m.Name() == h.Mode {
			md = m
		}
	}
	if md == nil {
		return nil, fmt.Errorf("replay: unknown mode %q", h.Mode)
	}
	if err := h.Settings.validate(); err != nil {
		return nil, fmt.Errorf("replay: settings: %w", err)
	}
	env := Env{
		Settings: h.Settings, TickHz: h.Settings.TickHz, DT: 1 / float64(h.Settings.TickHz),
		Rand: matchRand(h.Seed),
		Log:  slog.New(slog.DiscardHandler),
	}
	g := md.start(env)
	var batch []queued
	for n := 2; sc.Scan(); n++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		var l struct {
			recLine
			S int `json:"s"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("replay: line %d: %w", n, err)
		}
		switch {
		case l.Join != nil:
			g.join(Player{Num: l.Join.N, ID: l.Join.ID, Name: l.Join.Name, Bot: l.Join.Bot})
		case l.Leave != 0:
			g.leave(l.Leave)
		case l.S == 1:
			batch = batch[:0]
			for _, raw := range l.In {
				var pair []json.RawMessage
				var num uint32
				if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
					return nil, fmt.Errorf("replay: line %d: input %s is not [player,input]", n, raw)
				}
				if err := json.Unmarshal(pair[0], &num); err != nil {
					return nil, fmt.Errorf("replay: line %d: player %s: %w", n, pair[0], err)
				}
				in, err := md.decode(pair[1])
				if err != nil {
					return nil, fmt.Errorf("replay: line %d: %w", n, err)
				}
				batch = append(batch, queued{num: num, in: in})
			}
			g.step(l.T, batch)
			res.Steps++
		case l.End != nil:
			res.Recorded = l.End.Digest
		default:
			return nil, fmt.Errorf("replay: line %d: unknown entry %s", n, sc.Bytes())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("replay: read: %w", err)
	}
	res.Digest = digestOf(g)
	res.Standings = g.standings()
	if res.Recorded != "" && res.Recorded != res.Digest {
		return &res, fmt.Errorf("replay of match %s: digest %s, recorded %s: %w", h.Match, res.Digest, res.Recorded, ErrDiverged)
	}
	return &res, nil
}
