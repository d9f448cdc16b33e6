package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"comet"
	"comet/frontend"
	"comet/gameloop"
)

// seedMatches stores four matches of players a and b (and a bot) through the
// store's SaveMatch, as the game loop does.
func seedMatches(t testing.TB, ts *testServer, a, b *client) time.Time {
	t.Helper()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	ms := []comet.MatchResult{
		{ID: "m1", RoomID: "r1", Mode: "arena", Started: t0, Ended: t0.Add(time.Minute), Players: []comet.MatchPlayer{
			{PlayerID: a.Player.ID, Name: a.Player.Name, Score: 10, Rank: 1, Stats: map[string]int{"frags": 10}},
			{PlayerID: b.Player.ID, Name: b.Player.Name, Score: 5, Rank: 2},
			{PlayerID: "bot-r1-3", Name: "Bot Ada", Score: 20, Rank: 3, Bot: true},
		}},
		{ID: "m2", RoomID: "r1", Mode: "arena", Started: t0, Ended: t0.Add(2 * time.Minute), Players: []comet.MatchPlayer{
			{PlayerID: b.Player.ID, Name: b.Player.Name, Score: 12, Rank: 1},
			{PlayerID: a.Player.ID, Name: a.Player.Name, Score: 3, Rank: 2},
		}},
		{ID: "m3", RoomID: "r1", Mode: "arena", Started: t0, Ended: t0.Add(3 * time.Minute), Aborted: true, Players: []comet.MatchPlayer{
			{PlayerID: a.Player.ID, Name: a.Player.Name, Score: 99, Rank: 1},
		}},
		{ID: "m4", RoomID: "r2", Mode: "snake", Started: t0, Ended: t0.Add(4 * time.Minute), Players: []comet.MatchPlayer{
			{PlayerID: a.Player.ID, Name: a.Player.Name, Score: 4, Rank: 1},
		}},
	}
	for i := range ms {
		if err := ts.DB.SaveMatch(context.Background(), &ms[i]); err != nil {
			t.Fatal(err)
		}
	}
	return t0
}

