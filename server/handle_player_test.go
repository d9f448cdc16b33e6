package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"comet"
)

// TestGuestPlayerKeptByCookie: a browser's first session creates a guest
// player whose secret token is set as an HttpOnly cookie; the same browser
// gets the same player on every later session, another browser a new one.
func TestGuestPlayerKeptByCookie(t *testing.T) {
	ts := startGameServer(t, nil)
	b := newBrowser(t, ts.URL)

	resp, body := b.post("/comet/session", nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("first session: %d %s", resp.StatusCode, body)
	}
	var first sessionResponse
	if err := json.Unmarshal(body, &first); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.Player.ID, "p_") || !strings.HasPrefix(first.Player.Name, "Guest-") || first.Token == "" {
		t.Fatalf("first session: %s", body)
	}
	ck := tokenCookie(resp)
	switch {
	case ck == nil:
		t.Fatalf("no %s cookie set: %v", cookieName, resp.Header["Set-Cookie"])
	case !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge <= 0:
		t.Fatalf("cookie %+v: want HttpOnly, Path=/, SameSite=Lax, persistent", ck)
	case ck.Value != first.Token:
		t.Fatal("cookie and body carry different tokens")
	case ck.Secure:
		t.Fatal("cookie marked Secure without SecureCookies")
	}

	// Returning: the cookie alone identifies the player; no new cookie.
	resp, body = b.post("/comet/session", nil)
	var again sessionResponse
	if err := json.Unmarshal(body, &again); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("second session: %d %s", resp.StatusCode, body)
	}
	if again.Player != first.Player || again.SID == first.SID {
		t.Fatalf("returning browser: player %+v sid %s, want player %+v in a new session", again.Player, again.SID, first.Player)
	}
	if tokenCookie(resp) != nil {
		t.Fatal("a returning browser's cookie was replaced")
	}
	// The cookie also authorizes the session's own requests.
	req, _ := http.NewRequest("GET", ts.URL+"/comet/"+again.SID+"/poll?last=0", nil)
	r, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("poll with the cookie only: %d", r.StatusCode)
	}

	other := newBrowser(t, ts.URL)
	resp, body = other.post("/comet/session", nil)
	var stranger sessionResponse
	if err := json.Unmarshal(body, &stranger); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("other browser: %d %s", resp.StatusCode, body)
	}
	if stranger.Player.ID == first.Player.ID {
		t.Fatal("two browsers share one player")
	}

	// A cookie whose player does not exist (a wiped database) gets a new guest.
	stale := newBrowser(t, ts.URL)
	u := mustURL(t, ts.URL)
	stale.hc.Jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: "forged-token", Path: "/"}})
	resp, body = stale.post("/comet/session", nil)
	if resp.StatusCode != http.StatusCreated || tokenCookie(resp) == nil || tokenCookie(resp).Value == "forged-token" {
		t.Fatalf("unknown token: %d %s, cookie %v", resp.StatusCode, body, tokenCookie(resp))
	}
}

// TestSecureCookies: behind TLS the token cookie is marked Secure.
func TestSecureCookies(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.SecureCookies = true })
	resp, _ := newBrowser(t, ts.URL).post("/comet/session", nil)
	if ck := tokenCookie(resp); ck == nil || !ck.Secure {
		t.Fatalf("cookie %+v, want Secure", ck)
	}
}

