package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"comet/gameloop"
)

// TestCloseEndsTheSessionAtOnce: POST /comet/{sid}/close with the token as
// a cookie (what navigator.sendBeacon sends) ends the session: the tab leaves
// its room and its stream ends, long before any grace; the other player's
// room shows one player fewer.
func TestCloseEndsTheSessionAtOnce(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	a.send("room.create", map[string]any{"mode": "tag", "name": "Ghosts"})
	room := a.joined(t).Room
	b.send("room.join", map[string]any{"room": room})
	b.joined(t)
	b.roomUpdate(t, room, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 2 })

	req, _ := http.NewRequest("POST", ts.URL+"/comet/"+a.SID+"/close", strings.NewReader(a.SID))
	req.AddCookie(&http.Cookie{Name: cookieName, Value: a.Token})
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", ts.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("close: %d, want 204", resp.StatusCode)
	}
	if _, ok := ts.Hub().Session(a.SID); ok {
		t.Error("the session is still there after close")
	}
	if _, ok := ts.Games().RoomOf(a.Player.ID); ok {
		t.Error("the closed tab is still in its room")
	}
	a.ended(t)
	b.roomUpdate(t, room, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 1 })
	// Closing again: the session is gone.
	var e struct{ Error, Code string }
	if code := httpJSON(t, "POST", ts.URL+"/comet/"+a.SID+"/close", a.Token, "", &e); code != 404 || e.Code != "not_found" {
		t.Errorf("a second close: %d %+v, want 404 not_found", code, e)
	}
}

// TestCloseErrors: close refuses what send refuses — no token, another
// player's token, another site.
func TestCloseErrors(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	var e struct{ Error, Code string }
	for _, c := range []struct {
		bearer string
		code   int
		want   string
	}{
		{"", 401, "unauthorized"},
		{"not-a-token", 401, "unauthorized"},
		{b.Token, 403, "forbidden"},
	} {
		if code := httpJSON(t, "POST", ts.URL+"/comet/"+a.SID+"/close", c.bearer, "", &e); code != c.code || e.Code != c.want {
			t.Errorf("close with token %q: %d %+v, want %d %s", c.bearer, code, e, c.code, c.want)
		}
	}
	req, _ := http.NewRequest("POST", ts.URL+"/comet/"+a.SID+"/close", nil)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Origin", "https://elsewhere.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cross-origin close: %d, want 403", resp.StatusCode)
	}
	if _, ok := ts.Hub().Session(a.SID); !ok {
		t.Fatal("a refused close ended the session")
	}
}

// TestHangupInRoomShortGrace: a tab in a room whose client hangs up (closes
// its connection, as a closed tab does) leaves the room within seconds,
// while a tab in a room that is only unattached (no hang-up seen: a lost
// connection) and a lobby tab that hung up keep the 30 s grace.
func TestHangupInRoomShortGrace(t *testing.T) {
	ts := startGameServer(t, nil)
	if g := ts.Hub().Config().Grace; g < 20*time.Second {
		t.Fatalf("grace %v: the test needs the default", g)
	}
	ghost := openTab(t, ts.URL, "")
	ghost.send("room.create", map[string]any{"mode": "tag", "name": "Ghosts"})
	room := ghost.joined(t).Room
	// Lost: in the room, never attached (as a client whose connection died
	// without a hang-up).
	lost := openSession(t, ts.URL, "")
	lost.send("room.join", map[string]any{"room": room})
	lobby := openTab(t, ts.URL, "")
	checkFor(t, eventWait, func() error {
		if _, ok := ts.Games().RoomOf(lost.Player.ID); !ok {
			return fmt.Errorf("the lost tab is not in the room yet")
		}
		return nil
	})

	start := time.Now()
	ghost.st.close()
	lobby.st.close()
	checkFor(t, 10*time.Second, func() error {
		if _, ok := ts.Games().RoomOf(ghost.Player.ID); ok {
			return fmt.Errorf("the hung-up tab is still in the room")
		}
		return nil
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the hung-up tab left its room after %v, want within 5 s", d)
	}
	// The fence: the hung-up room tab has expired; the others, unattached
	// as long or longer, have not.
	if _, ok := ts.Hub().Session(ghost.SID); ok {
		t.Error("the hung-up tab's session is still there")
	}
	if _, ok := ts.Games().RoomOf(lost.Player.ID); !ok {
		t.Error("a tab that only lost its connection lost its seat before the grace")
	}
	if _, ok := ts.Hub().Session(lobby.SID); !ok {
		t.Error("a lobby tab that hung up expired before the grace")
	}
}
