package conform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Event is one event on the wire.
type Event struct {
	Seq  int64           `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// sessionAnswer is the documented answer of POST /comet/session.
type sessionAnswer struct {
	V      int    `json:"v"`
	Sid    string `json:"sid"`
	Player struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Claimed bool   `json:"claimed"`
	} `json:"player"`
	Token       string           `json:"token"`
	HeartbeatMS int64            `json:"heartbeat_ms"`
	Transports  []string         `json:"transports"`
	Limits      map[string]int64 `json:"limits"`
}

// limit is a member of the session answer's limits, or def when absent.
func (s *session) limit(name string, def int64) int64 {
	if v, ok := s.Limits[name]; ok && v > 0 {
		return v
	}
	return def
}

// session is one tab: the answer, and the client's upstream counter.
type session struct {
	sessionAnswer
	r      *runner
	mu     sync.Mutex
	upSeq  int64
	cookie *http.Cookie
}

func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DisableCompression: true, Proxy: nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends one request and reads the whole answer.
func (r *runner) do(ctx context.Context, method, path, token string, body []byte, hdr http.Header) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.cfg.Base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, b, err
}

// newSession opens a session; token "" creates a new player.
func (r *runner) newSession(ctx context.Context, token, name string) (*session, *http.Response, error) {
	req := map[string]any{"v": 1}
	if name != "" {
		req["name"] = name
	}
	body, _ := json.Marshal(req)
	resp, b, err := r.do(ctx, "POST", "/comet/session", token, body, nil)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, resp, fmt.Errorf("POST /comet/session: %d %s", resp.StatusCode, b)
	}
	s := &session{r: r}
	if err := json.Unmarshal(b, &s.sessionAnswer); err != nil {
		return nil, resp, fmt.Errorf("POST /comet/session: %v in %s", err, b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "comet_token" {
			s.cookie = c
		}
	}
	return s, resp, nil
}

// session opens a session for the check (failing it on error).
func (t *T) session() *session {
	s, _, err := t.c.newSession(t.ctx, "", "")
	if err != nil {
		t.Fatalf("%v", err)
	}
	return s
}

// sessionOf opens another session for s's player.
func (t *T) sessionOf(s *session) *session {
	s2, _, err := t.c.newSession(t.ctx, s.Token, "")
	if err != nil {
		t.Fatalf("%v", err)
	}
	return s2
}

// ev builds a client event with the next client seq.
func (s *session) ev(typ string, data any) Event {
	s.mu.Lock()
	s.upSeq++
	seq := s.upSeq
	s.mu.Unlock()
	b, _ := json.Marshal(data)
	return Event{Seq: seq, Type: typ, Data: b}
}

// post sends raw bytes to /send and returns the status and body.
func (s *session) post(ctx context.Context, body []byte) (int, []byte, error) {
	resp, b, err := s.r.do(ctx, "POST", "/comet/"+s.Sid+"/send", s.Token, body, nil)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// send posts events and fails the check unless the server answers 204.
func (t *T) send(s *session, evs ...Event) {
	b, _ := json.Marshal(evs)
	st, body, err := s.post(t.ctx, b)
	if err != nil {
		t.Fatalf("POST send: %v", err)
	}
	if st != http.StatusNoContent {
		t.Fatalf("POST send: %d %s, want 204 (Upstream)", st, body)
	}
}

// say sends one event and returns its client seq.
func (t *T) say(s *session, typ string, data any) int64 {
	e := s.ev(typ, data)
	t.send(s, e)
	return e.Seq
}

// sysError is the data of sys.error.
type sysError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     int64  `json:"ref"`
}

// apiError is an HTTP error body.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// wantHTTPError checks an HTTP error answer: status, JSON {"error"}, and
// the exact text when want is not "".
func (t *T) wantHTTPError(what string, resp *http.Response, body []byte, status int, want string) {
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d (body %.120s)", what, resp.StatusCode, status, body)
		return
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json (errors are JSON)", what, ct)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: body %.120q is not {\"error\": …}", what, body)
		return
	}
	if want != "" && e.Error != want {
		t.Errorf("%s: error %q, want %q", what, e.Error, want)
	}
}

// unmarshal decodes data into v, failing the check on error.
func (t *T) unmarshal(what string, data []byte, v any) {
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v in %.200s", what, err, data)
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}
