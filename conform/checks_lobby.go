package conform

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

type roomEntry struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Mode       string `json:"mode"`
	Players    *int   `json:"players"`
	Max        int    `json:"max"`
	Spectators *int   `json:"spectators"`
	State      string `json:"state"`
	Private    *bool  `json:"private"`
	Code       string `json:"code"`
}

type lobbyRooms struct {
	Full   bool        `json:"full"`
	Rooms  []roomEntry `json:"rooms"`
	Closed []string    `json:"closed"`
	Total  *int        `json:"total"`
}

type chatMsg struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
	From    struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"from"`
	Text string `json:"text"`
	Me   bool   `json:"me"`
	At   int64  `json:"at"`
}

// modes reads GET /api/modes.
func (t *T) modes() []string {
	resp, b, err := t.c.do(t.ctx, "GET", "/api/modes", "", nil, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/modes: %v %.80q", err, b)
	}
	var m struct {
		Modes []json.RawMessage `json:"modes"`
	}
	t.unmarshal("/api/modes", b, &m)
	var names []string
	for _, raw := range m.Modes {
		// PROTOCOL.md shows names; servers answering declarations give each a "name".
		var name string
		var decl struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &name) != nil && json.Unmarshal(raw, &decl) == nil {
			name = decl.Name
		}
		if name == "" {
			t.Fatalf("GET /api/modes: entry %s is not a mode name", raw)
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		t.Fatalf("GET /api/modes: %.100s, want {\"modes\": [...]}", b)
	}
	return names
}

// lobbyStream opens an SSE stream and reads a new session's first events.
func (t *T) lobbyStream(s *session) *stream {
	st := t.open(s, "sse", 0, streamOpt{})
	t.readType(st, "chat.history")
	return st
}

// checkLobbyRooms: a private room is listed to its creator alone, without
// its code; a public room created after it reaches another session as a
// change (with the private one never listed before it) and GET /api/rooms.
func checkLobbyRooms(t *T) {
	mode := t.modes()[0]
	watcher := t.session()
	w := t.lobbyStream(watcher)
	owner := t.session()
	o := t.lobbyStream(owner)
	t.say(owner, "room.create", map[string]any{"mode": mode, "name": "Conform " + randName(t), "private": true})
	priv := t.createdRoom(owner, o, true)
	if e := t.readRoomEntry(o, priv); e.Private == nil || !*e.Private || e.Code != "" {
		t.Errorf("the creator's entry of its private room %+v, want private and no code", e)
	}
	host := t.session()
	h := t.lobbyStream(host)
	name := "Conform " + randName(t)
	t.say(host, "room.create", map[string]any{"mode": mode, "name": name})
	room := t.createdRoom(host, h, false)
	entry := t.readRoomEntry(w, room, priv)
	if entry.Name != name || entry.Mode != mode || entry.Private == nil || *entry.Private || entry.Players == nil || *entry.Players < 1 || entry.Spectators == nil || entry.Max < 2 {
		t.Errorf("room entry %+v, want name %q, mode %s, public, a player, spectators, max", entry, name, mode)
	}
	if !slices.Contains([]string{"waiting", "running", "ended"}, entry.State) {
		t.Errorf("room state %q, want waiting, running or ended", entry.State)
	}
	resp, b, err := t.c.do(t.ctx, "GET", "/api/rooms", "", nil, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/rooms: %v %.80q", err, b)
	}
	var api struct {
		Rooms []roomEntry `json:"rooms"`
	}
	t.unmarshal("/api/rooms", b, &api)
	if !slices.ContainsFunc(api.Rooms, func(r roomEntry) bool { return r.ID == room }) {
		t.Errorf("GET /api/rooms does not list %s: %.200s", room, b)
	}
	if slices.ContainsFunc(api.Rooms, func(r roomEntry) bool { return r.ID == priv }) {
		t.Errorf("GET /api/rooms lists the private room %s", priv)
	}
	t.wantError(watcher, w, "room.join", map[string]any{"room": priv}, "forbidden", "")
	t.wantClean(w, h, o)
}

// createdRoom reads the room.joined of a room.create and leaves the room at cleanup.
func (t *T) createdRoom(s *session, st *stream, private bool) string {
	j := t.readType(st, "room.joined")
	var joined struct {
		Room string `json:"room"`
		Code string `json:"code"`
	}
	t.unmarshal("room.joined", j.Data, &joined)
	t.Cleanup(func() { t.send(s, s.ev("room.leave", map[string]any{})) })
	codeOK := len(joined.Code) == 6 && strings.Trim(joined.Code, "ABCDEFGHJKMNPQRSTUVWXYZ23456789") == ""
	if private && !codeOK {
		t.Errorf("the creator's room.joined %s: code %q, want 6 characters from ABCDEFGHJKMNPQRSTUVWXYZ23456789", j.Data, joined.Code)
	}
	if !private && joined.Code != "" {
		t.Errorf("room.joined of a public room %s has a code", j.Data)
	}
	return joined.Room
}

// readRoomEntry reads lobby.rooms until one lists room, checking each
// list's shape and that none lists a room of never.
func (t *T) readRoomEntry(st *stream, room string, never ...string) roomEntry {
	var entry roomEntry
	t.readUntil(st, "lobby.rooms listing "+room, func(e Event) bool {
		if e.Type != "lobby.rooms" {
			return false
		}
		var lr lobbyRooms
		t.unmarshal("lobby.rooms", e.Data, &lr)
		if lr.Rooms == nil || lr.Closed == nil || lr.Total == nil {
			t.Errorf("lobby.rooms %.200s: rooms, closed and total are always present", e.Data)
		}
		if !slices.IsSortedFunc(lr.Rooms, func(a, b roomEntry) int { return strings.Compare(a.ID, b.ID) }) {
			t.Errorf("lobby.rooms entries not sorted by id: %.200s", e.Data)
		}
		for _, r := range lr.Rooms {
			if slices.Contains(never, r.ID) {
				t.Errorf("%s lists %s to another session: %.200s", e.Type, r.ID, e.Data)
			}
		}
		for _, r := range lr.Rooms {
			if r.ID == room {
				entry = r
				return true
			}
		}
		return false
	})
	return entry
}

// checkLobbyPresence: lobby.presence lists a newcomer by name.
func checkLobbyPresence(t *T) {
	s := t.session()
	st := t.lobbyStream(s)
	name := "Conform " + randName(t)
	_, _, err := t.c.newSession(t.ctx, "", name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.readUntil(st, "lobby.presence naming "+name, func(e Event) bool {
		if e.Type != "lobby.presence" {
			return false
		}
		var p struct {
			Count   *int `json:"count"`
			Players []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"players"`
		}
		t.unmarshal("lobby.presence", e.Data, &p)
		if p.Count == nil || p.Players == nil || *p.Count < 1 {
			t.Errorf("lobby.presence %s, want count and players", e.Data)
		}
		return slices.ContainsFunc(p.Players, func(x struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}) bool {
			return x.Name == name
		})
	})
	t.wantClean(st)
}

