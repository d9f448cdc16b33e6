package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
)

type nopSink struct{}

func (nopSink) Send(*comet.Message) {}

// TestManyRoomsNeverLoopOnReset is issue 12's room flood: with thousands of
// rooms the full room list outgrew the replay buffer, so every new session
// looped on sys.reset. The list is now bounded (roomListMax, with a total),
// so a newcomer gets its fresh state once, and a session resuming past its
// buffer gets exactly one reset, then fresh state, then whatever follows.
func TestManyRoomsNeverLoopOnReset(t *testing.T) {
	const rooms = 1200
	ts := startServer(t, func(c *Config) {
		c.Hub.ReplayBytes = 96 << 10 // the flood's full list was 773 KiB against 512
		c.Game.MaxRooms = rooms + 10
		c.Game.MaxRoomsPerCreator = rooms + 10
		c.Game.EmptyTimeout = time.Hour
		c.Game.BotFillDelay = time.Hour
	})
	ctx := context.Background()
	for i := range rooms {
		p := gameloop.Participant{ID: fmt.Sprintf("p_flood%d", i), Name: fmt.Sprintf("Flood %d", i), Sink: nopSink{}}
		if _, err := ts.Games().Create(ctx, gameloop.RoomSpec{Mode: "arena", Name: fmt.Sprint("room ", i)}, p); err != nil {
			t.Fatalf("create room %d: %v", i, err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		ts.lobby.mu.Lock()
		defer ts.lobby.mu.Unlock()
		if len(ts.lobby.rooms) != rooms {
			return fmt.Errorf("lobby knows %d rooms", len(ts.lobby.rooms))
		}
		return nil
	})

	c := newClient(t, ts.URL)
	st := c.open("sse", 0)
	defer st.close()
	var list roomsMsg
	for seen := 0; ; seen++ {
		ev := st.next(t, 5*time.Second)
		if ev.Type == "sys.reset" {
			t.Fatalf("a new session got sys.reset as event %d", ev.Seq)
		}
		if ev.Type == "lobby.rooms" {
			if err := json.Unmarshal(ev.Data, &list); err != nil {
				t.Fatal(err)
			}
			if len(ev.Data) > 96<<10/2 {
				t.Fatalf("the full room list is %d bytes", len(ev.Data))
			}
			break
		}
	}
	if !list.Full || len(list.Rooms) != roomListMax || list.Total != rooms {
		t.Fatalf("full list: full=%v, %d rooms listed, total %d; want %d listed of %d", list.Full, len(list.Rooms), list.Total, roomListMax, rooms)
	}

	// Resume from before the buffer: one reset, the fresh state, then a
	// pong as the fence — with no second reset anywhere before it.
	sess, _ := ts.Hub().Session(c.SID)
	for i := range 200 {
		sess.Send(comet.MustMessage("test.pad", map[string]any{"i": i, "pad": string(make([]byte, 1024))}))
	}
	st.close()
	st2 := c.open("sse", 1)
	defer st2.close()
	if ev := st2.next(t, 5*time.Second); ev.Type != "sys.reset" {
		t.Fatalf("resuming past the buffer gave %s first, want sys.reset", ev.Type)
	}
	c.send("sys.ping", map[string]float64{"t": 42})
	for {
		ev := st2.next(t, 5*time.Second)
		if ev.Type == "sys.reset" {
			t.Fatalf("a second sys.reset (seq %d): the fresh state pushed itself out", ev.Seq)
		}
		if ev.Type == "sys.pong" {
			break
		}
	}
}

// TestLiveSessionsPerAddress: one address cannot keep more than
// SessionsPerIP sessions alive (polling kept 140 MB of them alive from one
// address); an expired session frees its place. IPv6 addresses count by /64.
func TestLiveSessionsPerAddress(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Limits.SessionsPerIP = 3
		c.Hub.Grace = 3 * time.Second // long enough that the first three are alive for the fourth, under load
	})
	for range 3 {
		newClient(t, ts.URL)
	}
	newSession := func() (int, string) {
		resp, err := http.Post(ts.URL+"/comet/session", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := newSession(); code != http.StatusTooManyRequests || !strings.Contains(body, "live sessions") {
		t.Fatalf("4th live session: %d %s, want 429", code, body)
	}
	// The sessions expire (nobody attaches); the address may open new ones.
	checkFor(t, 20*time.Second, func() error {
		if code, body := newSession(); code != http.StatusCreated {
			return fmt.Errorf("after expiry: %d %s", code, body)
		}
		return nil
	})

	for _, tc := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
		{"2001:db8:1:2::1", "2001:db8:1:2::1"},
		{"192.0.2.1", "192.0.2.1"},
	} {
		if ka, kb := limitKey(netip.MustParseAddr(tc.a)), limitKey(netip.MustParseAddr(tc.b)); ka != kb {
			t.Errorf("%s and %s limit as %s and %s, want one key", tc.a, tc.b, ka, kb)
		}
	}
	if limitKey(netip.MustParseAddr("2001:db8:1:2::1")) == limitKey(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Error("two /64s share a limit key")
	}
	if limitKey(netip.MustParseAddr("192.0.2.1")) == limitKey(netip.MustParseAddr("192.0.2.2")) {
		t.Error("two IPv4 addresses share a limit key")
	}
}

// TestExpensiveEventsAreBudgeted: one POST of 64 room.resync rendered 64
// snapshots; 100 POSTs of room.create opened 6,400 rooms. Each expensive
// event now draws from its budget (the cost table), and the excess is
// refused with sys.error rate_limited, one per event.
func TestExpensiveEventsAreBudgeted(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		c.Game.EmptyTimeout = time.Minute
		c.Game.MaxRoomsPerCreator = 100
		c.Limits.RoomsPerMinute = 6
	})
	a := openTab(t, ts.URL, "")
	a.send("room.join", map[string]string{"mode": "arena"})
	a.joined(t)
	var evs []any
	for range 20 {
		evs = append(evs, "room.resync", map[string]any{})
	}
	a.send(evs...)
	refused := 0
	for refused < 20-costRules[costOf["room.resync"]].burst {
		ev := a.waitFor(t, func(ev wireEvent) bool { return ev.Type == "sys.error" })
		if e := decodeAs[sysError](t, ev); e.Code != comet.ERATELIMIT {
			t.Fatalf("refusal %+v, want rate_limited", e)
		}
		refused++
	}

	// room.create is budgeted per address, across tabs and players.
	b := openTab(t, ts.URL, "")
	created := 0
	for i := range 8 {
		tb := b
		if i%2 == 1 {
			tb = openTab(t, ts.URL, "")
		}
		tb.send("room.create", map[string]any{"mode": "tag", "name": fmt.Sprint("r", i)})
		ev := tb.waitFor(t, func(ev wireEvent) bool { return ev.Type == "room.joined" || ev.Type == "sys.error" })
		if ev.Type == "room.joined" {
			created++
			continue
		}
		if e := decodeAs[sysError](t, ev); e.Code != comet.ERATELIMIT {
			t.Fatalf("room.create refused with %+v, want rate_limited", e)
		}
	}
	if created != 5 {
		t.Fatalf("%d rooms created from one address in a burst, want 5", created)
	}
}