func TestLeaderboard(t *testing.T) {
	ts := startGameServer(t, nil)
	a := newClient(t, ts.URL)
	b := newClient(t, ts.URL)
	guest := newClient(t, ts.URL)
	seedMatches(t, ts, a, b)
	ctx := context.Background()
	for _, c := range []*client{a, b} {
		if err := ts.DB.ClaimName(ctx, c.Player.ID, c.Player.Name, []byte("pw")); err != nil {
			t.Fatal(err)
		}
	}
	// The guest wins an arena match this week; b won one 8 days ago.
	now := time.Now().UTC()
	for _, m := range []comet.MatchResult{
		{ID: "m5", RoomID: "r3", Mode: "arena", Started: now.Add(-31 * time.Minute), Ended: now.Add(-30 * time.Minute), Players: []comet.MatchPlayer{
			{PlayerID: guest.Player.ID, Name: guest.Player.Name, Score: 50, Rank: 1},
		}},
		{ID: "m6", RoomID: "r3", Mode: "arena", Started: now.Add(-8 * 24 * time.Hour), Ended: now.Add(-8*24*time.Hour + time.Minute), Players: []comet.MatchPlayer{
			{PlayerID: b.Player.ID, Name: b.Player.Name, Score: 1, Rank: 1},
		}},
	} {
		if err := ts.DB.SaveMatch(ctx, &m); err != nil {
			t.Fatal(err)
		}
	}

	type board struct {
		Mode   string            `json:"mode"`
		Period string            `json:"period"`
		Rows   []comet.LeaderRow `json:"rows"`
	}
	// Claimed players only: the guest's win counts for nobody. All time is
	// the default; the week leaves out m6. Equal wins: the better best score
	// first. The bot and the aborted match do not count.
	rowA := comet.LeaderRow{PlayerID: a.Player.ID, Name: a.Player.Name, Wins: 1, BestScore: 10, Games: 2}
	for _, q := range []struct {
		query, period string
		want          []comet.LeaderRow
	}{
		{"", "all", []comet.LeaderRow{{PlayerID: b.Player.ID, Name: b.Player.Name, Wins: 2, BestScore: 12, Games: 3}, rowA}},
		{"&period=all", "all", []comet.LeaderRow{{PlayerID: b.Player.ID, Name: b.Player.Name, Wins: 2, BestScore: 12, Games: 3}, rowA}},
		{"&period=week", "week", []comet.LeaderRow{{PlayerID: b.Player.ID, Name: b.Player.Name, Wins: 1, BestScore: 12, Games: 2}, rowA}},
		{"&period=week&limit=1", "week", []comet.LeaderRow{{PlayerID: b.Player.ID, Name: b.Player.Name, Wins: 1, BestScore: 12, Games: 2}}},
	} {
		var got board
		if code := httpJSON(t, "GET", ts.URL+"/api/leaderboard?mode=arena"+q.query, "", "", &got); code != 200 {
			t.Fatalf("leaderboard%s: %d", q.query, code)
		}
		if got.Mode != "arena" || got.Period != q.period || !slices.Equal(got.Rows, q.want) {
			t.Fatalf("arena board%s = %+v, want %s %+v", q.query, got, q.period, q.want)
		}
	}
	var got board
	var raw struct{ Rows []json.RawMessage }
	httpJSON(t, "GET", ts.URL+"/api/leaderboard?mode=arena", "", "", &raw)
	wantKeys(t, "leaderboard row", raw.Rows[0], "id", "name", "wins", "best_score", "games")

	httpJSON(t, "GET", ts.URL+"/api/leaderboard?mode=arena&limit=1", "", "", &got)
	if len(got.Rows) != 1 || got.Rows[0].PlayerID != b.Player.ID {
		t.Fatalf("limit=1: %+v", got.Rows)
	}
	httpJSON(t, "GET", ts.URL+"/api/leaderboard?mode=snake", "", "", &got)
	if len(got.Rows) != 1 || got.Rows[0].PlayerID != a.Player.ID || got.Rows[0].Wins != 1 {
		t.Fatalf("snake board %+v", got.Rows)
	}
	var empty map[string]json.RawMessage
	httpJSON(t, "GET", ts.URL+"/api/leaderboard?mode=tag", "", "", &empty)
	if string(empty["rows"]) != "[]" {
		t.Fatalf("empty board rows = %s, want []", empty["rows"])
	}

	for _, q := range []struct{ query, msg string }{
		{"mode=chess", "mode must be one of " + strings.Join(ts.Games().Modes(), ", ")},
		{"", "mode must be one of"},
		{"mode=arena&limit=0", "limit must be 1 to 100"},
		{"mode=arena&limit=101", "limit must be 1 to 100"},
		{"mode=arena&limit=x", "limit must be 1 to 100"},
		{"mode=arena&period=month", "period must be week or all"},
	} {
		var e errorBody
		if code := httpJSON(t, "GET", ts.URL+"/api/leaderboard?"+q.query, "", "", &e); code != 400 || !strings.Contains(e.Error, q.msg) {
			t.Errorf("?%s: %d %q, want 400 %q", q.query, code, e.Error, q.msg)
		}
	}
}