// checkChat: chat.say reaches every session on the channel, the sender's
// own chat.msg included, HTML-escaped on the wire and cleaned as documented.
func checkChat(t *T) {
	a := t.session()
	as := t.lobbyStream(a)
	b := t.session()
	bs := t.lobbyStream(b)
	text := "conform <b>" + randName(t) + "</b> & co"
	t.say(a, "chat.say", map[string]any{"channel": "lobby", "text": "  " + text + "\n"})
	var msgs [2]chatMsg
	for i, st := range []*stream{as, bs} {
		var raw []byte
		t.readUntil(st, "chat.msg", func(e Event) bool {
			var m chatMsg
			if e.Type == "chat.msg" && json.Unmarshal(e.Data, &m) == nil && strings.Contains(m.Text, "conform <b>") {
				msgs[i], raw = m, e.Data
				return true
			}
			return false
		})
		m := msgs[i]
		if m.Text != text || m.Channel != "lobby" || m.From.ID != a.Player.ID || m.From.Name != a.Player.Name || m.ID <= 0 || m.At < 1e12 {
			t.Errorf("chat.msg %s, want text %q on lobby from %s %q with an id and at in Unix ms", raw, text, a.Player.ID, a.Player.Name)
		}
		if !strings.Contains(string(raw), `\u003cb\u003e`) || !strings.Contains(string(raw), `\u0026`) {
			t.Errorf("chat.msg on the wire %s, want <, > and & written as \\u003c, \\u003e, \\u0026", raw)
		}
	}
	if msgs[0].ID != msgs[1].ID {
		t.Errorf("the sender and the other session got ids %d and %d", msgs[0].ID, msgs[1].ID)
	}
	t.say(a, "chat.say", map[string]any{"channel": "lobby", "text": "/me waves"})
	t.readUntil(as, "the /me line", func(e Event) bool {
		var m chatMsg
		if e.Type == "chat.msg" && json.Unmarshal(e.Data, &m) == nil && m.From.ID == a.Player.ID && m.Text == "waves" {
			if !m.Me {
				t.Errorf("/me waves: %s, want \"me\": true", e.Data)
			}
			return true
		}
		return false
	})
	// chat.history on request: the last lines, oldest first.
	t.say(b, "chat.history", map[string]any{"channel": "lobby"})
	h := t.readType(bs, "chat.history")
	var hist struct {
		Channel  string    `json:"channel"`
		Messages []chatMsg `json:"messages"`
	}
	t.unmarshal("chat.history", h.Data, &hist)
	if hist.Channel != "lobby" || !slices.ContainsFunc(hist.Messages, func(m chatMsg) bool { return m.ID == msgs[0].ID && m.Text == text }) {
		t.Errorf("chat.history %.300s, want lobby with line %d", h.Data, msgs[0].ID)
	}
	if !slices.IsSortedFunc(hist.Messages, func(x, y chatMsg) int { return int(x.ID - y.ID) }) {
		t.Errorf("chat.history not oldest first")
	}
	t.wantClean(as, bs)
}

