package gameloop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/gameloop/modetest"
)

// recordings collects match recordings in memory.
type recordings struct {
	mu   sync.Mutex
	bufs map[string]*closeBuffer
}

type closeBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (b *closeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *closeBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (r *recordings) open(_, match string) (io.WriteCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &closeBuffer{}
	r.bufs[match] = b
	return b, nil
}

func (r *recordings) get(match string) ([]byte, bool) {
	r.mu.Lock()
	b := r.bufs[match]
	r.mu.Unlock()
	if b == nil {
		return nil, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()), b.closed
}

// TestReplayReproducesMatchBitForBit plays a whole match of every registered
// mode with bots, a human sending random inputs and a human who joins and
// leaves midway; replaying the recording must reach the recorded final
// digest, and a tampered recording must not. It holds for any mode: seats
// and inputs come from the mode's own declaration.
func TestReplayReproducesMatchBitForBit(t *testing.T) {
	for _, md := range modes.All() {
		t.Run(md.Name(), func(t *testing.T) {
			recs := &recordings{bufs: map[string]*closeBuffer{}}
			m := gameloop.NewManager(gameloop.ManagerConfig{
				Bus: newMemBus(), Modes: modes.All(), RecordTo: recs.open,
				Clock:    gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
				Settings: map[string]gameloop.Settings{md.Name(): {Duration: 20 * time.Second}},
			})
			room := gameloop.NewHandRoom(m, md.Name(), 0)
			p1, s1 := player("p1")
			if err := room.Join(p1); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < md.Defaults().MinPlayers && room.Players() < room.Max()-1; i++ { // a seat stays free for the drop-in
				if err := room.Join(gameloop.Participant{ID: fmt.Sprintf("bot-%d", i), Name: "B"}); err != nil {
					t.Fatal(err)
				}
			}
			room.Start()
			rng := rand.New(rand.NewPCG(1, 2))
			for step := 0; room.State() == gameloop.StateRunning; step++ {
				if step > 10000 {
					t.Fatal("the match does not end")
				}
				_ = room.Input("p1", modetest.RandomInput(rng, md))
				switch step {
				case 30:
					if err := room.Join(gameloop.Participant{ID: "p2", Name: "Drop-in"}); err != nil {
						t.Fatal(err)
					}
				case 90:
					room.Leave("p2")
				}
				if step > 30 && step < 90 {
					_ = room.Input("p2", modetest.RandomInput(rng, md))
				}
				room.Step()
			}
			raw, ok := s1.last("match.result")
			if !ok {
				t.Fatal("no match.result")
			}
			res := decode[comet.MatchResult](t, raw)
			rec, closed := recs.get(res.ID)
			if !closed {
				t.Fatal("the recording was not closed at the end of the match")
			}
			if !bytes.Contains(rec, []byte(`[1,{`)) || !bytes.Contains(rec, []byte(`"leave":`)) {
				t.Fatalf("the recording lacks the human's inputs or the leave:\n%.2000s", rec)
			}
			got, err := gameloop.Replay(context.Background(), modes.All(), bytes.NewReader(rec))
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			if got.Recorded == "" || got.Digest != got.Recorded || got.Steps == 0 {
				t.Fatalf("replay %+v", got)
			}
			if got.Header.Seed != res.Seed || got.Header.Match != res.ID {
				t.Errorf("header %+v does not match result %s seed %d", got.Header, res.ID, res.Seed)
			}
			var replayed, published []int
			for _, s := range got.Standings {
				replayed = append(replayed, s.Score)
			}
			for _, p := range res.Players {
				if p.Stats["left"] == 0 {
					published = append(published, p.Score)
				}
			}
			slices.Sort(replayed)
			slices.Sort(published)
			if !slices.Equal(replayed, published) {
				t.Errorf("replayed scores %v, published %v", replayed, published)
			}

			noInputs := regexp.MustCompile(`,"in":\[.*\]`).ReplaceAll(rec, nil)
			if _, err := gameloop.Replay(bg, modes.All(), bytes.NewReader(noInputs)); !errors.Is(err, gameloop.ErrDiverged) {
				t.Errorf("replay without inputs: %v, want ErrDiverged", err)
			}
		})
	}
}

func TestReplayRejectsBrokenRecordings(t *testing.T) {
	header := `{"v":1,"room":"r","match":"m","mode":"dot","seed":1,"settings":{"tick_hz":20,"min_players":1,"default_max":4,"max_players":4,"duration":60000000000}}`
	for _, c := range []struct{ name, rec string }{
		{"empty", ``},
		{"bad header", `{"v":`},
		{"version", `{"v":2,"mode":"dot"}`},
		{"unknown mode", `{"v":1,"mode":"chess","settings":{"tick_hz":20,"min_players":1,"default_max":4,"max_players":4,"duration":1}}`},
		{"bad settings", `{"v":1,"mode":"dot","settings":{"tick_hz":500}}`},
		{"bad line", header + "\n{nope"},
		{"bad input", header + "\n" + `{"t":1,"join":{"n":1,"id":"p","name":"P"}}` + "\n" + `{"t":2,"s":1,"in":[[1,{"v":99}]]}`},
		{"unknown entry", header + "\n" + `{"t":1}`},
	} {
		if _, err := gameloop.Replay(bg, []gameloop.Mode{dot}, bytes.NewReader([]byte(c.rec))); err == nil {
			t.Errorf("%s: replay accepted a broken recording", c.name)
		}
	}
}

// TestRecordToDirWritesReplayableFiles: a manager recording to a directory
// writes one file per match, named by room and match, which ReplayFile
// re-runs to the recorded digest and reports.
func TestRecordToDirWritesReplayableFiles(t *testing.T) {
	dir := t.TempDir()
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: []gameloop.Mode{dot}, RecordTo: gameloop.RecordToDir(filepath.Join(dir, "rec")),
		Clock:    gameloop.NewManualClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false),
		Settings: map[string]gameloop.Settings{"dot": {Duration: 5 * time.Second}},
	})
	room := gameloop.NewHandRoom(m, "dot", 0)
	for _, id := range []string{"p1", "bot-1", "p2"} {
		if err := room.Join(gameloop.Participant{ID: id, Name: "Name " + id}); err != nil {
			t.Fatal(err)
		}
	}
	room.Start()
	for i := 0; room.State() == gameloop.StateRunning; i++ {
		if err := room.Input("p1", []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			room.Leave("p2")
		}
		room.Step()
	}
	files, err := filepath.Glob(filepath.Join(dir, "rec", "*.jsonl"))
	if err != nil || len(files) != 1 {
		t.Fatalf("recordings %v, %v", files, err)
	}
	if name := filepath.Base(files[0]); !regexp.MustCompile(`^r_[0-9a-f]+_m_[0-9a-f]+\.jsonl$`).MatchString(name) {
		t.Errorf("recording named %s, want <room>_<match>.jsonl", name)
	}
	res, err := gameloop.ReplayFile(bg, []gameloop.Mode{dot}, files[0])
	if err != nil || res.Steps != 100 || res.Digest != res.Recorded {
		t.Fatalf("replay of the file: %+v, %v", res, err)
	}
	var out bytes.Buffer
	if err := res.WriteReport(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mode dot", "100 ticks", "digest " + res.Digest + " matches the recording", "Name p1 ", "Name p2 (left)", "(bot)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := gameloop.ReplayFile(bg, []gameloop.Mode{dot}, filepath.Join(dir, "none.jsonl")); err == nil || !strings.Contains(err.Error(), "none.jsonl") {
		t.Errorf("replay of a missing file: %v", err)
	}
}
