package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
)

func TestRoomRequestsRefused(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	b.send("room.create", map[string]any{"mode": "tag", "private": true})
	b.joined(t)
	private := ""
	for _, r := range ts.Games().Rooms() {
		private = r.ID
	}
	tests := []struct {
		typ, data, code, msg string
	}{
		{"room.join", `{}`, comet.EINVALID, "needs a mode (quick play) or a room"},
		{"room.join", `{"mode":"chess"}`, comet.EINVALID, `unknown mode "chess"`},
		{"room.join", `{"room":"r_nope"}`, comet.ENOTFOUND, `no room "r_nope"`},
		{"room.join", `{"room":"` + private + `"}`, comet.EFORBIDDEN, "private: join it with its code"},
		{"room.join", `{"room":1}`, comet.EINVALID, "room must be string"},
		{"room.create", `{"mode":"chess"}`, comet.EINVALID, "unknown mode"},
		{"room.create", `{}`, comet.EINVALID, "unknown mode"},
		{"room.create", `{"mode":"arena","max":1}`, comet.EINVALID, "max players must be between 2 and 1000"},
		{"room.create", `{"mode":"tag","max":17}`, comet.EINVALID, "between 2 and 16"},
		{"room.create", `{"mode":"arena","name":"bad<b>"}`, comet.EINVALID, "a room name may hold letters"},
		{"room.create", `{"mode":"arena","name":"` + strings.Repeat("n", 41) + `"}`, comet.EINVALID, "a room name is 1 to 40"},
		{"room.create", `{"mode":"arena","color":"red"}`, comet.EINVALID, `unknown field "color"`},
		{"room.spectate", `{}`, comet.EINVALID, "needs a room"},
		{"room.spectate", `{"room":"r_nope"}`, comet.ENOTFOUND, "no room"},
		{"room.leave", `{}`, comet.ENOTFOUND, "not in a room"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.data, func(t *testing.T) {
			a.expectRefused(t, tt.typ, json.RawMessage(tt.data), tt.code, tt.msg)
		})
	}
	if _, in := ts.Games().RoomOf(a.Player.ID); in {
		t.Fatal("a refused request put the player in a room")
	}
}

// TestQuickPlay: room.join {"mode"} puts players together in an open public
// room of the mode, and a player already playing that mode stays.
func TestQuickPlay(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	c := openTab(t, ts.URL, "")
	a.send("room.join", map[string]string{"mode": "arena"})
	ja := a.joined(t)
	b.send("room.join", map[string]string{"mode": "arena"})
	jb := b.joined(t)
	c.send("room.join", map[string]string{"mode": "snake"})
	jc := c.joined(t)
	if ja.Room != jb.Room || ja.Mode != "arena" || ja.Spectator || ja.Private || jc.Room == ja.Room || jc.Mode != "snake" {
		t.Fatalf("quick play: a %+v, b %+v, c %+v", ja, jb, jc)
	}
	// A private room is never chosen by quick play.
	d := openTab(t, ts.URL, "")
	d.send("room.create", map[string]any{"mode": "tag", "private": true})
	priv := d.joined(t)
	e := openTab(t, ts.URL, "")
	e.send("room.join", map[string]string{"mode": "tag"})
	if je := e.joined(t); je.Room == priv.Room {
		t.Fatal("quick play chose a private room")
	}
	a.waitFor(t, func(ev wireEvent) bool {
		if ev.Type != "lobby.rooms" {
			return false
		}
		for _, r := range decodeAs[wireRooms](t, ev).Rooms {
			if r.ID == ja.Room && r.Players == 2 {
				return true
			}
		}
		return false
	})
}