func TestPlayerMatches(t *testing.T) {
	ts := startGameServer(t, nil)
	a := newClient(t, ts.URL)
	b := newClient(t, ts.URL)
	c := newClient(t, ts.URL)
	t0 := seedMatches(t, ts, a, b)

	var got struct {
		Player  wirePlayer          `json:"player"`
		Matches []comet.PlayerMatch `json:"matches"`
	}
	if code := httpJSON(t, "GET", ts.URL+"/api/players/"+a.Player.ID+"/matches", "", "", &got); code != 200 {
		t.Fatalf("matches: %d", code)
	}
	want := []comet.PlayerMatch{ // newest first, aborted ones included
		{MatchID: "m4", Mode: "snake", Ended: t0.Add(4 * time.Minute), Score: 4, Rank: 1, Players: 1},
		{MatchID: "m3", Mode: "arena", Ended: t0.Add(3 * time.Minute), Score: 99, Rank: 1, Players: 1, Aborted: true},
		{MatchID: "m2", Mode: "arena", Ended: t0.Add(2 * time.Minute), Score: 3, Rank: 2, Players: 2},
		{MatchID: "m1", Mode: "arena", Ended: t0.Add(time.Minute), Score: 10, Rank: 1, Players: 3},
	}
	if got.Player != (wirePlayer{a.Player.ID, a.Player.Name}) || len(got.Matches) != len(want) {
		t.Fatalf("matches of a: %+v", got)
	}
	for i := range want {
		g := got.Matches[i]
		if g.MatchID != want[i].MatchID || g.Mode != want[i].Mode || !g.Ended.Equal(want[i].Ended) || g.Score != want[i].Score ||
			g.Rank != want[i].Rank || g.Players != want[i].Players || g.Aborted != want[i].Aborted {
			t.Fatalf("match %d = %+v, want %+v", i, g, want[i])
		}
	}
	var raw struct{ Matches []json.RawMessage }
	httpJSON(t, "GET", ts.URL+"/api/players/"+a.Player.ID+"/matches?limit=2", "", "", &raw)
	if len(raw.Matches) != 2 {
		t.Fatalf("limit=2 gave %d", len(raw.Matches))
	}
	wantKeys(t, "match", raw.Matches[0], "match", "mode", "ended", "score", "rank", "players", "aborted")

	var none map[string]json.RawMessage
	httpJSON(t, "GET", ts.URL+"/api/players/"+c.Player.ID+"/matches", "", "", &none)
	if string(none["matches"]) != "[]" {
		t.Fatalf("a player without matches: %s", none["matches"])
	}
	var e errorBody
	if code := httpJSON(t, "GET", ts.URL+"/api/players/p_nobody/matches", "", "", &e); code != 404 || !strings.Contains(e.Error, "not found") {
		t.Fatalf("unknown player: %d %q", code, e.Error)
	}
	if code := httpJSON(t, "GET", ts.URL+"/api/players/"+a.Player.ID+"/matches?limit=1000", "", "", &e); code != 400 {
		t.Fatalf("limit=1000: %d %q", code, e.Error)
	}
}

func TestModesAndRoomsAPI(t *testing.T) {
	ts := startGameServer(t, nil)
	var m struct {
		Modes []struct {
			Name       string `json:"name"`
			Title      string `json:"title"`
			MinPlayers int    `json:"min_players"`
			MaxPlayers int    `json:"max_players"`
			DefaultMax int    `json:"default_max"`
		}
	}
	var names []string
	if code := httpJSON(t, "GET", ts.URL+"/api/modes", "", "", &m); code != 200 {
		t.Fatalf("modes: %d", code)
	}
	for _, md := range m.Modes {
		names = append(names, md.Name)
		if md.Title == "" || md.MinPlayers < 1 || md.MaxPlayers < md.MinPlayers || md.DefaultMax < md.MinPlayers || md.DefaultMax > md.MaxPlayers {
			t.Errorf("mode %+v: declaration out of shape", md)
		}
	}
	if want := ts.Games().Modes(); !slices.Equal(names, want) {
		t.Fatalf("/api/modes lists %v, the server runs %v", names, want)
	}
	a := openTab(t, ts.URL, "")
	a.send("room.create", map[string]any{"mode": "tag", "name": "Tag Time", "private": true})
	code := a.joined(t).Code
	b := openTab(t, ts.URL, "")
	b.send("room.create", map[string]any{"mode": "arena", "name": "Open Arena"})
	b.joined(t)
	var r struct{ Rooms []gameloop.RoomInfo }
	raw := map[string][]json.RawMessage{}
	httpJSON(t, "GET", ts.URL+"/api/rooms", "", "", &raw)
	httpJSON(t, "GET", ts.URL+"/api/rooms", "", "", &r)
	if len(r.Rooms) != 1 || r.Rooms[0].Name != "Open Arena" || r.Rooms[0].Private || strings.Contains(string(raw["rooms"][0]), code) {
		t.Fatalf("rooms: %s (private rooms are listed to their creators alone)", raw["rooms"])
	}
}