// checkChatDM: a direct message goes to both players on dm:<a>:<b>.
func checkChatDM(t *T) {
	a := t.session()
	as := t.lobbyStream(a)
	b := t.session()
	bs := t.lobbyStream(b)
	ids := []string{a.Player.ID, b.Player.ID}
	slices.Sort(ids)
	ch := "dm:" + ids[0] + ":" + ids[1]
	t.say(a, "chat.say", map[string]any{"to": b.Player.ID, "text": "psst"})
	for _, st := range []*stream{as, bs} {
		t.readUntil(st, "the direct message on "+ch, func(e Event) bool {
			var m chatMsg
			return e.Type == "chat.msg" && json.Unmarshal(e.Data, &m) == nil && m.Channel == ch && m.Text == "psst"
		})
	}
	t.wantClean(as, bs)
}

// checkChatErrors: the chat table's codes and messages.
func checkChatErrors(t *T) {
	s := t.session()
	st := t.lobbyStream(s)
	t.wantError(s, st, "chat.say", map[string]any{"channel": "lobby", "text": " \t "}, "invalid", "a chat line is 1 to 500 characters")
	t.wantError(s, st, "chat.say", map[string]any{"channel": "lobby", "text": strings.Repeat("é", 501)}, "invalid", "a chat line is 1 to 500 characters")
	t.wantError(s, st, "chat.say", map[string]any{"text": "hi"}, "invalid", "chat.say needs a channel or to")
	t.wantError(s, st, "chat.say", map[string]any{"to": s.Player.ID, "text": "hi"}, "invalid", "you cannot message yourself")
	t.wantError(s, st, "chat.say", map[string]any{"channel": "lobby", "text": "/dance"}, "invalid", "unknown command /dance (try /w name text or /me text)")
	t.wantError(s, st, "chat.say", map[string]any{"channel": "lobby", "text": "/w Nobody-" + randName(t) + " hi"}, "not_found", "")
	t.wantError(s, st, "chat.say", map[string]any{"to": "p_conformnobo", "text": "hi"}, "not_found", `player "p_conformnobo" not found`)
	t.wantError(s, st, "chat.say", map[string]any{"channel": "room:r_conform", "text": "hi"}, "forbidden", `you are not in channel "room:r_conform"`)
	t.wantError(s, st, "chat.history", map[string]any{"channel": "room:r_conform"}, "forbidden", `you are not in channel "room:r_conform"`)
	t.wantError(s, st, "chat.mute", map[string]any{"player": s.Player.ID}, "invalid", "name another player to mute")
	t.wantClean(st)
}

