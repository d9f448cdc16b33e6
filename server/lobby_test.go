package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"comet/gameloop"
	"comet/server/bus"
	"comet/server/push"
)

// TestSessionStartsInLobby: every session begins with the full room list, the
// online list and the lobby chat history, in that order, seq 1 to 3.
func TestSessionStartsInLobby(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.Game.EmptyTimeout = time.Minute })
	host := openTab(t, ts.URL, "")
	host.send("room.create", map[string]any{"mode": "arena", "name": "Open Room"})
	room := host.joined(t).Room
	host.send("room.create", map[string]any{"mode": "snake", "private": true})
	hidden := host.joined(t)
	host.send("chat.say", map[string]string{"channel": "lobby", "text": "hello lobby"})
	host.chatText(t, "hello lobby")
	host.roomUpdate(t, hidden.Room, func(info *gameloop.RoomInfo) bool { return info != nil })

	c := newClient(t, ts.URL)
	st := c.open("sse", 0)
	defer st.close()
	rooms := st.next(t, eventWait)
	pres := st.next(t, eventWait)
	if rooms.Type != "lobby.rooms" || pres.Type != "lobby.presence" || rooms.Seq != 1 || pres.Seq != 2 {
		t.Fatalf("session starts with %d %s, %d %s", rooms.Seq, rooms.Type, pres.Seq, pres.Type)
	}
	hist := st.next(t, eventWait)
	for hist.Type == "lobby.rooms" || hist.Type == "lobby.presence" { // live updates may come first
		hist = st.next(t, eventWait)
	}
	if hist.Type != "chat.history" {
		t.Fatalf("then %s %s, want chat.history", hist.Type, hist.Data)
	}

	wantKeys(t, "lobby.rooms", rooms.Data, "full", "rooms", "closed", "total")
	r := decodeAs[wireRooms](t, rooms)
	if !r.Full || len(r.Rooms) != 1 || len(r.Closed) != 0 {
		t.Fatalf("full room list %s: want the public room alone", rooms.Data)
	}
	for _, info := range r.Rooms {
		raw := roomJSON(t, rooms, info.ID)
		wantKeys(t, "room info", raw, "id", "name", "mode", "players", "max", "spectators", "state", "private")
		switch info.ID {
		case room: // the creator left it for the private room: nobody plays
			if info.Name != "Open Room" || info.Mode != "arena" || info.Private || info.State != gameloop.StateWaiting {
				t.Fatalf("public room listed as %+v", info)
			}
		case hidden.Room:
			t.Fatalf("a stranger sees the private room %s", rooms.Data)
		}
	}

	// Its creator's new tab sees it: the full list, then its own private
	// rooms as an upsert (without the code).
	mine := openSession(t, ts.URL, host.Token).open("sse", 0)
	defer mine.close()
	if ev := mine.next(t, eventWait); ev.Type != "lobby.rooms" || len(decodeAs[wireRooms](t, ev).Rooms) != 1 {
		t.Fatalf("creator's tab starts with %s %s", ev.Type, ev.Data)
	}
	for {
		ev := mine.next(t, eventWait)
		if ev.Type != "lobby.rooms" {
			continue
		}
		own := decodeAs[wireRooms](t, ev)
		if own.Full || len(own.Rooms) != 1 || own.Rooms[0].ID != hidden.Room || !own.Rooms[0].Private {
			t.Fatalf("creator's private rooms: %s", ev.Data)
		}
		wantKeys(t, "private room info", roomJSON(t, ev, hidden.Room), "id", "name", "mode", "players", "max", "spectators", "state", "private")
		break
	}

	wantKeys(t, "lobby.presence", pres.Data, "count", "players")
	if p := decodeAs[wirePresence](t, pres); p.Count < 1 || !hasPlayer(p, host.Player.ID, host.Player.Name) {
		t.Fatalf("presence %s", pres.Data)
	}

	wantKeys(t, "chat.history", hist.Data, "channel", "messages")
	h := decodeAs[wireHistory](t, hist)
	if h.Channel != "lobby" || len(h.Messages) != 1 || h.Messages[0].Text != "hello lobby" {
		t.Fatalf("lobby history %s", hist.Data)
	}
}

// roomJSON returns the raw object of room id inside a lobby.rooms event.
func roomJSON(t testing.TB, ev wireEvent, id string) []byte {
	t.Helper()
	v := decodeAs[struct {
		Rooms []map[string]any `json:"rooms"`
	}](t, ev)
	for _, r := range v.Rooms {
		if r["id"] == id {
			return mustJSON(t, r)
		}
	}
	t.Fatalf("room %s not in %s", id, ev.Data)
	return nil
}

