package conform

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

var (
	sidRE    = regexp.MustCompile(`^s_[A-Za-z0-9_-]+$`)
	playerRE = regexp.MustCompile(`^p_[A-Za-z0-9_-]{12}$`)
	guestRE  = regexp.MustCompile(`^Guest-[0-9]{4}$`)
	tokenRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`) // 128 bits, base64url without padding
)

// checkSessionCreate: the answer of POST /comet/session and its cookie.
func checkSessionCreate(t *T) {
	s, resp, err := t.c.newSession(t.ctx, "", "")
	if err != nil {
		t.Fatalf("%v", err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !sidRE.MatchString(s.Sid) {
		t.Errorf("sid %q, want s_…", s.Sid)
	}
	if !playerRE.MatchString(s.Player.ID) {
		t.Errorf("player.id %q, want p_ and 12 base64url characters", s.Player.ID)
	}
	if !guestRE.MatchString(s.Player.Name) {
		t.Errorf("player.name %q, want a guest named Guest-NNNN", s.Player.Name)
	}
	if s.Player.Claimed {
		t.Errorf("player.claimed true for a new guest")
	}
	if !tokenRE.MatchString(s.Token) {
		t.Errorf("token %q, want 128 random bits in base64url (22 characters)", s.Token)
	}
	if s.V != 1 {
		t.Errorf("v %d, want 1 (the version the session speaks)", s.V)
	}
	for _, k := range []string{"heartbeat_ms", "grace_ms", "replay_events", "replay_bytes", "send_events", "send_bytes", "send_window", "recycle_bytes", "recycle_ms", "max_wait_s", "write_timeout_ms"} {
		if s.Limits[k] <= 0 {
			t.Errorf("limits.%s %d, want a positive number", k, s.Limits[k])
		}
	}
	if s.Limits["heartbeat_ms"] != s.HeartbeatMS {
		t.Errorf("limits.heartbeat_ms %d differs from heartbeat_ms %d", s.Limits["heartbeat_ms"], s.HeartbeatMS)
	}
	if s.HeartbeatMS <= 0 {
		t.Errorf("heartbeat_ms %d, want a positive number", s.HeartbeatMS)
	}
	// The five documented names in their fallback order; a server may offer
	// more (additions a client ignores do not change the version).
	var documented []string
	for _, tr := range s.Transports {
		if slices.Contains(allTransports, tr) {
			documented = append(documented, tr)
		}
	}
	if !slices.Equal(documented, allTransports) {
		t.Errorf("transports %q, want %q in that order", s.Transports, allTransports)
	}
	var raw map[string]json.RawMessage
	_, body, _ := t.c.do(t.ctx, "POST", "/comet/session", "", nil, nil)
	if json.Unmarshal(body, &raw) == nil {
		for _, k := range []string{"v", "sid", "player", "token", "heartbeat_ms", "transports", "limits"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("the answer lacks %q", k)
			}
		}
	}
	var sc string
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "comet_token=") {
			sc = v
		}
	}
	if sc == "" {
		t.Fatalf("no Set-Cookie: comet_token for a request without a token")
	}
	if s.cookie == nil || s.cookie.Value != s.Token {
		t.Errorf("cookie comet_token %q, want the token %q", s.cookie.Value, s.Token)
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=34560000"} {
		if !slices.Contains(strings.Split(sc, "; "), attr) {
			t.Errorf("Set-Cookie %q lacks %s", sc, attr)
		}
	}
}

// checkSessionToken: a valid token keeps the player; a cookie gets no new cookie.
func checkSessionToken(t *T) {
	s := t.session()
	s2 := t.sessionOf(s)
	if s2.Player.ID != s.Player.ID || s2.Sid == s.Sid {
		t.Errorf("Bearer token: player %s sid %s, want the same player %s and a new sid", s2.Player.ID, s2.Sid, s.Player.ID)
	}
	hdr := http.Header{"Cookie": {"comet_token=" + s.Token}}
	resp, body, err := t.c.do(t.ctx, "POST", "/comet/session", "", nil, hdr)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var a sessionAnswer
	t.unmarshal("session answer", body, &a)
	if a.Player.ID != s.Player.ID {
		t.Errorf("cookie: player %s, want the same player %s", a.Player.ID, s.Player.ID)
	}
	if len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("cookie: a new Set-Cookie %q for a browser presenting its cookie", resp.Header.Values("Set-Cookie"))
	}
	resp, body, err = t.c.do(t.ctx, "POST", "/comet/session", "", nil, http.Header{"Cookie": {"comet_token=AAAAAAAAAAAAAAAAAAAAAA"}})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.unmarshal("session answer", body, &a)
	if a.Player.ID == s.Player.ID || !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), " "), "comet_token=") {
		t.Errorf("unknown cookie: player %s and Set-Cookie %q, want a new guest and a new cookie", a.Player.ID, resp.Header.Values("Set-Cookie"))
	}
}

// checkSessionName: {"name"} renames first; a refused name is 400/409 {"error"}.
func checkSessionName(t *T) {
	name := "Conform " + randName(t)
	s, _, err := t.c.newSession(t.ctx, "", name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if s.Player.Name != name {
		t.Errorf("name %q, want %q", s.Player.Name, name)
	}
	body, _ := json.Marshal(map[string]string{"name": "no<way>"})
	resp, b, err := t.c.do(t.ctx, "POST", "/comet/session", "", body, nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.wantHTTPError("a refused name", resp, b, http.StatusBadRequest, "")
	body, _ = json.Marshal(map[string]string{"name": strings.ToLower(name)})
	resp, b, err = t.c.do(t.ctx, "POST", "/comet/session", "", body, nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.wantHTTPError("a name in use", resp, b, http.StatusConflict, "")
}

// checkSessionAuth: 401 without a token, 403 with another player's, 404 for
// an unknown sid, and a 404 with another body for an unknown transport.
func checkSessionAuth(t *T) {
	s := t.session()
	other := t.session()
	path := "/comet/" + s.Sid + "/poll?last=0"
	resp, b, err := t.c.do(t.ctx, "GET", path, "", nil, nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.wantHTTPError("no token", resp, b, http.StatusUnauthorized, "")
	resp, b, _ = t.c.do(t.ctx, "GET", path, "not-a-token", nil, nil)
	t.wantHTTPError("an unknown token", resp, b, http.StatusUnauthorized, "")
	resp, b, _ = t.c.do(t.ctx, "GET", path, other.Token, nil, nil)
	t.wantHTTPError("another player's token", resp, b, http.StatusForbidden, "")
	resp, b, _ = t.c.do(t.ctx, "POST", "/comet/"+s.Sid+"/send", other.Token, []byte("[]"), nil)
	t.wantHTTPError("send with another player's token", resp, b, http.StatusForbidden, "")
	resp, b, _ = t.c.do(t.ctx, "GET", "/comet/s_conformNoSuchSession/poll?last=0", s.Token, nil, nil)
	t.wantHTTPError("an unknown sid", resp, b, http.StatusNotFound, "session not found")
	var nf apiError
	if resp.StatusCode == 404 && (json.Unmarshal(b, &nf) != nil || nf.Error != "session not found" || (nf.Code != "" && nf.Code != "not_found")) {
		t.Errorf("unknown sid: body %q, want {\"error\":\"session not found\"} (with code not_found when coded)", b)
	}
	resp, b, _ = t.c.do(t.ctx, "GET", "/comet/"+s.Sid+"/carrier-pigeon?last=0", s.Token, nil, nil)
	if resp.StatusCode != 404 || strings.Contains(string(b), "session not found") {
		t.Errorf("unknown transport: %d %.80q, want 404 with a body other than session not found", resp.StatusCode, b)
	}
}

// randName is a short random suffix for names.
func randName(t *T) string {
	const letters = "abcdefghijkmnopqrstuvwxyz"
	b := make([]byte, 8)
	for i := range b {
		b[i] = letters[t.rnd.IntN(len(letters))]
	}
	return string(b)
}

// checkVersion: a version the server does not speak is 400
// unsupported_version with the versions spoken, and creates nothing.
func checkVersion(t *T) {
	resp, b, err := t.c.do(t.ctx, "POST", "/comet/session", "", []byte(`{"v":2}`), nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.wantHTTPError("v 2", resp, b, http.StatusBadRequest, "")
	var e struct {
		Error    string `json:"error"`
		Code     string `json:"code"`
		Versions []int  `json:"versions"`
	}
	_ = json.Unmarshal(b, &e)
	if e.Code != "unsupported_version" || !slices.Contains(e.Versions, 1) {
		t.Errorf("v 2: %s, want code unsupported_version and versions holding 1", b)
	}
	if len(resp.Header.Values("Set-Cookie")) > 0 {
		t.Errorf("v 2 set a cookie: refused before anything is created")
	}
	// No body at all is version 1.
	resp, b, err = t.c.do(t.ctx, "POST", "/comet/session", "", nil, nil)
	var a sessionAnswer
	if err != nil || resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &a) != nil || a.V != 1 {
		t.Errorf("a session request without a body: %v %.100q, want 201 with v 1", err, b)
	}
	// The Bearer scheme in any case (RFC 7235).
	s := t.session()
	resp, b, _ = t.c.do(t.ctx, "GET", "/comet/"+s.Sid+"/poll?last=0", "", nil, http.Header{"Authorization": {"bearer " + s.Token}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Authorization: bearer (lower case): %d %.80q, want 200", resp.StatusCode, b)
	}
}
