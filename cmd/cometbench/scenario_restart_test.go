package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The restart scenario reads its save and restore times from the server's
// log lines as cmd/comet writes them.
func TestHandoverLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.log")
	log := `time=2026-11-29T05:21:50.498Z level=INFO msg="comet listening" addr=127.0.0.1:1
time=2026-11-29T05:21:50.520Z level=INFO msg="room frozen" room=r_1 mode=arena tick=412 state=running match=m_1 members=10 log_bytes=30500
time=2026-11-29T05:21:50.521Z level=INFO msg="room frozen" room=r_2 mode=arena tick=380 state=running match=m_2 members=10 log_bytes=28000
time=2026-11-29T05:21:50.530Z level=INFO msg="hand-over saved" sessions=200 rooms=2 bytes=1474659 freeze=3ms drain=8ms snapshot=0s encode=26ms write=5ms save=32ms
time=2026-11-29T05:21:51.090Z level=INFO msg="hand-over rooms thawed" rooms=2 of=2 took=41ms
time=2026-11-29T05:21:51.100Z level=INFO msg="hand-over restored" sessions=199 events=3081 rooms=2 rooms_cleared=0 bytes=1474659 from=dev saved_at=2026-11-29T05:21:50.498Z take=27ms decode=62ms register=0s state=6ms took=96ms
`
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := logFields(path, "hand-over saved")
	if saved.duration("drain") != 8*time.Millisecond || saved.duration("save") != 32*time.Millisecond ||
		saved.duration("freeze") != 3*time.Millisecond || saved.int("sessions") != 200 || saved.int("rooms") != 2 {
		t.Fatalf("saved: %v", saved)
	}
	restored := logFields(path, "hand-over restored")
	if restored.duration("took") != 96*time.Millisecond || restored.int("sessions") != 199 || restored.int("rooms") != 2 {
		t.Fatalf("restored: %v", restored)
	}
	if d := logFields(path, "hand-over rooms thawed").duration("took"); d != 41*time.Millisecond {
		t.Fatalf("thawed: took %v", d)
	}
	if f := logFields(path, "no such line"); len(f) != 0 || f.duration("took") != 0 || f.int("rooms") != 0 {
		t.Fatalf("a missing line: %v", f)
	}
	if tick, n := frozenRooms(path); tick != 412 || n != 58500 {
		t.Fatalf("frozen rooms: tick %d, %d log bytes", tick, n)
	}
}

// check counts what a stream lost, repeated or reset, and its restarts.
func TestRestartClientCheck(t *testing.T) {
	c := &rclient{}
	c.add([]rev{{Seq: 1, Type: "a"}, {Seq: 2, Type: "sys.restart"}, {Seq: 3, Type: "b"}, {Seq: 3, Type: "b"},
		{Seq: 6, Type: "sys.reset"}, {Seq: 7, Type: "sys.restart"}})
	lost, dup, resets, restarts := c.check()
	if lost != 2 || dup != 1 || resets != 1 || restarts != 2 {
		t.Fatalf("lost %d dup %d resets %d restarts %d; want 2 1 1 2", lost, dup, resets, restarts)
	}
	if !c.afterRestart(1) || c.afterRestart(2) {
		t.Fatal("afterRestart: the first restart has events after it, the second none")
	}
}

