package browsertest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// protoServer speaks docs/PROTOCOL.md, byte for byte, for the browser tests
// of the client library while the real server is being written. It keeps
// every event, so replays and resets are trivial, and has knobs to misbehave:
// cut streams, go silent like a buffering proxy, expire sessions, fail sends.
type protoServer struct {
	heartbeat    time.Duration
	recycleAfter int // events per streaming response before a clean end; 0 = never

	mu        sync.Mutex
	sessions  map[string]*protoSession
	players   map[string]string // token -> player id
	nextID    int
	changed   chan struct{} // closed and replaced on every change any stream may care about
	cutGen    int           // bumped by cut(): streams from an older generation abort
	down      bool          // answer 503 to everything
	silent    map[string]bool
	notFound  map[string]bool // transports answered with 404, as by a server without them
	failSends int             // next POSTs to /send that answer 500
	sendDelay time.Duration
	overlap   int // streaming transports resend this many already-delivered events on every (re)connect
	refuse    int // next POSTs to /send that answer 400

	inFlightSends, maxInFlightSends int
	sendBodies                      [][]sentEvent
	opens                           map[string]int // downstreams opened, per transport
}

type sentEvent struct {
	Seq  int             `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type protoSession struct {
	sid, player string
	events      [][]byte // events[i] is the event with seq i+1
	attached    int      // generation of the attached downstream
	taken       map[int]bool
	received    []sentEvent
}

func newProtoServer() *protoServer {
	return &protoServer{
		heartbeat: time.Second,
		sessions:  map[string]*protoSession{},
		players:   map[string]string{},
		changed:   make(chan struct{}),
		silent:    map[string]bool{},
		notFound:  map[string]bool{},
		opens:     map[string]int{},
	}
}

// notifyLocked wakes every waiting stream; ps.mu must be held.
func (ps *protoServer) notifyLocked() {
	close(ps.changed)
	ps.changed = make(chan struct{})
}

func (ps *protoServer) set(fn func(ps *protoServer)) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	fn(ps)
	ps.notifyLocked()
}

// publish appends an event to a session (the latest one if sid is "").
func (ps *protoServer) publish(t testing.TB, sid, typ string, data any) {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	s := ps.sessions[sid]
	if sid == "" {
		s = ps.latestLocked()
	}
	if s == nil {
		t.Fatalf("publish %s: no session %q", typ, sid)
	}
	ps.appendLocked(s, typ, raw)
}

func (ps *protoServer) appendLocked(s *protoSession, typ string, data json.RawMessage) {
	tb, _ := json.Marshal(typ)
	ev := fmt.Sprintf(`{"seq":%d,"type":%s,"data":%s}`, len(s.events)+1, tb, data)
	s.events = append(s.events, []byte(ev))
	ps.notifyLocked()
}

func (ps *protoServer) latestLocked() *protoSession {
	var best *protoSession
	for _, s := range ps.sessions {
		if best == nil || s.sid > best.sid {
			best = s
		}
	}
	return best
}

// cut aborts every open downstream mid-response, as a network failure would.
func (ps *protoServer) cut() { ps.set(func(ps *protoServer) { ps.cutGen++ }) }

// expire forgets a session and cuts its streams: the next request gets 404.
func (ps *protoServer) expire(sid string) {
	ps.set(func(ps *protoServer) {
		delete(ps.sessions, sid)
		ps.cutGen++
	})
}

func (ps *protoServer) sessionCount() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.sessions)
}

func (ps *protoServer) received(sid string) []sentEvent {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s := ps.sessions[sid]; s != nil {
		return append([]sentEvent(nil), s.received...)
	}
	return nil
}

func (ps *protoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ps.mu.Lock()
	down := ps.down
	ps.mu.Unlock()
	if down {
		httpError(w, http.StatusServiceUnavailable, "down for the test")
		return
	}
	if r.URL.Path == "/comet/session" {
		ps.openSession(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/comet/")
	sid, op, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	s, status, msg := ps.authorize(r, sid)
	if s == nil {
		httpError(w, status, msg)
		return
	}
	switch {
	case op == "send" && r.Method == http.MethodPost:
		ps.send(w, r, s)
	case op == "poll" && r.Method == http.MethodGet:
		ps.poll(w, r, s)
	case (op == "multipart" || op == "sse" || op == "iframe") && r.Method == http.MethodGet:
		ps.stream(w, r, s, op)
	default:
		httpError(w, http.StatusNotFound, "not found")
	}
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (ps *protoServer) openSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		httpError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	if !sameOrigin(r) {
		httpError(w, http.StatusForbidden, "cross-origin")
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			httpError(w, http.StatusBadRequest, "bad body")
			return
		}
	}
	ps.mu.Lock()
	token := ""
	if c, err := r.Cookie("comet_token"); err == nil && ps.players[c.Value] != "" {
		token = c.Value
	}
	if token == "" {
		token = randomHex(16)
		ps.nextID++
		ps.players[token] = fmt.Sprintf("p_%d", ps.nextID)
		http.SetCookie(w, &http.Cookie{Name: "comet_token", Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	ps.nextID++
	s := &protoSession{sid: fmt.Sprintf("s_%06d", ps.nextID), player: ps.players[token], taken: map[int]bool{}}
	ps.sessions[s.sid] = s
	ps.mu.Unlock()
	name := body.Name
	if name == "" {
		name = "Guest"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"sid":          s.sid,
		"player":       map[string]string{"id": s.player, "name": name},
		"token":        token,
		"heartbeat_ms": ps.heartbeat.Milliseconds(),
		"transports":   []string{"multipart", "sse", "iframe", "longpoll", "poll"},
	})
}

func sameOrigin(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin"
}

func (ps *protoServer) authorize(r *http.Request, sid string) (*protoSession, int, string) {
	token := ""
	if c, err := r.Cookie("comet_token"); err == nil {
		token = c.Value
	}
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = h
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	player := ps.players[token]
	if player == "" {
		return nil, http.StatusUnauthorized, "no valid token"
	}
	s := ps.sessions[sid]
	if s == nil {
		return nil, http.StatusNotFound, "session not found"
	}
	if s.player != player {
		return nil, http.StatusForbidden, "not your session"
	}
	return s, 0, ""
}

func (ps *protoServer) send(w http.ResponseWriter, r *http.Request, s *protoSession) {
	if !sameOrigin(r) {
		httpError(w, http.StatusForbidden, "cross-origin")
		return
	}
	ps.mu.Lock()
	ps.inFlightSends++
	ps.maxInFlightSends = max(ps.maxInFlightSends, ps.inFlightSends)
	fail := ps.failSends > 0
	if fail {
		ps.failSends--
	}
	refuse := ps.refuse > 0
	if refuse {
		ps.refuse--
	}
	delay := ps.sendDelay
	ps.mu.Unlock()
	defer func() {
		ps.mu.Lock()
		ps.inFlightSends--
		ps.mu.Unlock()
	}()
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read body")
		return
	}
	if len(body) > 16<<10 {
		httpError(w, http.StatusRequestEntityTooLarge, "body over 16 KiB")
		return
	}
	var evs []sentEvent
	if err := json.Unmarshal(body, &evs); err != nil {
		httpError(w, http.StatusBadRequest, "not a JSON array of events")
		return
	}
	if len(evs) > 64 {
		httpError(w, http.StatusBadRequest, "over 64 events")
		return
	}
	time.Sleep(delay)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.sendBodies = append(ps.sendBodies, evs)
	if fail {
		httpError(w, http.StatusInternalServerError, "failing for the test")
		return
	}
	if refuse {
		httpError(w, http.StatusBadRequest, "refusing for the test")
		return
	}
	for _, ev := range evs {
		if s.taken[ev.Seq] {
			continue
		}
		s.taken[ev.Seq] = true
		s.received = append(s.received, ev)
		switch ev.Type {
		case "sys.ping":
			var d struct {
				T float64 `json:"t"`
			}
			json.Unmarshal(ev.Data, &d)
			raw, _ := json.Marshal(map[string]float64{"t": d.T})
			ps.appendLocked(s, "sys.pong", raw)
		case "test.echo":
			ps.appendLocked(s, "test.echoed", ev.Data)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// cursor reads ?last= (and Last-Event-ID for SSE, which wins).
func cursor(r *http.Request) (int, error) {
	v := r.URL.Query().Get("last")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		v = id
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad last %q", v)
	}
	return n, nil
}

// attach makes a new downstream the session's only one.
func (ps *protoServer) attach(s *protoSession, transport string) (gen, cutGen int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	s.attached++
	ps.opens[transport]++
	ps.notifyLocked()
	return s.attached, ps.cutGen
}

// next waits for events after last (or for heartbeat/ending conditions):
// it returns the pending events, whether the stream must end cleanly (a newer
// downstream attached) or abort (cut), and a channel that fires on change.
func (ps *protoServer) pending(s *protoSession, last, gen, cutGen, limit int) (evs [][]byte, ended, aborted bool, ch <-chan struct{}) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.cutGen != cutGen || ps.sessions[s.sid] != s {
		return nil, false, true, nil
	}
	if s.attached != gen {
		return nil, true, false, nil
	}
	from := max(0, min(last, len(s.events)))
	evs = s.events[from:]
	if limit > 0 && len(evs) > limit {
		evs = evs[:limit]
	}
	return evs, false, false, ps.changed
}

func batch(evs [][]byte) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// frame formats one batch for a streaming transport.
type framer struct {
	head     func(w http.ResponseWriter) string // sets headers, returns the prelude
	batch    func(b []byte, lastSeq int) string
	end      string
	boundary string
}

func (ps *protoServer) framer(kind, sid string) framer {
	switch kind {
	case "multipart":
		bd := "comet-" + randomHex(8)
		return framer{
			head: func(w http.ResponseWriter) string {
				w.Header().Set("Content-Type", `multipart/x-mixed-replace; boundary="`+bd+`"`)
				return strings.Repeat(" ", 2048) + "\r\n"
			},
			batch: func(b []byte, _ int) string {
				return "--" + bd + "\r\nContent-Type: application/json\r\n\r\n" + string(b) + "\r\n"
			},
			end: "--" + bd + "--\r\n",
		}
	case "sse":
		return framer{
			head: func(w http.ResponseWriter) string {
				w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				return ":" + strings.Repeat(" ", 2048) + "\nretry: 1000\n\n"
			},
			batch: func(b []byte, lastSeq int) string {
				if lastSeq == 0 {
					return "data: " + string(b) + "\n\n"
				}
				return "id: " + strconv.Itoa(lastSeq) + "\ndata: " + string(b) + "\n\n"
			},
		}
	default: // iframe
		nonce := randomHex(12)
		jsid, _ := json.Marshal(sid)
		call := `<script nonce="` + nonce + `">parent.__comet(` + string(jsid) + `,`
		return framer{
			head: func(w http.ResponseWriter) string {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'")
				return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>comet</title></head><body>` + "\n" +
					"<!-- " + strings.Repeat(" ", 1024) + " -->\n"
			},
			batch: func(b []byte, _ int) string { return call + string(b) + ")</script>\n" },
			end:   call + "null)</script></body></html>",
		}
	}
}

