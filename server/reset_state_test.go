package server

import (
	"slices"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
)

// TestResetRebuildsEverything: a tab whose resume point left the replay
// buffer gets, after sys.reset, everything it held — the mute list, the
// lobby history, the history of a direct channel whose line was in the lost
// range, its room's last match.result (the room shows it) and the room's
// fresh start — in the documented order.
func TestResetRebuildsEverything(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		// Small enough to lose the resume point, large enough that the live
		// stream never overflows during play (a reset of its own).
		c.Hub.ReplayEvents = 64
		c.Game.BotFillDelay = 10 * time.Millisecond
		c.Game.Settings = map[string]gameloop.Settings{"tag": {MinPlayers: 2, Countdown: 50 * time.Millisecond,
			Duration: 1500 * time.Millisecond, Intermission: time.Minute}}
	})
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	c := openTab(t, ts.URL, "")

	a.send("chat.mute", map[string]string{"player": c.Player.ID})
	a.waitFor(t, ofType("chat.muted"))
	a.send("room.create", map[string]any{"mode": "tag", "private": true})
	a.waitFor(t, ofType("room.snapshot"))
	// The resume point: the last event read before the direct line.
	last := a.waitFor(t, ofType("room.diff")).Seq
	b.send("chat.say", map[string]string{"to": a.Player.ID, "text": "psst, in the lost range"})
	dm := a.chatText(t, "psst, in the lost range").Channel
	res := decodeAs[comet.MatchResult](t, a.waitFor(t, ofType("match.result")))

	// Push the resume point out of the replay buffer, then resume from it.
	a.st.close()
	sess, ok := ts.Hub().Session(a.SID)
	if !ok {
		t.Fatal("a's session is gone")
	}
	for i := range 200 {
		sess.Send(comet.MustMessage("test.n", i))
	}
	a.st = a.open("sse", last)
	t.Cleanup(a.st.close)
	if ev := a.st.next(t, eventWait); ev.Type != "sys.reset" {
		t.Fatalf("resuming from a lost point gave %s, want sys.reset", ev.Type)
	}

	var order []string
	var muted []string
	var dmLines []string
	var gotResult string
	for !slices.Contains(order, "room.snapshot") {
		ev := a.waitFor(t, func(wireEvent) bool { return true })
		switch ev.Type {
		case "lobby.rooms", "lobby.presence", "room.joined", "room.snapshot":
		case "room.state", "room.scores":
			if !slices.Contains(order, "room.joined") {
				// A live room update (the match's end reaching the room's
				// tick after the reset): the contract lets it come between
				// the fresh state's events, and the room's fresh start
				// begins with room.joined.
				continue
			}
		case "chat.muted":
			muted = decodeAs[struct{ Players []string }](t, ev).Players
		case "chat.history":
			h := decodeAs[wireHistory](t, ev)
			if h.Channel == dm {
				for _, m := range h.Messages {
					dmLines = append(dmLines, m.Text)
				}
			}
			ev.Type += " " + h.Channel
		case "match.result":
			gotResult = decodeAs[comet.MatchResult](t, ev).ID
		default:
			continue // live events (room.diff, test.n) are not fresh state
		}
		if !slices.Contains(order, ev.Type) {
			order = append(order, ev.Type)
		}
	}
	if !slices.Equal(muted, []string{c.Player.ID}) {
		t.Errorf("chat.muted after the reset: %v, want [%s]", muted, c.Player.ID)
	}
	if !slices.Contains(dmLines, "psst, in the lost range") {
		t.Errorf("the direct channel's history after the reset: %q, want the lost line", dmLines)
	}
	if gotResult != res.ID {
		t.Errorf("match.result after the reset: %q, want the room's last match %q", gotResult, res.ID)
	}
	want := []string{"lobby.rooms", "lobby.presence", "chat.muted", "chat.history lobby", "chat.history room:" + res.RoomID,
		"chat.history " + dm, "match.result", "room.joined", "room.state", "room.scores", "room.snapshot"}
	if !slices.Equal(order, want) {
		t.Errorf("fresh state after sys.reset in the order\n %q\nwant\n %q", order, want)
	}
}

// TestResetWithoutRoomOrDMs: a lobby tab that never had a direct line nor a
// mute gets lobby lists and lobby history only — no empty chat.muted, no
// match.result — before a fence.
func TestResetWithoutRoomOrDMs(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.Hub.ReplayEvents = 16 })
	a := openTab(t, ts.URL, "")
	a.send("sys.ping", map[string]float64{"t": 1})
	last := a.waitFor(t, ofType("sys.pong")).Seq
	a.st.close()
	sess, _ := ts.Hub().Session(a.SID)
	for i := range 40 {
		sess.Send(comet.MustMessage("test.n", i))
	}
	a.st = a.open("sse", last)
	t.Cleanup(a.st.close)
	if ev := a.st.next(t, eventWait); ev.Type != "sys.reset" {
		t.Fatalf("resuming from a lost point gave %s, want sys.reset", ev.Type)
	}
	a.waitFor(t, func(ev wireEvent) bool {
		return ev.Type == "chat.history" && decodeAs[wireHistory](t, ev).Channel == "lobby"
	})
	a.fence(t, func(ev wireEvent) bool {
		return ev.Type == "chat.muted" || ev.Type == "match.result" || ev.Type == "chat.history"
	})
}
