package conform

import (
	"encoding/json"
	"net/http"
	"time"
)

// admin posts an admin action on a player id with the configured token, as
// Moderation shows ({"name": "<name or id>"}). A server that refuses that
// body with 400 is failed and asked again with {"player": "id:<id>"}, so
// the rest of the check still runs.
func (t *T) admin(action, id string) (*http.Response, []byte) {
	post := func(body map[string]string) (*http.Response, []byte) {
		b, _ := json.Marshal(body)
		resp, out, err := t.c.do(t.ctx, "POST", "/api/admin/"+action, t.c.cfg.AdminToken, b, nil)
		if err != nil {
			t.Fatalf("POST /api/admin/%s: %v", action, err)
		}
		return resp, out
	}
	// Moderation: the target is named explicitly, {"player": "id:<id>"}.
	return post(map[string]string{"player": "id:" + id})
}

// checkKick: a kicked session gets sys.error forbidden (ref 0), its stream
// ends with {"end":"ended"} and its sid answers 404; a ban refuses new sessions.
func checkKick(t *T) {
	s := t.session()
	st := t.lobbyStream(s)
	if resp, b := t.admin("kick", s.Player.ID); resp.StatusCode != 200 || string(b) == "" {
		t.Fatalf("kick: %d %s", resp.StatusCode, b)
	}
	var se sysError
	t.readUntil(st, "the kick's sys.error", func(e Event) bool {
		return e.Type == "sys.error" && json.Unmarshal(e.Data, &se) == nil && se.Ref == 0
	})
	if se.Code != "forbidden" || se.Message != "you were removed by a moderator" {
		t.Errorf("kick: sys.error {%q, %q}, want {forbidden, you were removed by a moderator}", se.Code, se.Message)
	}
	for {
		f, err := st.next()
		if err != nil {
			t.Fatalf("the kicked stream ended without its end frame: %v", err)
		}
		if f.end {
			if f.why != "ended" {
				t.Errorf("the kicked stream's end frame %q, want ended", f.why)
			}
			break
		}
	}
	resp, b, err := t.c.do(t.ctx, "GET", "/comet/"+s.Sid+"/poll?last=0", s.Token, nil, nil)
	t.wantCatalogue("the kicked sid", resp, b, err, 404, "not_found", "session not found")
	// Banned: the player's POST /comet/session is 403.
	b2 := t.session()
	if resp, b := t.admin("ban", b2.Player.ID); resp.StatusCode != 200 {
		t.Fatalf("ban: %d %s", resp.StatusCode, b)
	}
	t.Cleanup(func() { t.admin("unban", b2.Player.ID) })
	resp, b, err = t.c.do(t.ctx, "POST", "/comet/session", b2.Token, nil, nil)
	t.wantCatalogue("a banned player's session request", resp, b, err, 403, "forbidden", "this player is banned")
	t.wantClean(st)
}

// checkExpiry: a session with no downstream expires grace_ms after its
// creation: its sid then answers 404.
func checkExpiry(t *T) {
	s := t.session()
	grace := time.Duration(s.limit("grace_ms", 30000)) * time.Millisecond
	start := time.Now()
	for {
		// POST /send is no downstream: it keeps nothing alive.
		code, b, err := s.post(t.ctx, []byte("[]"))
		if err != nil {
			t.Fatalf("after %s: %v", time.Since(start), err)
		}
		if code == http.StatusNotFound {
			break
		}
		if code != http.StatusNoContent {
			t.Fatalf("POST send []: %d %s", code, b)
		}
		sleepCtx(t.ctx, grace/20)
	}
	if d := time.Since(start); d < grace*9/10 || d > grace+grace/2+5*time.Second {
		t.Errorf("the unattached session expired after %s, want grace_ms %s", d.Round(time.Millisecond), grace)
	}
}