// checkChatRate: five lines at once, the sixth refused with rate_limited.
func checkChatRate(t *T) {
	s := t.session()
	st := t.lobbyStream(s)
	var evs []Event
	for i := 0; i < 6; i++ {
		evs = append(evs, s.ev("chat.say", map[string]any{"channel": "lobby", "text": fmt.Sprintf("line %d", i)}))
	}
	t.send(s, evs...)
	se := t.readError(st, evs[5].Seq)
	if se.Code != "rate_limited" || se.Message != "slow down: at most 5 lines per 5 seconds" {
		t.Errorf("the sixth line at once: {%q, %q}, want rate_limited \"slow down: at most 5 lines per 5 seconds\"", se.Code, se.Message)
	}
	t.wantClean(st)
}

// checkChatMute: a muted player's lines stop reaching the muter.
func checkChatMute(t *T) {
	a := t.session()
	as := t.lobbyStream(a)
	b := t.session()
	bs := t.lobbyStream(b)
	t.say(a, "chat.mute", map[string]any{"player": b.Player.ID})
	m := t.readType(as, "chat.muted")
	if string(m.Data) != fmt.Sprintf(`{"players":[%q]}`, b.Player.ID) {
		t.Errorf("chat.muted %s, want {\"players\":[%q]}", m.Data, b.Player.ID)
	}
	t.say(b, "chat.say", map[string]any{"to": a.Player.ID, "text": "muted line"})
	t.readType(bs, "chat.msg") // the sender sees its own line
	for _, e := range t.fence(a, as) {
		if e.Type == "chat.msg" && strings.Contains(string(e.Data), "muted line") {
			t.Errorf("the muter got the muted player's line: %s", e.Data)
		}
	}
	t.say(a, "chat.unmute", map[string]any{"player": b.Player.ID})
	if m := t.readType(as, "chat.muted"); string(m.Data) != `{"players":[]}` {
		t.Errorf("chat.muted after unmute %s, want {\"players\":[]}", m.Data)
	}
	t.wantClean(as, bs)
}

// checkRename: player.rename answers player.renamed; the name rules' errors.
func checkRename(t *T) {
	s := t.session()
	st := t.lobbyStream(s)
	other := t.session()
	name := "Conform " + randName(t)
	t.say(s, "player.rename", map[string]any{"name": "  " + name + " "})
	r := t.readType(st, "player.renamed")
	if string(r.Data) != fmt.Sprintf(`{"id":%q,"name":%q}`, s.Player.ID, name) {
		t.Errorf("player.renamed %s, want id %s and name %q", r.Data, s.Player.ID, name)
	}
	t.wantError(s, st, "player.rename", map[string]any{"name": strings.Repeat("a", 25)}, "invalid", "a name is 1 to 24 characters")
	t.wantError(s, st, "player.rename", map[string]any{"name": "a<b"}, "invalid", "a name may hold letters, digits, spaces, _ and - only")
	t.wantError(s, st, "player.rename", map[string]any{"name": other.Player.Name}, "conflict", fmt.Sprintf("%q is in use by another player online", other.Player.Name))
	t.wantError(s, st, "player.claim", map[string]any{"password": "short"}, "invalid", "a password is 8 to 72 bytes")
	t.wantClean(st)
}

