package browsertest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recordEvents makes the page keep a line per event the client delivers
// (seq, type, and for room events what a hand-over must keep: a diff's base
// and tick, a snapshot's tick and match, room.state's match and state).
const recordEvents = `(() => {
	window.delivered = [];
	comet.client.onAny((ev) => {
		const d = ev.data || {};
		const line = { seq: ev.seq, type: ev.type };
		if (ev.type === "room.diff") Object.assign(line, { b: d.b, t: d.t });
		if (ev.type === "room.snapshot") Object.assign(line, { t: d.t, match: d.m });
		if (ev.type === "room.state") Object.assign(line, { t: d.tick, match: d.match, state: d.state });
		window.delivered.push(line);
	});
	return true;
})()`

// delivered is one line of recordEvents.
type delivered struct {
	Seq   int    `json:"seq"`
	Type  string `json:"type"`
	B     int    `json:"b"`
	T     int    `json:"t"`
	Match string `json:"match"`
	State string `json:"state"`
}

// sinceRestart returns the lines delivered after the last sys.restart, and
// whether there was one.
func sinceRestart(log []delivered) ([]delivered, bool) {
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Type == "sys.restart" {
			return log[i+1:], true
		}
	}
	return nil, false
}

// seated is what a player's page holds that a graceful restart must keep.
type seated struct {
	SID        string         `json:"sid"`
	Name       string         `json:"name"`
	Transport  string         `json:"transport"`
	Room       string         `json:"room"`
	Match      string         `json:"match"`
	You        int            `json:"you"`
	Tick       int            `json:"tick"`
	Resyncs    int            `json:"resyncs"`
	Duplicates int            `json:"duplicates"`
	Scores     map[string]int `json:"scores"`
}

// seatedNow reads the page's session, room, match, tick, its player's name
// as the room labels it, and the tag scores by name (a "p" entity's fields
// are x, y, it, frozen, score).
func seatedNow(t *testing.T, p *Page) seated {
	t.Helper()
	return Eval[seated](t, p, `(() => {
		const s = comet.state(), c = comet.client, scores = {};
		for (const e of comet.room.view.ents.values()) if (e.kind === "p") scores[e.label] = e.f[4];
		return { sid: c.sessionInfo.sid, name: comet.room.view.ents.get(s.you)?.label ?? "", transport: c.transport,
			room: s.room, match: s.match, you: s.you, tick: s.tick, resyncs: s.resyncs,
			duplicates: c.stats.duplicates, scores };
	})()`)
}

// walk holds the key that moves the page's own player towards the middle of
// the field (a spawn by an edge has no room the other way) until its own
// view shows it 500 away, then lets go.
func walk(t *testing.T, p *Page) {
	t.Helper()
	you := roomOf(t, p).You
	at := posOf(t, p, you)
	field := Eval[[2]float64](t, p, `(() => { const w = comet.room.view.ents.get(1048576); return w ? [w.f[0], w.f[1]] : [0, 0]; })()`)
	dir, code, k, vk := 1.0, "KeyD", "d", int64(68)
	if at[0] > field[0]/2 {
		dir, code, k, vk = -1, "KeyA", "a", 65
	}
	key(t, p, code, k, vk, true)
	// A tagged player stands still for a second, then walks on.
	p.WaitFor(t, fmt.Sprintf(`(() => { const e = comet.room.view.ents.get(%d); return e && (e.f[0] - %v) * %v >= 500; })()`, you, at[0], dir))
	key(t, p, code, k, vk, false)
}

