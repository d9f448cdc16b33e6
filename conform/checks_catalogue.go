package conform

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// wantCatalogue checks one row of an error catalogue: status, code and the
// exact error text.
func (t *T) wantCatalogue(what string, resp *http.Response, body []byte, err error, status int, code, text string) {
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	var e apiError
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || e.Code != code || e.Error != text {
		t.Errorf("%s: %d %s, want %d {\"error\":%q,\"code\":%q}", what, resp.StatusCode, strings.TrimSpace(string(body)), status, text, code)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// checkCatalogueSession: the catalogue of POST /comet/session.
func checkCatalogueSession(t *T) {
	post := func(body string, hdr http.Header) (*http.Response, []byte, error) {
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		return t.c.do(t.ctx, "POST", "/comet/session", "", b, hdr)
	}
	resp, b, err := post(`{"v":1}`, http.Header{"Origin": {"http://evil.example"}})
	t.wantCatalogue("a cross-origin session request", resp, b, err, 403, "forbidden", "cross-origin request refused")
	if resp != nil && resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("Access-Control-Allow-Origin %q: the server sends no CORS headers", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	resp, b, err = post(`[1]`, nil)
	t.wantCatalogue("a body that is not an object", resp, b, err, 400, "invalid", `body must be a JSON object like {"v": 1, "name": "Ada"}`)
	resp, b, err = post(`{"v":"1"}`, nil)
	t.wantCatalogue("v of the wrong type", resp, b, err, 400, "invalid", `body must be a JSON object like {"v": 1, "name": "Ada"}`)
	resp, b, err = post(`{"v":2}`, nil)
	t.wantCatalogue("v 2", resp, b, err, 400, "unsupported_version", "protocol version 2 is not supported (this server speaks 1)")
}

// checkCatalogueStream: the catalogue of GET /comet/{sid}/{transport}.
func checkCatalogueStream(t *T) {
	s, other := t.session(), t.session()
	get := func(path, token string, hdr http.Header) (*http.Response, []byte, error) {
		return t.c.do(t.ctx, "GET", path, token, nil, hdr)
	}
	p := "/comet/" + s.Sid
	resp, b, err := get("/comet/s_conformNoSuchSession/poll?last=0", "", nil)
	t.wantCatalogue("an unknown sid without a token (the sid is checked first)", resp, b, err, 404, "not_found", "session not found")
	resp, b, err = get(p+"/poll?last=0", "", nil)
	t.wantCatalogue("no token", resp, b, err, 401, "unauthorized", "missing player token")
	resp, b, err = get(p+"/poll?last=0", "AAAAAAAAAAAAAAAAAAAAAA", nil)
	t.wantCatalogue("a token no player has", resp, b, err, 401, "unauthorized", "invalid player token")
	resp, b, err = get(p+"/poll?last=0", other.Token, nil)
	t.wantCatalogue("another player's token", resp, b, err, 403, "forbidden", "session belongs to another player")
	for _, q := range []string{"/poll?last=-1", "/poll?last=abc", "/sse?last=1.5"} {
		resp, b, err = get(p+q, s.Token, nil)
		t.wantCatalogue(q, resp, b, err, 400, "invalid", "last must be a non-negative integer")
	}
	resp, b, err = get(p+"/sse?last=0", s.Token, http.Header{"Last-Event-Id": {"x"}})
	t.wantCatalogue("Last-Event-ID: x", resp, b, err, 400, "invalid", "last must be a non-negative integer")
	for _, tr := range []string{"longpoll", "carrier-pigeon"} {
		resp, b, err = get(p+"/"+tr+"?last=0", s.Token, nil)
		t.wantCatalogue("/"+tr, resp, b, err, 404, "not_found", "not found")
	}
	for _, w := range []string{"1.5", "-1", fmt.Sprint(s.limit("max_wait_s", 30) + 1)} {
		resp, b, err = get(p+"/poll?last=0&wait="+w, s.Token, nil)
		t.wantCatalogue("wait="+w, resp, b, err, 400, "invalid", fmt.Sprintf("wait must be 0 to %d seconds", s.limit("max_wait_s", 30)))
	}
}

// checkCatalogueSend: the catalogue of POST /comet/{sid}/send; a refused
// request runs none of its events.
func checkCatalogueSend(t *T) {
	s := t.session()
	st := t.lobbyStream(s)
	p := "/comet/" + s.Sid + "/send"
	post := func(path, token, body string, hdr http.Header) (*http.Response, []byte, error) {
		return t.c.do(t.ctx, "POST", path, token, []byte(body), hdr)
	}
	ping := `{"seq":1,"type":"sys.ping","data":{"t":1}}`
	resp, b, err := post(p, s.Token, "["+ping+"]", http.Header{"Origin": {"http://evil.example"}})
	t.wantCatalogue("a cross-origin send", resp, b, err, 403, "forbidden", "cross-origin request refused")
	resp, b, err = post("/comet/s_conformNoSuchSession/send", s.Token, "["+ping+"]", nil)
	t.wantCatalogue("send to an unknown sid", resp, b, err, 404, "not_found", "session not found")
	resp, b, err = post(p, "", "["+ping+"]", nil)
	t.wantCatalogue("send without a token", resp, b, err, 401, "unauthorized", "missing player token")
	max := s.limit("send_bytes", 16384)
	big := `[{"seq":1,"type":"chat.say","data":{"channel":"lobby","text":"` + strings.Repeat("x", int(max)) + `"}}]`
	resp, b, err = post(p, s.Token, big, nil)
	t.wantCatalogue("a body over send_bytes", resp, b, err, 413, "too_large", fmt.Sprintf("body over %d bytes", max))
	var evs []string
	for i := 1; i <= int(s.limit("send_events", 64))+1; i++ {
		evs = append(evs, fmt.Sprintf(`{"seq":%d,"type":"sys.ping","data":{"t":1}}`, i))
	}
	rows := []struct{ what, body, text string }{
		{"a JSON object", `{"seq":1}`, "body must be a JSON array of events"},
		{"broken JSON", `[{"seq":1,]`, "body is not valid JSON: syntax error at byte 11"},
		{"65 events", "[" + strings.Join(evs, ",") + "]", fmt.Sprintf("at most %d events per request, got %d", len(evs)-1, len(evs))},
		{"a number for an event", `[1]`, "event 0: expected object, got number"},
		{"a string seq", `[{"seq":"1","type":"sys.ping","data":{"t":1}}]`, "event 0: seq must be integer"},
		{"seq 0", `[{"seq":0,"type":"sys.ping","data":{"t":1}}]`, "event 0: seq must be a positive integer"},
		{"no type", `[{"seq":1,"data":{}}]`, "event 0: type is required"},
		{"a 65-byte type", `[{"seq":1,"type":"` + strings.Repeat("t", 65) + `","data":{}}]`, "event 0: type longer than 64 bytes"},
	}
	for _, r := range rows {
		resp, b, err = post(p, s.Token, r.body, nil)
		t.wantCatalogue(r.what, resp, b, err, 400, "invalid", r.text)
	}
	for _, e := range t.fence(s, st) {
		if e.Type == "sys.pong" || e.Type == "sys.error" || e.Type == "chat.msg" {
			t.Errorf("a refused request ran: %s %s", e.Type, e.Data)
		}
	}
	t.wantClean(st)
}

// checkCatalogueSysError: the sys.error catalogue, exact texts.
func checkCatalogueSysError(t *T) {
	s := t.session()
	st := t.lobbyStream(s)
	rows := []struct {
		typ, data, code, text string
	}{
		{"x.nope", `{}`, "unknown_type", `unknown event type "x.nope"`},
		{"sys.ping", `{"t":1,"x":1}`, "invalid", `bad data: unknown field "x"`},
		{"sys.ping", `{"t":"1"}`, "invalid", "bad data: t must be number"},
		{"sys.ping", `{}`, "invalid", "sys.ping needs a finite number t"},
	}
	for _, r := range rows {
		seq := t.say(s, r.typ, json.RawMessage(r.data))
		if se := t.readError(st, seq); se.Code != r.code || se.Message != r.text {
			t.Errorf("%s %s: sys.error {%q, %q}, want {%q, %q}", r.typ, r.data, se.Code, se.Message, r.code, r.text)
		}
	}
	t.wantClean(st)
}

// checkCataloguePaths: the catalogue of any path (405, 404).
func checkCataloguePaths(t *T) {
	resp, b, err := t.c.do(t.ctx, "GET", "/comet/session", "", nil, nil)
	t.wantCatalogue("GET /comet/session", resp, b, err, 405, "method_not_allowed", "Method Not Allowed")
	resp, b, err = t.c.do(t.ctx, "GET", "/api/conform-no-such-path", "", nil, nil)
	t.wantCatalogue("an unknown path", resp, b, err, 404, "not_found", "not found")
}