func (ps *protoServer) stream(w http.ResponseWriter, r *http.Request, s *protoSession, kind string) {
	last, err := cursor(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	ps.mu.Lock()
	silent, notFound, overlap := ps.silent[kind], ps.notFound[kind], ps.overlap
	ps.mu.Unlock()
	if notFound {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	flusher := w.(http.Flusher)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Connection", "close")
	f := ps.framer(kind, s.sid)
	prelude := f.head(w)
	if silent {
		// A buffering proxy: headers pass, the body never does.
		w.WriteHeader(http.StatusOK)
		flusher.Flush()
		<-r.Context().Done()
		return
	}
	gen, cutGen := ps.attach(s, kind)
	last = max(0, last-overlap)
	bw := bufio.NewWriter(w)
	write := func(s string) {
		bw.WriteString(s)
		bw.Flush()
		flusher.Flush()
	}
	write(prelude)
	sent := 0
	hb := time.NewTimer(ps.heartbeat)
	defer hb.Stop()
	for {
		ps.mu.Lock()
		recycle := ps.recycleAfter
		ps.mu.Unlock()
		limit := 0
		if recycle > 0 {
			limit = max(1, recycle-sent)
		}
		evs, ended, aborted, ch := ps.pending(s, last, gen, cutGen, limit)
		switch {
		case aborted:
			panic(http.ErrAbortHandler) // drop the connection without a terminator
		case ended:
			write(f.end)
			return
		case len(evs) > 0:
			last += len(evs)
			sent += len(evs)
			write(f.batch(batch(evs), last))
			hb.Reset(ps.heartbeat)
			if recycle > 0 && sent >= recycle {
				write(f.end)
				return
			}
			continue
		}
		select {
		case <-ch:
		case <-hb.C:
			write(f.batch([]byte("[]"), 0))
			hb.Reset(ps.heartbeat)
		case <-r.Context().Done():
			return
		}
	}
}

func (ps *protoServer) poll(w http.ResponseWriter, r *http.Request, s *protoSession) {
	last, err := cursor(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	wait, err := strconv.Atoi(r.URL.Query().Get("wait"))
	if err != nil || wait < 0 || wait > 30 {
		httpError(w, http.StatusBadRequest, "bad wait")
		return
	}
	kind := "poll"
	if wait > 0 {
		kind = "longpoll"
	}
	gen, cutGen := ps.attach(s, kind)
	deadline := time.NewTimer(time.Duration(wait) * time.Second)
	defer deadline.Stop()
	var out [][]byte
	for {
		evs, ended, aborted, ch := ps.pending(s, last, gen, cutGen, 0)
		if aborted {
			panic(http.ErrAbortHandler)
		}
		if len(evs) > 0 || ended || wait == 0 {
			out = evs
			break
		}
		select {
		case <-ch:
			continue
		case <-deadline.C:
		case <-r.Context().Done():
			return
		}
		break
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(batch(out))
}