// TestPrivateRoom: a private room's code is shown to its creator only, in
// room.joined; others join or watch it by code (any case), never by id.
func TestPrivateRoom(t *testing.T) {
	ts := startGameServer(t, nil)
	host := openTab(t, ts.URL, "")
	guest := openTab(t, ts.URL, "")
	fan := openTab(t, ts.URL, "")
	host.send("room.create", map[string]any{"mode": "arena", "name": "Secret Club", "max": 4, "private": true})
	j := host.joined(t)
	if !j.Private || len(j.Code) != 6 || j.Name != "Secret Club" || j.Max != 4 {
		t.Fatalf("creator's room.joined %+v", j)
	}
	// Not in anyone else's list: a public room created after it is the
	// fence — the lobby publishes in order, so a leak would come first.
	fan.send("room.create", map[string]any{"mode": "tag", "name": "Open Door"})
	open := fan.joined(t)
	guest.waitFor(t, func(ev wireEvent) bool {
		if ev.Type != "lobby.rooms" {
			return false
		}
		if strings.Contains(string(ev.Data), j.Room) || strings.Contains(string(ev.Data), j.Code) {
			t.Fatalf("a stranger's lobby lists the private room: %s", ev.Data)
		}
		return strings.Contains(string(ev.Data), open.Room)
	})
	var listed struct{ Rooms []gameloop.RoomInfo }
	if httpJSON(t, "GET", ts.URL+"/api/rooms", "", "", &listed); strings.Contains(fmt.Sprint(listed.Rooms), j.Room) {
		t.Fatalf("/api/rooms lists the private room: %+v", listed.Rooms)
	}
	guest.expectRefused(t, "room.join", map[string]string{"room": j.Room}, comet.EFORBIDDEN, "private")
	guest.send("room.join", map[string]string{"room": strings.ToLower(j.Code)})
	if g := guest.joined(t); g.Room != j.Room || g.Code != "" || g.Spectator {
		t.Fatalf("joiner's room.joined %+v (the code is for the creator only)", g)
	}
	fan.expectRefused(t, "room.spectate", map[string]string{"room": j.Room}, comet.EFORBIDDEN, "private")
	fan.send("room.spectate", map[string]string{"room": " " + j.Code + " "})
	if f := fan.joined(t); f.Room != j.Room || !f.Spectator {
		t.Fatalf("spectator's room.joined %+v", f)
	}
}

// TestOnePlayerOneRoom: creating or joining another room leaves the first,
// the room chat channel follows, and the lobby shows the seat freed.
func TestOnePlayerOneRoom(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.Game.EmptyTimeout = time.Minute })
	a := openTab(t, ts.URL, "")
	w := openTab(t, ts.URL, "")
	a.send("room.create", map[string]any{"mode": "arena", "name": "First"})
	r1 := a.joined(t).Room
	a.send("room.create", map[string]any{"mode": "snake", "name": "Second"})
	left := a.waitFor(t, ofType("room.left"))
	wantKeys(t, "room.left", left.Data, "room")
	if decodeAs[struct{ Room string }](t, left).Room != r1 {
		t.Fatalf("room.left %s, want room %s", left.Data, r1)
	}
	r2 := a.joined(t).Room
	w.roomUpdate(t, r1, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 0 })
	w.roomUpdate(t, r2, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 1 })

	a.expectRefused(t, "chat.say", map[string]string{"channel": "room:" + r1, "text": "anyone?"}, comet.EFORBIDDEN, "not in channel")
	a.send("chat.say", map[string]string{"channel": "room:" + r2, "text": "here"})
	if m := a.chatText(t, "here"); m.Channel != "room:"+r2 {
		t.Fatalf("room chat on %q", m.Channel)
	}
	// Still in the lobby channel while in a room.
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "still in the lobby"})
	w.chatText(t, "still in the lobby")

	// A second tab of the same player joining a room moves the player (and
	// the room channel) there: one room per player, not per tab.
	a2 := openTab(t, ts.URL, a.Token)
	a2.send("room.join", map[string]string{"room": r1})
	if j := a2.joined(t); j.Room != r1 {
		t.Fatalf("second tab joined %s", j.Room)
	}
	a.waitFor(t, ofType("room.left"))
	a.expectRefused(t, "chat.say", map[string]string{"channel": "room:" + r2, "text": "x"}, comet.EFORBIDDEN, "not in channel")
	w.roomUpdate(t, r2, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 0 })
	w.roomUpdate(t, r1, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 1 })

	// The same room from another tab: the stream moves there and the tab
	// that had it is told.
	a.send("room.join", map[string]string{"room": r1})
	a.joined(t)
	if ev := a2.waitFor(t, ofType("room.left")); decodeAs[struct{ Room string }](t, ev).Room != r1 {
		t.Fatalf("room.left %s", ev.Data)
	}
	a2.expectRefused(t, "chat.say", map[string]string{"channel": "room:" + r1, "text": "x"}, comet.EFORBIDDEN, "not in channel")
	a2.send("room.join", map[string]string{"room": r1})
	a2.joined(t)
	a.waitFor(t, ofType("room.left"))

	// Leaving from the tab that is not in the room: the player leaves, each
	// tab hears room.left once.
	a.send("room.leave", struct{}{})
	for _, tb := range []*testTab{a, a2} {
		ev := tb.waitFor(t, ofType("room.left"))
		if decodeAs[struct{ Room string }](t, ev).Room != r1 {
			t.Fatalf("room.left %s", ev.Data)
		}
		tb.fence(t, ofType("room.left"))
	}
	a2.expectRefused(t, "chat.say", map[string]string{"channel": "room:" + r1, "text": "x"}, comet.EFORBIDDEN, "not in channel")
	w.roomUpdate(t, r1, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 0 })
	a.expectRefused(t, "room.leave", struct{}{}, comet.ENOTFOUND, "not in a room")
}