// admin posts an admin action and returns the status and body.
func admin(t testing.TB, base, token, action, body string) (int, map[string]string) {
	t.Helper()
	out := map[string]string{}
	code := httpJSON(t, "POST", base+"/api/admin/"+action, token, body, &out)
	return code, out
}

func TestAdminAPI(t *testing.T) {
	const tok = "s3cret-admin-token"
	ts := startGameServer(t, func(c *Config) {
		c.AdminToken = tok
		c.Game.EmptyTimeout = time.Minute
	})
	a := openTab(t, ts.URL, "")
	a.rename(t, "Troll")
	w := openTab(t, ts.URL, "")
	body := `{"player":"name:Troll"}`

	for _, tt := range []struct {
		name, token, action, body string
		status                    int
		msg                       string
	}{
		{"no token", "", "mute", body, 401, "admin token required"},
		{"wrong token", "nope", "mute", body, 401, "admin token required"},
		{"player token", a.Token, "mute", body, 401, "admin token required"},
		{"bad action", tok, "delete", body, 400, "action must be mute, unmute, kick, ban or unban"},
		{"bad action, unknown player", tok, "delete", `{"player":"name:Nobody"}`, 400, "action must be"},
		{"no player", tok, "mute", `{}`, 400, `body must be {"player": "id:<player id>"} or {"player": "name:<player name>"}`},
		{"not json", tok, "mute", `mute him`, 400, "body must be"},
		{"neither id: nor name:", tok, "mute", `{"player":"Troll"}`, 400, `body must be {"player": "id:`},
		{"old body", tok, "mute", `{"name":"Troll"}`, 400, `body must be {"player"`},
		{"empty name", tok, "mute", `{"player":"name: "}`, 400, `body must be {"player"`},
		{"unknown player", tok, "mute", `{"player":"name:Nobody"}`, 404, `no player named "Nobody"`},
		{"a name is not an id", tok, "mute", `{"player":"id:Troll"}`, 404, `no player with id "Troll"`},
		{"an id is not a name", tok, "mute", `{"player":"name:` + a.Player.ID + `"}`, 404, "no player named"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out := admin(t, ts.URL, tt.token, tt.action, tt.body)
			if code != tt.status || !strings.Contains(out["error"], tt.msg) {
				t.Fatalf("%d %v, want %d %q", code, out, tt.status, tt.msg)
			}
		})
	}

	// mute: the player can no longer say anything; unmute lets it again.
	if code, out := admin(t, ts.URL, tok, "mute", body); code != 200 || out["action"] != "mute" || out["player"] != a.Player.ID {
		t.Fatalf("mute: %d %v", code, out)
	}
	a.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "hello?"}, comet.EFORBIDDEN, "muted by a moderator")
	a.expectRefused(t, "chat.say", map[string]string{"to": w.Player.ID, "text": "psst"}, comet.EFORBIDDEN, "muted by a moderator")
	if code, _ := admin(t, ts.URL, tok, "unmute", `{"player":"id:`+a.Player.ID+`"}`); code != 200 { // by id
		t.Fatalf("unmute: %d", code)
	}
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "I am back"})
	w.chatText(t, "I am back")

	// kick: every session of the player ends after a reason; its seat is freed.
	a.send("room.create", map[string]any{"mode": "arena", "name": "Troll Cave"})
	room := a.joined(t).Room
	a2 := openTab(t, ts.URL, a.Token)
	w.roomUpdate(t, room, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 1 })
	if code, _ := admin(t, ts.URL, tok, "kick", `{"player":"name:troll"}`); code != 200 {
		t.Fatalf("kick: %d", code)
	}
	for _, tb := range []*testTab{a, a2} {
		e := decodeAs[sysError](t, tb.waitFor(t, ofType("sys.error")))
		if e.Code != comet.EFORBIDDEN || !strings.Contains(e.Message, "removed by a moderator") {
			t.Fatalf("kick notice %+v", e)
		}
		tb.ended(t)
		if code, _ := tb.post("/send", []byte(`[]`)); code != http.StatusNotFound {
			t.Fatalf("kicked session answers %d, want 404", code)
		}
	}
	w.roomUpdate(t, room, func(info *gameloop.RoomInfo) bool { return info != nil && info.Players == 0 })
	// A kicked player may come back.
	a = openTab(t, ts.URL, a.Token)

	// ban: kicked, and no new session or login until unbanned.
	a.send("player.claim", map[string]string{"password": "troll password"})
	a.waitFor(t, ofType("player.claimed"))
	if code, _ := admin(t, ts.URL, tok, "ban", body); code != 200 {
		t.Fatalf("ban: %d", code)
	}
	if e := decodeAs[sysError](t, a.waitFor(t, ofType("sys.error"))); !strings.Contains(e.Message, "banned") {
		t.Fatalf("ban notice %+v", e)
	}
	var e errorBody
	if code := httpJSON(t, "POST", ts.URL+"/comet/session", a.Token, "", &e); code != 403 || !strings.Contains(e.Error, "banned") {
		t.Fatalf("banned player's session: %d %q", code, e.Error)
	}
	resp, raw := newBrowser(t, ts.URL).post("/comet/login", map[string]string{"name": "Troll", "password": "troll password"})
	if resp.StatusCode != 403 || tokenCookie(resp) != nil {
		t.Fatalf("banned player's login: %d %s", resp.StatusCode, raw)
	}
	// Offline now, the player is found by its claimed name.
	if code, out := admin(t, ts.URL, tok, "unban", body); code != 200 || out["player"] != a.Player.ID {
		t.Fatalf("unban: %d %v", code, out)
	}
	if again := openSession(t, ts.URL, a.Token); again.Player.ID != a.Player.ID {
		t.Fatalf("after unban: %+v", again.Player)
	}
}