// checkLoginErrors: POST /comet/login's error table.
func checkLoginErrors(t *T) {
	for _, body := range []string{`[1]`, `{"name":5,"password":"correct horse battery"}`} {
		resp, b, err := t.c.do(t.ctx, "POST", "/comet/login", "", []byte(body), nil)
		if err != nil {
			t.Fatalf("%v", err)
		}
		t.wantHTTPError("login with "+body, resp, b, http.StatusBadRequest, `body must be {"name", "password"}`)
	}
	for _, body := range []string{`{"name":"x"}`, `{"name":"Nobody ` + randName(t) + `","password":"correct horse battery"}`} {
		resp, b, err := t.c.do(t.ctx, "POST", "/comet/login", "", []byte(body), nil)
		if err != nil {
			t.Fatalf("%v", err)
		}
		t.wantHTTPError("login with "+body, resp, b, http.StatusUnauthorized, "wrong name or password")
	}
}

// checkRecords: /api/modes, the leaderboard and match history and their errors.
func checkRecords(t *T) {
	modes := t.modes()
	_, b, _ := t.c.do(t.ctx, "GET", "/api/modes", "", nil, nil)
	var decls struct {
		Modes []struct {
			Name       string            `json:"name"`
			Title      string            `json:"title"`
			TickHz     int               `json:"tick_hz"`
			MinPlayers int               `json:"min_players"`
			DefaultMax int               `json:"default_max"`
			MaxPlayers int               `json:"max_players"`
			Input      []json.RawMessage `json:"input"`
		} `json:"modes"`
	}
	if err := json.Unmarshal(b, &decls); err != nil {
		t.Errorf("GET /api/modes: %.120s…, want {\"modes\": [{\"name\", \"title\", …}]} (%v)", b, err)
	}
	for _, d := range decls.Modes { // Records: each mode's declaration
		if d.Title == "" || d.TickHz <= 0 || d.MinPlayers < 1 || d.DefaultMax < d.MinPlayers || d.MaxPlayers < d.DefaultMax || len(d.Input) == 0 {
			t.Errorf("GET /api/modes: %s's declaration %+v is incomplete or out of order (min ≤ default_max ≤ max, inputs listed)", d.Name, d)
		}
	}
	resp, b, _ := t.c.do(t.ctx, "GET", "/api/leaderboard?mode="+query(modes[0]), "", nil, nil)
	var lb struct {
		Mode string            `json:"mode"`
		Rows []json.RawMessage `json:"rows"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &lb) != nil || lb.Mode != modes[0] || lb.Rows == nil {
		t.Errorf("GET /api/leaderboard?mode=%s: %d %.120q, want {\"mode\", \"rows\": [...]}", modes[0], resp.StatusCode, b)
	}
	resp, b, _ = t.c.do(t.ctx, "GET", "/api/leaderboard?mode=chess", "", nil, nil)
	t.wantHTTPError("leaderboard of an unknown mode", resp, b, 400, "mode must be one of "+strings.Join(modes, ", "))
	resp, b, _ = t.c.do(t.ctx, "GET", "/api/leaderboard?mode="+query(modes[0])+"&limit=101", "", nil, nil)
	t.wantHTTPError("leaderboard limit 101", resp, b, 400, "limit must be 1 to 100")
	resp, b, _ = t.c.do(t.ctx, "GET", "/api/players/p_nobody/matches", "", nil, nil)
	t.wantHTTPError("matches of an unknown player", resp, b, 404, `player "p_nobody" not found`)
	s := t.session()
	resp, b, _ = t.c.do(t.ctx, "GET", "/api/players/"+s.Player.ID+"/matches?limit=0", "", nil, nil)
	t.wantHTTPError("matches limit 0", resp, b, 400, "limit must be 1 to 100")
	resp, b, _ = t.c.do(t.ctx, "GET", "/api/players/"+s.Player.ID+"/matches", "", nil, nil)
	var pm struct {
		Player  struct{ ID, Name string } `json:"player"`
		Matches []json.RawMessage         `json:"matches"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &pm) != nil || pm.Player.ID != s.Player.ID || pm.Matches == nil {
		t.Errorf("GET /api/players/{id}/matches: %d %.120q, want the player and \"matches\": []", resp.StatusCode, b)
	}
}