// TestLeaveOnce: room.leave is answered by exactly one room.left.
func TestLeaveOnce(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	a.send("room.join", map[string]string{"mode": "tag"})
	id := a.joined(t).Room
	a.send("room.leave", struct{}{})
	ev := a.waitFor(t, ofType("room.left"))
	if decodeAs[struct{ Room string }](t, ev).Room != id {
		t.Fatalf("room.left %s", ev.Data)
	}
	a.fence(t, ofType("room.left"))
}

// TestRefusedJoinKeepsChatInStep: when the engine refuses a join after taking
// the player out of its room (the new room is full), the player's tab must
// also lose the old room's chat channel.
func TestRefusedJoinKeepsChatInStep(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.Game.EmptyTimeout = time.Minute })
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	c := openTab(t, ts.URL, "")
	a.send("room.create", map[string]any{"mode": "arena", "name": "Home"})
	home := a.joined(t).Room
	b.send("room.create", map[string]any{"mode": "arena", "name": "Pair", "max": 2})
	pair := b.joined(t).Room
	c.send("room.join", map[string]string{"room": pair})
	c.joined(t)

	a.send("room.join", map[string]string{"room": pair})
	e := a.refusal(t, a.seq)
	if e.Code != comet.ECONFLICT || !strings.Contains(e.Message, "full") {
		t.Fatalf("join a full room: %+v", e)
	}
	if info, in := ts.Games().RoomOf(a.Player.ID); in && info.ID == home {
		return // the engine kept the player home: its chat channel is right too
	}
	a.expectRefused(t, "chat.say", map[string]string{"channel": "room:" + home, "text": "ghost"}, comet.EFORBIDDEN, "not in channel")
}

// TestSpectator: a spectator watches without a seat and is in the room chat.
func TestSpectator(t *testing.T) {
	ts := startGameServer(t, nil)
	p := openTab(t, ts.URL, "")
	s := openTab(t, ts.URL, "")
	p.send("room.create", map[string]any{"mode": "snake", "max": 2})
	id := p.joined(t).Room
	s.send("room.spectate", map[string]string{"room": id})
	if j := s.joined(t); !j.Spectator || j.Room != id {
		t.Fatalf("spectate %+v", j)
	}
	h := s.waitFor(t, ofType("chat.history"))
	if decodeAs[wireHistory](t, h).Channel != "room:"+id {
		t.Fatalf("spectator got %s, want the room's chat history", h.Data)
	}
	p.send("chat.say", map[string]string{"channel": "room:" + id, "text": "watch this"})
	s.chatText(t, "watch this")
	s.send("chat.say", map[string]string{"channel": "room:" + id, "text": "go go"})
	p.chatText(t, "go go")
	p.roomUpdate(t, id, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 1 && info.Spectators == 1 })
	s.expectRefused(t, "room.input", map[string]any{}, comet.EINVALID, "spectators cannot send input")
}

// TestExpiredSessionFreesSeat: a session that expires takes its player out of
// its room; the lobby shows the seat free and another player can take it.
func TestExpiredSessionFreesSeat(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		c.Hub.Grace = 300 * time.Millisecond
		c.Game.EmptyTimeout = time.Minute
	})
	host := openTab(t, ts.URL, "")
	host.send("room.create", map[string]any{"mode": "arena", "name": "Two Seats", "max": 2})
	id := host.joined(t).Room

	// A tab that never opens a stream: it expires after the grace period.
	gone := newClient(t, ts.URL)
	gone.send("room.join", map[string]string{"room": id})
	host.roomUpdate(t, id, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 2 })
	host.roomUpdate(t, id, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 1 })
	if _, in := ts.Games().RoomOf(gone.Player.ID); in {
		t.Fatal("expired player still seated")
	}
	next := openTab(t, ts.URL, "")
	next.send("room.join", map[string]string{"room": id})
	if j := next.joined(t); j.Room != id {
		t.Fatalf("joined %s", j.Room)
	}
}