func TestAdminAPIDisabledWithoutToken(t *testing.T) {
	ts := startGameServer(t, nil)
	newClient(t, ts.URL)
	for _, action := range []string{"mute", "kick", "ban"} {
		var e errorBody
		if code := httpJSON(t, "POST", ts.URL+"/api/admin/"+action, "", `{"name":"x"}`, &e); code != 404 {
			t.Fatalf("%s without a configured token: %d %q", action, code, e.Error)
		}
		if code := httpJSON(t, "POST", ts.URL+"/api/admin/"+action, "anything", `{"name":"x"}`, &e); code != 404 {
			t.Fatalf("%s with a bearer but no configured token: %d", action, code)
		}
	}
}

// TestJoinLinkRedirects: an invite link /join/CODE leads to the page with
// ?join=CODE; anything that is not a join code is 404, never a redirect.
func TestJoinLinkRedirects(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		c.Frontend = Static{B: &frontend.Bundle{Script: "app.js", Files: map[string][]byte{"app.js": nil}}}
	})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, location string
		status         int
	}{
		{"/join/ab12cd", "/?join=AB12CD", http.StatusFound},
		{"/join/AB12CD", "/?join=AB12CD", http.StatusFound},
		{"/join/evil.example", "", http.StatusNotFound},
		{"/join/%2F%2Fevil", "", http.StatusNotFound},
		{"/join/ab12cde", "", http.StatusNotFound},
	} {
		resp, err := noFollow.Get(ts.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s: %d Location %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
		}
	}
}