func TestRenameRules(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	a2 := openTab(t, ts.URL, a.Token) // the same player in another tab
	b := openTab(t, ts.URL, "")
	b.rename(t, "Taken Name")

	// Each request from a fresh tab of a: renames are an expensive event with
	// a small budget per tab (server/costs.go).
	valid := []string{"Ada", "  Ada Lovelace  ", "ñandú_7-x", "李小龍", strings.Repeat("x", 24), "taken name2"}
	for _, name := range valid {
		t.Run("ok "+name, func(t *testing.T) {
			at := openTab(t, ts.URL, a.Token)
			at.send("player.rename", map[string]string{"name": name})
			want := strings.TrimSpace(name)
			for _, tb := range []*testTab{at, a, a2} { // every tab of the player hears it
				ev := tb.waitFor(t, func(ev wireEvent) bool { return ev.Type == "player.renamed" || ev.Type == "sys.error" })
				wantKeys(t, "player.renamed", ev.Data, "id", "name")
				if got := decodeAs[wirePlayer](t, ev); ev.Type != "player.renamed" || got.ID != a.Player.ID || got.Name != want {
					t.Fatalf("%s %s, want player.renamed to %q", ev.Type, ev.Data, want)
				}
			}
		})
	}

	refused := []struct {
		name, data, code, why string
	}{
		{"empty", `{"name":""}`, comet.EINVALID, "1 to 24 characters"},
		{"spaces only", `{"name":"   "}`, comet.EINVALID, "1 to 24 characters"},
		{"25 characters", `{"name":"` + strings.Repeat("x", 25) + `"}`, comet.EINVALID, "1 to 24 characters"},
		{"punctuation", `{"name":"bad!"}`, comet.EINVALID, "letters, digits, spaces, _ and -"},
		{"markup", `{"name":"<b>x</b>"}`, comet.EINVALID, "letters, digits"},
		{"control", `{"name":"a\tb"}`, comet.EINVALID, "letters, digits"},
		{"online name", `{"name":"Taken Name"}`, comet.ECONFLICT, "in use by another player online"},
		{"online name other case", `{"name":"TAKEN name"}`, comet.ECONFLICT, "in use"},
		{"wrong type", `{"name":7}`, comet.EINVALID, "name must be string"},
		{"unknown field", `{"nick":"x"}`, comet.EINVALID, "unknown field"},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.name, func(t *testing.T) {
			openTab(t, ts.URL, a.Token).expectRefused(t, "player.rename", json.RawMessage(tt.data), tt.code, tt.why)
		})
	}

	// A player may change the case of its own name.
	b.rename(t, "TAKEN NAME")
	// The online list shows the new names.
	checkPresence(t, a, func(p wirePresence) bool {
		return hasPlayer(p, b.Player.ID, "TAKEN NAME") && hasPlayer(p, a.Player.ID, "taken name2")
	})
}

func hasPlayer(p wirePresence, id, name string) bool {
	for _, x := range p.Players {
		if x.ID == id && x.Name == name {
			return true
		}
	}
	return false
}

// checkPresence waits for a lobby.presence for which ok holds.
func checkPresence(t testing.TB, tb *testTab, ok func(wirePresence) bool) wirePresence {
	t.Helper()
	ev := tb.waitFor(t, func(ev wireEvent) bool { return ev.Type == "lobby.presence" && ok(decodeAs[wirePresence](t, ev)) })
	return decodeAs[wirePresence](t, ev)
}

// TestRenameRaceOneWinner: two players asking for the same free name at the
// same moment must not both get it.
func TestRenameRaceOneWinner(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	for i := range 15 {
		name := fmt.Sprintf("Racer %d", i)
		// Fresh tabs each round: renames have a small budget per tab.
		a, b := openTab(t, ts.URL, a.Token), openTab(t, ts.URL, b.Token)
		var wg sync.WaitGroup
		for _, tb := range []*testTab{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tb.send("player.rename", map[string]string{"name": name})
			}()
		}
		wg.Wait()
		won := 0
		for _, tb := range []*testTab{a, b} {
			ev := tb.waitFor(t, func(ev wireEvent) bool { return ev.Type == "player.renamed" || ev.Type == "sys.error" })
			if ev.Type == "player.renamed" {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d players got %q", i, won, name)
		}
	}
}