// TestSpectatorTakesFreeSeat: a spectator's room.join on the room it watches
// seats it when a seat is free (a new room.joined with its number); when
// none is, it is refused as full and keeps watching, and it is seated once
// a player leaves.
func TestSpectatorTakesFreeSeat(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.Game.EmptyTimeout = time.Minute })
	p := openTab(t, ts.URL, "")
	s := openTab(t, ts.URL, "")
	w := openTab(t, ts.URL, "")
	p.send("room.create", map[string]any{"mode": "snake", "max": 2})
	id := p.joined(t).Room

	type joined struct {
		Room      string `json:"room"`
		You       uint32 `json:"you"`
		Spectator bool   `json:"spectator"`
	}
	join := func(tb *testTab) joined {
		t.Helper()
		tb.send("room.join", map[string]string{"room": id})
		return decodeAs[joined](t, tb.waitFor(t, func(ev wireEvent) bool {
			return ev.Type == "room.joined" || ev.Type == "sys.error" && decodeAs[sysError](t, ev).Ref == tb.seq
		}))
	}
	for _, tb := range []*testTab{s, w} {
		tb.send("room.spectate", map[string]string{"room": id})
		if j := tb.joined(t); !j.Spectator || j.Room != id {
			t.Fatalf("spectate %+v", j)
		}
	}
	// A seat is free: the spectator sits down in the room it watches.
	if j := join(s); j.Room != id || j.Spectator || j.You == 0 {
		t.Fatalf("spectator's join: %+v", j)
	}
	p.roomUpdate(t, id, func(info *gameloop.RoomInfo) bool {
		return info != nil && info.Players == 2 && info.Spectators == 1
	})

	// Full of humans: refused, and still watching (no room.left, still in).
	w.expectRefused(t, "room.join", map[string]string{"room": id}, comet.ECONFLICT, "is full")
	w.fence(t, ofType("room.left"))
	if info, in := ts.Games().RoomOf(w.Player.ID); !in || info.ID != id {
		t.Fatalf("refused spectator is in %+v (%v), want still watching %s", info, in, id)
	}
	p.send("chat.say", map[string]string{"channel": "room:" + id, "text": "still there?"})
	w.chatText(t, "still there?")

	// A player leaves: the seat is the spectator's.
	s.send("room.leave", struct{}{})
	s.waitFor(t, ofType("room.left"))
	if j := join(w); j.Room != id || j.Spectator || j.You == 0 {
		t.Fatalf("join after a seat was freed: %+v", j)
	}
	p.roomUpdate(t, id, func(info *gameloop.RoomInfo) bool {
		return info != nil && info.Players == 2 && info.Spectators == 0
	})
}

// TestPrivateSpectatorJoinsByCode: a spectator of a private room takes a
// free seat with the room's code; by the room's id it is refused, as anyone
// is, and keeps watching.
func TestPrivateSpectatorJoinsByCode(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.Game.EmptyTimeout = time.Minute })
	p := openTab(t, ts.URL, "")
	s := openTab(t, ts.URL, "")
	p.send("room.create", map[string]any{"mode": "snake", "max": 2, "private": true})
	j := p.joined(t)
	s.send("room.spectate", map[string]string{"room": j.Code})
	if sj := s.joined(t); !sj.Spectator || sj.Room != j.Room {
		t.Fatalf("spectate by code %+v", sj)
	}
	s.expectRefused(t, "room.join", map[string]string{"room": j.Room}, comet.EFORBIDDEN, "join it with its code")
	if info, in := ts.Games().RoomOf(s.Player.ID); !in || info.ID != j.Room {
		t.Fatalf("refused spectator is in %+v (%v), want still watching %s", info, in, j.Room)
	}
	s.send("room.join", map[string]string{"room": strings.ToLower(j.Code)})
	ev := s.waitFor(t, func(ev wireEvent) bool { return ev.Type == "room.joined" || ev.Type == "sys.error" })
	sj := decodeAs[struct {
		Room      string `json:"room"`
		You       uint32 `json:"you"`
		Spectator bool   `json:"spectator"`
	}](t, ev)
	if ev.Type != "room.joined" || sj.Room != j.Room || sj.Spectator || sj.You == 0 {
		t.Fatalf("join by code from the spectators: %s %s", ev.Type, ev.Data)
	}
}

// TestSpectatorTakesBotSeat: a room whose seats are all taken, one by a
// server bot, still seats a spectator's room.join: the bot yields. The lobby
// counts bots in players, so "players = max" does not mean no seat.
func TestSpectatorTakesBotSeat(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		c.Game.EmptyTimeout = time.Minute
		c.Game.BotFillDelay = 50 * time.Millisecond
	})
	p := openTab(t, ts.URL, "")
	s := openTab(t, ts.URL, "")
	p.send("room.create", map[string]any{"mode": "arena", "max": 2})
	id := p.joined(t).Room
	p.roomUpdate(t, id, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 2 })
	if info, _ := ts.Games().RoomOf(p.Player.ID); info.Bots != 1 {
		t.Fatalf("room %+v: want one bot beside the creator", info)
	}
	s.send("room.spectate", map[string]string{"room": id})
	s.joined(t)
	s.send("room.join", map[string]string{"room": id})
	if j := s.joined(t); j.Spectator || j.Room != id {
		t.Fatalf("join a room full with a bot: %+v", j)
	}
	p.roomUpdate(t, id, func(info *gameloop.RoomInfo) bool {
		return info != nil && info.Players == 2 && info.Spectators == 0
	})
	if info, _ := ts.Games().RoomOf(p.Player.ID); info.Bots != 0 {
		t.Fatalf("room %+v: the bot kept its seat", info)
	}
}
