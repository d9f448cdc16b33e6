package server

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"comet"
)

// roomView is what a tab's events say of its room: the room and match it
// was told of and the newest tick it saw, before and after sys.restart.
type roomView struct {
	room, match         string
	tick                uint64 // the newest before sys.restart
	restarted           bool
	welcome             []string // room event types after sys.restart, in order
	matchAfter          string
	tickAfter, maxAfter uint64 // room.state's tick after sys.restart, the newest view tick after it
	closed              int
}

func viewOf(t *testing.T, evs []wireEvent) roomView {
	t.Helper()
	var v roomView
	for _, ev := range evs {
		var d struct {
			Room  string `json:"room"`
			Match string `json:"match"`
			Tick  uint64 `json:"tick"`
			T     uint64 `json:"t"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		switch ev.Type {
		case "sys.restart":
			v.restarted = true
			continue
		case "room.joined":
			v.room = d.Room
		case "room.state":
			if v.restarted && v.matchAfter == "" {
				v.matchAfter, v.tickAfter = d.Match, d.Tick
			}
			if !v.restarted {
				v.match, v.tick = d.Match, max(v.tick, d.Tick)
			}
		case "room.snapshot", "room.diff":
			if v.restarted {
				v.maxAfter = max(v.maxAfter, d.T)
			} else {
				v.tick = max(v.tick, d.T)
			}
		case "room.closed":
			v.closed++
		}
		if v.restarted && len(ev.Type) > 5 && ev.Type[:5] == "room." && len(v.welcome) < 4 {
			v.welcome = append(v.welcome, ev.Type)
		}
	}
	return v
}

// TestHandoverRoomGoesOn: three tabs playing a match resume after a
// hand-over in the same room and match. After sys.restart each hears
// room.joined, room.state (the same match, not before the tick it saw) and a
// snapshot, never room.closed; it stays on the room's chat, and the room
// ticks on.
func TestHandoverRoomGoesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.db")
	one := startNode(t, path, "", 0)
	tabs := make([]*rtab, 3)
	for i, tr := range []string{"sse", "iframe", "multipart"} {
		tabs[i] = newRTab(t, "http://"+one.addr, tr)
		tabs[i].send("room.join", map[string]string{"mode": "tag"})
	}
	checkFor(t, 15*time.Second, func() error { // the countdown ends and the match runs a while
		for _, r := range tabs {
			evs, _ := r.snapshot()
			if v := viewOf(t, evs); v.room == "" || v.match == "" || v.tick < 20 {
				return fmt.Errorf("%s: %+v", r.transport, v)
			}
		}
		return nil
	})
	room := ""
	if info, ok := one.srv.Games().RoomOf(tabs[0].player); ok {
		room = info.ID
	}
	before := make([]roomView, len(tabs))
	one.stop(t)
	for i, r := range tabs {
		evs, _ := r.snapshot()
		before[i] = viewOf(t, evs)
		if before[i].room != room {
			t.Fatalf("%s in room %s, the manager says %s", r.transport, before[i].room, room)
		}
	}

	two := startNode(t, path, one.addr, len(tabs))
	checkFor(t, 15*time.Second, func() error {
		for i, r := range tabs {
			evs, err := r.snapshot()
			if err != nil {
				return err
			}
			v := viewOf(t, evs)
			switch {
			case v.closed != 0:
				return fmt.Errorf("%s: room.closed", r.transport)
			case len(v.welcome) < 3 || v.welcome[0] != "room.joined" || v.welcome[1] != "room.state":
				return fmt.Errorf("%s: after sys.restart %v", r.transport, v.welcome)
			case v.room != room || v.matchAfter != before[i].match || v.tickAfter < before[i].tick:
				return fmt.Errorf("%s: room %s match %s tick %d after the restart; before: %s %s %d",
					r.transport, v.room, v.matchAfter, v.tickAfter, room, before[i].match, before[i].tick)
			case v.maxAfter <= v.tickAfter:
				return fmt.Errorf("%s: no tick after %d yet", r.transport, v.tickAfter)
			}
		}
		return nil
	})
	for _, r := range tabs {
		evs, _ := r.snapshot()
		checkContinuity(t, r.transport, evs)
		if info, ok := two.srv.Games().RoomOf(r.player); !ok || info.ID != room {
			t.Errorf("%s: seated in %+v (%v), want %s", r.transport, info, ok, room)
		}
		tb := tabOf(mustSession(t, two.srv, r.sid))
		if tb.Room() != room || !tb.Subscribed(comet.ChatTopic("room:"+room)) {
			t.Errorf("%s: restored tab in room %q, on its chat %v", r.transport, tb.Room(), tb.Subscribed(comet.ChatTopic("room:"+room)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := two.srv.Games().Inspect(ctx, room)
	if err != nil || st.Match != before[0].match {
		t.Fatalf("thawed room: %+v, %v; want match %s", st, err, before[0].match)
	}
}