// TestClaimAndLogin: a claimed name is the player's own; its password brings
// the player to another browser while the first keeps working.
func TestClaimAndLogin(t *testing.T) {
	// A short heartbeat finds Ada's closed stream soon, so she goes offline fast.
	ts := startGameServer(t, func(c *Config) { c.Hub.Grace, c.Hub.Heartbeat = 300*time.Millisecond, 100*time.Millisecond })
	first := newBrowser(t, ts.URL)
	resp, body := first.post("/comet/session", nil)
	var s1 sessionResponse
	if err := json.Unmarshal(body, &s1); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("session: %d %s", resp.StatusCode, body)
	}
	a := &client{t: t, base: ts.URL, SID: s1.SID, Token: s1.Token}
	a.Player.ID, a.Player.Name = s1.Player.ID, s1.Player.Name
	ast := a.open("sse", 0)
	defer ast.close()
	at := &testTab{client: a, st: ast}
	at.rename(t, "Ada")

	for _, pw := range []string{"", "short", strings.Repeat("x", 73)} {
		at.expectRefused(t, "player.claim", map[string]string{"password": pw}, comet.EINVALID, "a password is 8 to 72 bytes")
	}
	at.send("player.claim", map[string]string{"password": "correct horse"})
	ev := at.waitFor(t, func(ev wireEvent) bool { return ev.Type == "player.claimed" || ev.Type == "sys.error" })
	wantKeys(t, "player.claimed", ev.Data, "name")
	if ev.Type != "player.claimed" || decodeAs[struct{ Name string }](t, ev).Name != "Ada" {
		t.Fatalf("claim: %s %s", ev.Type, ev.Data)
	}

	// Nobody else may take the name, online or not, in any case.
	b := openTab(t, ts.URL, "")
	b.expectRefused(t, "player.rename", map[string]string{"name": "ada"}, comet.ECONFLICT, "")
	ast.close() // Ada goes offline: her session expires after the grace period
	checkFor(t, eventWait, func() error {
		if _, ok := ts.Hub().Session(a.SID); ok {
			return fmt.Errorf("session still live")
		}
		return nil
	})
	b.expectRefused(t, "player.rename", map[string]string{"name": "ADA"}, comet.ECONFLICT, "already claimed")
	resp, body = newBrowser(t, ts.URL).post("/comet/session", map[string]string{"name": "aDa"})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "already claimed") {
		t.Fatalf("session named after a claim: %d %s", resp.StatusCode, body)
	}

	// Login in another browser.
	second := newBrowser(t, ts.URL)
	for _, bad := range []map[string]string{
		{"name": "Ada", "password": "wrong password"},
		{"name": "Nobody", "password": "correct horse"},
		{"name": "", "password": ""},
	} {
		resp, body := second.post("/comet/login", bad)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "wrong name or password") || tokenCookie(resp) != nil {
			t.Fatalf("login %v: %d %s", bad, resp.StatusCode, body)
		}
	}
	resp, body = second.post("/comet/login", json.RawMessage(`"not an object"`))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("login with a bad body: %d %s", resp.StatusCode, body)
	}
	resp, body = second.post("/comet/login", map[string]string{"name": " ADA ", "password": "correct horse"})
	var login struct {
		Player wirePlayer
		Token  string
	}
	if err := json.Unmarshal(body, &login); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	if ck := tokenCookie(resp); ck == nil || !ck.HttpOnly || ck.Value != login.Token || login.Token == s1.Token {
		t.Fatalf("login cookie %+v (token %q)", ck, login.Token)
	}
	if login.Player.ID != s1.Player.ID || login.Player.Name != "Ada" {
		t.Fatalf("login restored %+v, want %s Ada", login.Player, s1.Player.ID)
	}
	resp, body = second.post("/comet/session", nil)
	var s2 sessionResponse
	if err := json.Unmarshal(body, &s2); err != nil || resp.StatusCode != http.StatusCreated || s2.Player.ID != s1.Player.ID {
		t.Fatalf("session after login: %d %s", resp.StatusCode, body)
	}

	// The first browser keeps working with its own cookie.
	resp, body = first.post("/comet/session", nil)
	var again sessionResponse
	if err := json.Unmarshal(body, &again); err != nil || resp.StatusCode != http.StatusCreated || again.Player.ID != s1.Player.ID {
		t.Fatalf("first browser after the login elsewhere: %d %s", resp.StatusCode, body)
	}
	// Renaming keeps the claim: the player can still log in by the claimed name.
	c := openTab(t, ts.URL, again.Token)
	c.rename(t, "Countess")
	resp, body = newBrowser(t, ts.URL).post("/comet/login", map[string]string{"name": "ada", "password": "correct horse"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"Countess"`) {
		t.Fatalf("login by the claimed name after a rename: %d %s", resp.StatusCode, body)
	}
}

// FuzzValidName: an accepted name keeps the rules (1 to 24 letters, marks,
// digits, spaces, _ and -, trimmed) and is accepted again unchanged.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"Ada", " Ada Lovelace ", "李小龍", "bad!", "", "\xff", strings.Repeat("x", 25), "a\tb", "Guest-0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := validName(in)
		if err != nil {
			if comet.ErrorCode(err) != comet.EINVALID {
				t.Fatalf("validName(%q): %v", in, err)
			}
			return
		}
		if n := utf8.RuneCountInString(out); n == 0 || n > maxNameLen || strings.TrimSpace(out) != out || !utf8.ValidString(out) {
			t.Fatalf("validName(%q) = %q", in, out)
		}
		for _, r := range out {
			if !(unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) || r == ' ' || r == '_' || r == '-') {
				t.Fatalf("validName(%q) = %q holds %q", in, out, r)
			}
		}
		if again, err := validName(out); err != nil || again != out {
			t.Fatalf("validName(%q) again: %q, %v", out, again, err)
		}
	})
}