// A deploy: SIGTERM and a new process on the same address and database.
// Three players in a tag room (iframe, multipart and the default transport,
// which moves to WebSocket) play on as if nothing happened: the same session
// (no renewal), room, match and names, the tick going on from where it
// stopped with the scores it had, every event delivered exactly once (no
// sys.reset, no seq gap or repeat, an unbroken chain of diffs), each page
// open on its streaming transport and walking within 10 s of the new process
// answering, and the banner saying the server restarted.
func TestGracefulRestart(t *testing.T) {
	addr, db, srv := startFresh(t)

	players := []struct{ name, query, transport string }{
		{"Ada", "?transport=iframe", "iframe"},
		{"Bob", "?transport=multipart", "multipart"},
		{"Cy", "", "ws"},
	}
	pages := make([]*Page, len(players))
	var room string
	for i, pl := range players {
		p := testBrowser(t).NewPage(t, "http://"+addr+"/"+pl.query)
		// Generous for a busy machine; the figures asserted are timed apart.
		p.SetTimeout(30 * time.Second)
		p.WaitFor(t, `window.comet && comet.client.status === "open" && document.querySelector('[data-testid="name-input"]').value !== ""`)
		setName(t, p, pl.name)
		Eval[bool](t, p, recordEvents)
		p.Do(t, "quick play", clickQuickPlay("tag"))
		p.WaitFor(t, `comet.state().room !== "" && comet.state().tick > 0`)
		if r := roomOf(t, p).Room; room == "" {
			room = r
		} else if r != room {
			t.Fatalf("%s is in %q, want %q with the others", pl.name, r, room)
		}
		pages[i] = p
	}
	// Playing: the match runs, each walks, and scores are being made.
	for i, p := range pages {
		p.WaitFor(t, `document.querySelector('[data-testid="room-state"]').textContent.includes("left")`)
		p.WaitFor(t, fmt.Sprintf(`comet.client.transport === %q && comet.client.status === "open"`, players[i].transport))
		walk(t, p)
	}
	pages[0].WaitFor(t, `[...comet.room.view.ents.values()].filter(e => e.kind === "p" && e.f[4] >= 2).length >= 2`)
	before := make([]seated, len(pages))
	for i, p := range pages {
		before[i] = seatedNow(t, p)
		if before[i].Match == "" || before[i].Name != players[i].name {
			t.Fatalf("%s before the restart: %+v", players[i].name, before[i])
		}
	}

	srv.term(t)
	startProc(t, addr, db)
	answered := time.Now()

	// Each page back: open on its transport, the same session, and the new
	// process's diffs half a second of play past where it took over. Then
	// each walks again.
	for i, p := range pages {
		p.WaitFor(t, fmt.Sprintf(`(() => {
			const c = comet.client, log = window.delivered;
			let i = log.length - 1;
			while (i >= 0 && log[i].type !== "sys.restart") i--;
			const diffs = log.slice(i + 1).filter(l => l.type === "room.diff");
			return i >= 0 && c.status === "open" && c.transport === %q && c.sessionInfo.sid === %q &&
				diffs.length > 0 && diffs[diffs.length - 1].t >= diffs[0].b + 10;
		})()`, players[i].transport, before[i].SID))
		if d := time.Since(answered); d > 10*time.Second {
			t.Errorf("%s open on %s and ticking %v after the new process answered, want within 10 s", players[i].name, players[i].transport, d)
		}
	}
	for i, p := range pages {
		walk(t, p)
		d := time.Since(answered)
		if d > 10*time.Second {
			t.Errorf("%s walking again %v after the new process answered, want within 10 s", players[i].name, d)
		} else {
			t.Logf("%s walking again %v after the new process answered", players[i].name, d.Round(time.Millisecond))
		}
	}

	for i, p := range pages {
		name := players[i].name
		after := seatedNow(t, p)
		if after.SID != before[i].SID || after.Room != before[i].Room || after.Match != before[i].Match {
			t.Errorf("%s: session %s, room %s, match %s after the restart; want %s, %s, %s",
				name, after.SID, after.Room, after.Match, before[i].SID, before[i].Room, before[i].Match)
		}
		if after.Name != name || after.You != before[i].You {
			t.Errorf("%s is %q (entity %d) after the restart, want %q (entity %d)", name, after.Name, after.You, name, before[i].You)
		}
		if got := Eval[string](t, p, `document.querySelector('[data-testid="name-input"]').value`); got != name {
			t.Errorf("%s: the name field reads %q after the restart", name, got)
		}
		if after.Tick <= before[i].Tick || after.Resyncs != before[i].Resyncs || after.Duplicates != before[i].Duplicates {
			t.Errorf("%s: tick %d → %d, resyncs %d → %d, duplicates dropped %d → %d across the restart; want the tick on, no resync, no repeat",
				name, before[i].Tick, after.Tick, before[i].Resyncs, after.Resyncs, before[i].Duplicates, after.Duplicates)
		}
		for who, score := range before[i].Scores {
			if got, ok := after.Scores[who]; !ok || got < score {
				t.Errorf("%s sees %s with score %d (present %v) after the restart, %d before", name, who, got, ok, score)
			}
		}
		for _, pl := range players {
			if _, ok := after.Scores[pl.name]; !ok {
				t.Errorf("%s does not see %s in the room after the restart: %v", name, pl.name, after.Scores)
			}
		}
		checkContinuity(t, name, Eval[[]delivered](t, p, `window.delivered`), before[i].Match)
		// The notice stays in data-last-notice once the banner hides.
		p.WaitFor(t, `(document.querySelector('[data-testid="reconnect-banner"]').dataset.lastNotice || "").includes("The server restarted")`)
		for _, e := range appErrors(p) {
			if !strings.Contains(e, "404") && !strings.Contains(e, "Failed to load") {
				t.Errorf("%s: page error: %s", name, e)
			}
		}
	}
}

// checkContinuity asserts exactly-once delivery across the restart: seqs go
// up by one with no reset, one sys.restart, every diff builds on the tick
// before it, and after the restart every room.state and snapshot is of the
// match that was running and no tick goes back.
func checkContinuity(t *testing.T, name string, log []delivered, match string) {
	t.Helper()
	restarts, tick := 0, -1
	for i, l := range log {
		if i > 0 && l.Seq != log[i-1].Seq+1 {
			t.Errorf("%s: seq %d (%s) delivered after %d", name, l.Seq, l.Type, log[i-1].Seq)
		}
		switch l.Type {
		case "sys.reset":
			t.Errorf("%s: sys.reset at seq %d: events were lost", name, l.Seq)
		case "sys.restart":
			restarts++
		case "room.snapshot":
			if restarts > 0 && (l.Match != match || l.T < tick) {
				t.Errorf("%s: a snapshot of match %s at tick %d after the restart, at tick %d of %s", name, l.Match, l.T, tick, match)
			}
			tick = l.T
		case "room.diff":
			if tick >= 0 && l.B != tick {
				t.Errorf("%s: a diff from tick %d to %d after tick %d", name, l.B, l.T, tick)
			}
			tick = l.T
		case "room.state":
			if restarts > 0 && l.Match != match {
				t.Errorf("%s: room.state of match %q (%s) after the restart, want %s", name, l.Match, l.State, match)
			}
		}
	}
	if restarts != 1 {
		t.Errorf("%s: %d sys.restart delivered, want 1", name, restarts)
	}
	if after, _ := sinceRestart(log); !hasType(after, "room.diff") {
		b, _ := json.Marshal(after)
		t.Errorf("%s: no diff after the restart: %s", name, b)
	}
}

func hasType(log []delivered, typ string) bool {
	for _, l := range log {
		if l.Type == typ {
			return true
		}
	}
	return false
}