// A player's play gap runs from its last room.diff before sys.restart to
// its first after; a player that leaves its room, is told it closed, or
// finds another match is reported.
func TestRestartPlayGap(t *testing.T) {
	ev := func(seq uint64, typ, data string) rev {
		return rev{Seq: seq, Type: typ, Data: json.RawMessage(data)}
	}
	c := &rclient{sid: "s1"}
	c.add([]rev{ev(1, "room.joined", `{"room":"r_1"}`), ev(2, "room.state", `{"state":"running","match":"m_1"}`),
		ev(3, "room.snapshot", `{}`), ev(4, "room.diff", `{}`)})
	t0 := time.Now()
	c.add([]rev{ev(5, "room.diff", `{}`)})
	c.add([]rev{ev(6, "chat.msg", `{}`), ev(7, "sys.restart", `{}`)})
	if !c.playing() || c.joinedRoom() != "r_1" {
		t.Fatalf("playing %v in %q", c.playing(), c.joinedRoom())
	}
	if _, ok := c.playGap(1); ok {
		t.Fatal("a gap before any diff after the restart")
	}
	c.add([]rev{ev(8, "room.joined", `{"room":"r_1"}`), ev(9, "room.state", `{"state":"running","match":"m_1"}`), ev(10, "room.snapshot", `{}`)})
	if _, ok := c.playGap(1); ok {
		t.Fatal("a snapshot ended the gap; a diff should")
	}
	t1 := time.Now()
	c.add([]rev{ev(11, "room.diff", `{}`)})
	g, ok := c.playGap(1)
	if !ok || g.before.Before(t0) || g.before.After(t1) || g.after.Before(t1) {
		t.Fatalf("gap %+v %v: want from the diff before the restart to the first after", g, ok)
	}
	if err := c.checkRoom(1); err != nil {
		t.Fatal(err)
	}
	if err := c.checkRoom(2); err == nil {
		t.Fatal("checkRoom(2): one welcome back missing, no error")
	}

	for name, tail := range map[string][]rev{
		"closed":      {ev(12, "room.closed", `{"room":"r_1","reason":"restart"}`)},
		"other room":  {ev(12, "room.joined", `{"room":"r_2"}`)},
		"other match": {ev(12, "room.state", `{"state":"running","match":"m_2"}`)},
		"match ended": {ev(12, "room.state", `{"state":"ended","match":"m_1"}`)},
	} {
		d := &rclient{sid: "s2"}
		d.add(append(append([]rev(nil), c.evs...), tail...))
		if err := d.checkRoom(1); err == nil || !strings.Contains(err.Error(), "seq 12") {
			t.Errorf("%s: checkRoom %v, want the error at seq 12", name, err)
		}
	}
}

// The rooms path end to end: the real binary restarted twice with players
// in rooms; the report has the rooms' table, every player back in its room
// and match, and nothing lost.
func TestRestartWithRooms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and restarts the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	err := runRestartCmd(ctx, []string{"--sessions", "12", "--rooms", "2", "--publishers", "2", "--rounds", "2",
		"--interval", "1s", "--input-every", "200ms", "--work", t.TempDir()}, &out, &errs)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errs.String())
	}
	rep := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`0 events lost, 0 repeated, 0 sys.reset, 24 sys.restart \(want 24\)`),
		regexp.MustCompile(`12 players in 2 arena rooms`),
		regexp.MustCompile(`(?m)^\| 1 \| 2 / 2 \| tick [1-9]\d* \| `),
		regexp.MustCompile(`(?m)^\| 2 \| 2 / 2 \| tick [1-9]\d* \| `),
		regexp.MustCompile(`Players who left their room or match: 0 of 12`),
		regexp.MustCompile(`Every player playing again within \d+ ms of the new process's start`),
	} {
		if !want.MatchString(rep) {
			t.Errorf("report lacks %s:\n%s", want, rep)
		}
	}
}

// gap reads a restart's session gap (sys.restart to the next event) and the
// chat's longest silence between two marks, not beyond.
func TestRestartGapWindow(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	c := &rclient{evs: []rev{
		{Seq: 1, Type: "chat.msg", at: at(0)}, {Seq: 2, Type: "chat.msg", at: at(1000)},
		{Seq: 3, Type: "sys.restart", at: at(1500)}, {Seq: 4, Type: "room.joined", at: at(1800)},
		{Seq: 5, Type: "chat.msg", at: at(2500)},
		{Seq: 6, Type: "chat.msg", at: at(6000)}, // after the next mark
	}}
	g, chat := c.gap(2, 5, 1)
	if g != 300*time.Millisecond || chat != 1500*time.Millisecond {
		t.Fatalf("gap %v, chat silence %v; want 300ms, 1.5s", g, chat)
	}
	if _, chat := c.gap(2, 6, 1); chat != 3500*time.Millisecond {
		t.Fatalf("to the end: chat silence %v, want 3.5s", chat)
	}
}