// TestLobbyRoomsFollowsRooms: creating, joining, spectating, leaving and a
// room closing each reach every lobby subscriber, in rooms or not.
func TestLobbyRoomsFollowsRooms(t *testing.T) {
	ts := startGameServer(t, nil)
	watcher := openTab(t, ts.URL, "") // stays in the lobby
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")

	a.send("room.create", map[string]any{"mode": "arena", "name": "Duel", "max": 2})
	j := a.joined(t)
	if j.Name != "Duel" || j.Mode != "arena" || j.Max != 2 || j.Spectator || j.Private || j.Code != "" {
		t.Fatalf("room.joined %+v", j)
	}
	id := j.Room
	players := func(n, spect int) func(*gameloop.RoomInfo) bool {
		return func(info *gameloop.RoomInfo) bool {
			return info != nil && info.Players == n && info.Spectators == spect && info.Max == 2 && info.Name == "Duel"
		}
	}
	for _, tb := range []*testTab{watcher, a, b} { // a player in a room still hears the lobby
		tb.roomUpdate(t, id, players(1, 0))
	}
	// Changes arrive as upserts, not as full lists.
	b.send("room.join", map[string]string{"room": id})
	b.joined(t)
	ev := watcher.waitFor(t, ofType("lobby.rooms"))
	if r := decodeAs[wireRooms](t, ev); r.Full || len(r.Rooms) != 1 || r.Rooms[0].ID != id || r.Rooms[0].Players != 2 {
		t.Fatalf("after a join: %s", ev.Data)
	}

	c := openTab(t, ts.URL, "")
	c.expectRefused(t, "room.join", map[string]string{"room": id}, "conflict", "full")
	c.send("room.spectate", map[string]string{"room": id})
	if j := c.joined(t); !j.Spectator || j.Room != id {
		t.Fatalf("spectate: %+v", j)
	}
	watcher.roomUpdate(t, id, players(2, 1))

	a.send("room.leave", struct{}{})
	watcher.roomUpdate(t, id, players(1, 1))
	b.send("room.leave", struct{}{})
	c.send("room.leave", struct{}{})
	// Empty, the room closes (EmptyTimeout) and is listed as closed.
	watcher.roomUpdate(t, id, func(info *gameloop.RoomInfo) bool { return info == nil })
	for _, info := range firstRooms(t, ts.URL).Rooms {
		if info.ID == id {
			t.Fatal("closed room still in a newcomer's full list")
		}
	}
}

// firstRooms opens a session and returns the full room list it starts with.
func firstRooms(t testing.TB, base string) wireRooms {
	t.Helper()
	c := newClient(t, base)
	st := c.open("sse", 0)
	defer st.close()
	ev := st.next(t, eventWait)
	r := decodeAs[wireRooms](t, ev)
	if ev.Type != "lobby.rooms" || !r.Full {
		t.Fatalf("first event %s %s", ev.Type, ev.Data)
	}
	return r
}

// TestLobbyPresence: the online list counts players (not tabs), follows
// arrivals, renames and departures, and is coalesced to about one per second.
func TestLobbyPresence(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.Hub.Grace = 200 * time.Millisecond })
	w := openTab(t, ts.URL, "")
	checkPresence(t, w, func(p wirePresence) bool { return p.Count == 1 && hasPlayer(p, w.Player.ID, w.Player.Name) })

	start := time.Now()
	var tabs []*testTab
	for range 5 {
		tabs = append(tabs, openTab(t, ts.URL, ""))
	}
	openTab(t, ts.URL, tabs[0].Token) // a second tab of one player is not a second player
	burst := time.Since(start)
	events := 0
	checkPresence(t, w, func(p wirePresence) bool {
		events++
		return p.Count == 6
	})
	// Coalescing: six arrivals within burst produce at most one update per
	// second (plus the one in flight when the burst began).
	if limit := 3 + int(burst/time.Second); events > limit {
		t.Fatalf("%d presence updates for six arrivals in %v; want at most %d", events, burst, limit)
	}

	// A departure (a session expiring: this one never attaches a stream) is
	// seen too.
	gone := newClient(t, ts.URL)
	p := checkPresence(t, w, func(p wirePresence) bool { return p.Count == 6 && !hasPlayer(p, gone.Player.ID, gone.Player.Name) })
	// Sorted by name, case-insensitively.
	for i := 1; i < len(p.Players); i++ {
		if strings.ToLower(p.Players[i-1].Name) > strings.ToLower(p.Players[i].Name) {
			t.Fatalf("presence not sorted by name: %+v", p.Players)
		}
	}

}

// TestLobbyPresenceBounded: with more players online than the list holds,
// count stays exact and the list is capped.
func TestLobbyPresenceBounded(t *testing.T) {
	ts := startGameServer(t, nil)
	w := openTab(t, ts.URL, "")
	for range presenceListMax + 5 {
		newClient(t, ts.URL) // sessions count as online from their start
	}
	p := checkPresence(t, w, func(p wirePresence) bool { return p.Count == presenceListMax+6 })
	if len(p.Players) != presenceListMax {
		t.Fatalf("presence lists %d players, want %d", len(p.Players), presenceListMax)
	}
}

// BenchmarkLobbyPresence measures building the online list for a busy lobby:
// the cost paid once per second, not once per session.
func BenchmarkLobbyPresence(b *testing.B) {
	for _, n := range []int{100, 5000} {
		b.Run(fmt.Sprint(n, " sessions"), func(b *testing.B) {
			br := bus.New()
			hub := push.NewHub(push.Config{Bus: br, Logger: quietLogger()})
			defer hub.Close(context.Background())
			tabs := make([]*tab, n)
			for i := range n {
				t := &tab{playerID: fmt.Sprint("p_", i)}
				t.setName(fmt.Sprint("Player ", i))
				t.Session = hub.NewSession(t.playerID, t)
				tabs[i] = t
			}
			l := newLobby(br, func() []*tab { return tabs }, func(string) []*tab { return nil })
			b.ReportAllocs()
			for b.Loop() {
				l.presenceMessage()
			}
		})
	}
}
