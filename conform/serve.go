package conform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mock is a scripted Comet server for client authors (`comet conform
// --serve`): each session's downstream gets deliberate cuts, a duplicate, a
// recycle, a sys.reset and odd chunking, and Mock reports what the client did.
type Mock struct {
	Out       io.Writer     // each finding as a PASS/FAIL line
	Heartbeat time.Duration // heartbeat_ms of its sessions (1 s)

	mu       sync.Mutex
	sessions map[string]*mockSession
	order    []string
}

// Finding is one thing the mock saw a client do, right or wrong.
type Finding struct {
	Session string `json:"session"`
	Name    string `json:"name"`
	Pass    bool   `json:"pass"`
	Detail  string `json:"detail"`
}

// MockReport is the body of GET /conform/report.
type MockReport struct {
	Findings []Finding `json:"findings"`
	Passed   int       `json:"passed"`
	Failed   int       `json:"failed"`
	Done     []string  `json:"done"` // sessions whose client went through the whole script
}

type mockSession struct {
	sid, token string
	step       int   // the script item the next downstream continues from
	delivered  int64 // the seq of the last event a complete frame carried
	after      string
	nextSeq    int64
	queue      []Event // pongs waiting for the holding stream
	upMax      int64   // the highest client seq taken
	upAborted  []Event // the events of the POST the mock dropped unanswered
	aborted    bool
	inFlight   int
	done       bool
	wake       chan struct{}
	cur        chan struct{} // closed when a newer downstream attaches
	findings   []Finding
}

// item is one step of the script.
type item struct {
	kind  string  // batch, heartbeat, cut (half a batch, then the connection drops), drop (drop after whole frames), end (recycle), hold
	evs   []Event // for batch and cut
	split bool    // write the frame in chunks of 1–7 bytes
	name  string  // what the client is checked on at its next request
}

func scripted(seq int64, typ string, n int) Event {
	return Event{Seq: seq, Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

// script is every session's downstream, consumed across its requests.
func script() []item {
	ev := func(seqs ...int64) []Event {
		out := make([]Event, len(seqs))
		for i, s := range seqs {
			out[i] = scripted(s, "conform.event", int(s))
		}
		return out
	}
	return []item{
		{kind: "batch", evs: ev(1, 2, 3), split: true},
		{kind: "heartbeat"},
		{kind: "batch", evs: ev(4, 5, 6)},
		{kind: "cut", evs: ev(7, 8), name: "resume after a cut in the middle of a batch"},
		{kind: "batch", evs: ev(7, 8, 9), split: true},
		{kind: "batch", evs: ev(8)}, // a duplicate: a client drops seq <= last
		{kind: "drop", name: "resume after a duplicate seq (dropped, last unchanged)"},
		{kind: "batch", evs: ev(10, 11)},
		{kind: "end", name: "resume after a recycle end frame"},
		{kind: "batch", evs: []Event{{Seq: 50, Type: "sys.reset", Data: json.RawMessage(`{}`)}, scripted(51, "conform.fresh", 51)}, split: true},
		{kind: "drop", name: "resume after sys.reset numbered far above last"},
		{kind: "hold"},
	}
}

// Handler serves the mock's sessions, transports and GET /conform/report.
func (m *Mock) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /comet/session", m.session)
	mux.HandleFunc("GET /comet/{sid}/{tr}", m.downstream)
	mux.HandleFunc("POST /comet/{sid}/send", m.send)
	mux.HandleFunc("GET /conform/report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m.Report())
	})
	return mux
}

// Report returns every finding so far.
func (m *Mock) Report() MockReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	rep := MockReport{Findings: []Finding{}, Done: []string{}}
	for _, sid := range m.order {
		s := m.sessions[sid]
		rep.Findings = append(rep.Findings, s.findings...)
		if s.done {
			rep.Done = append(rep.Done, sid)
		}
	}
	for _, f := range rep.Findings {
		if f.Pass {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	return rep
}

// note records a finding (m.mu held) and prints it.
func (m *Mock) note(s *mockSession, name string, pass bool, format string, args ...any) {
	f := Finding{Session: s.sid, Name: name, Pass: pass, Detail: fmt.Sprintf(format, args...)}
	s.findings = append(s.findings, f)
	word := "PASS"
	if !pass {
		word = "FAIL"
	}
	if m.Out != nil {
		fmt.Fprintf(m.Out, "%s %s %s — %s\n", word, s.sid, name, f.Detail)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"code":%q}`, msg, code)
}

func (m *Mock) session(w http.ResponseWriter, r *http.Request) {
	hb := m.Heartbeat
	if hb <= 0 {
		hb = time.Second
	}
	s := &mockSession{sid: "s_" + randHex(8), token: randHex(11), wake: make(chan struct{}, 1), nextSeq: 52}
	m.mu.Lock()
	if m.sessions == nil {
		m.sessions = map[string]*mockSession{}
	}
	m.sessions[s.sid] = s
	m.order = append(m.order, s.sid)
	m.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "comet_token", Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 34560000})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	ms := hb.Milliseconds()
	fmt.Fprintf(w, `{"v":1,"sid":%q,"player":{"id":"p_conformmock","name":"Guest-0001","claimed":false},"token":%q,"heartbeat_ms":%d,`+
		`"transports":["multipart","sse","iframe","longpoll","poll"],"limits":{"heartbeat_ms":%d,"grace_ms":30000,"replay_events":1024,"replay_bytes":524288,`+
		`"send_events":64,"send_bytes":16384,"send_window":64,"recycle_bytes":262144,"recycle_ms":300000,"max_wait_s":30,"write_timeout_ms":10000}}`,
		s.sid, s.token, ms, ms)
}

// auth finds the session and checks the client presented its token.
func (m *Mock) auth(w http.ResponseWriter, r *http.Request) *mockSession {
	m.mu.Lock()
	s := m.sessions[r.PathValue("sid")]
	m.mu.Unlock()
	if s == nil {
		writeError(w, http.StatusNotFound, "not_found", "session not found")
		return nil
	}
	tok := ""
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		tok = a[7:]
	} else if c, err := r.Cookie("comet_token"); err == nil {
		tok = c.Value
	}
	if tok != s.token {
		m.mu.Lock()
		m.note(s, "token on every request", false, "%s %s without the session's token", r.Method, r.URL.Path)
		m.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "unauthorized", "token required")
		return nil
	}
	return s
}

// send takes the client's events: seqs must go up by one, a resent request
// must be the dropped one as is, and only one POST may be in flight.
func (m *Mock) send(w http.ResponseWriter, r *http.Request) {
	s := m.auth(w, r)
	if s == nil {
		return
	}
	var evs []Event
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<10)).Decode(&evs); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "body must be a JSON array of events")
		return
	}
	m.mu.Lock()
	s.inFlight++
	if s.inFlight > 1 {
		m.note(s, "one POST in flight", false, "a POST of seqs %s while another was unanswered", seqList(evs))
	}
	if s.upAborted != nil {
		ok := len(evs) >= len(s.upAborted)
		for i := 0; ok && i < len(s.upAborted); i++ {
			ok = evs[i].Seq == s.upAborted[i].Seq && evs[i].Type == s.upAborted[i].Type && string(evs[i].Data) == string(s.upAborted[i].Data)
		}
		m.note(s, "resend an unanswered POST as is", ok, "dropped %s, next POST %s", seqList(s.upAborted), seqList(evs))
		s.upAborted = nil
	}
	for _, e := range evs {
		switch {
		case e.Seq <= s.upMax:
			continue // taken already: a resend
		case e.Seq != s.upMax+1:
			m.note(s, "client seqs 1, 2, 3 …", false, "seq %d after %d", e.Seq, s.upMax)
		}
		s.upMax = e.Seq
		if e.Type == "sys.ping" {
			s.queue = append(s.queue, Event{Type: "sys.pong", Data: e.Data})
		}
	}
	drop := !s.aborted && len(evs) > 0
	if drop {
		s.aborted, s.upAborted = true, evs
	}
	m.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	// Answer late, so a client that overlaps POSTs shows it.
	t := time.NewTimer(150 * time.Millisecond)
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	m.mu.Lock()
	s.inFlight--
	m.mu.Unlock()
	if drop {
		// The first POST is taken but never answered: the client must resend it as is.
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(http.StatusNoContent)
}

func seqList(evs []Event) string {
	var b []string
	for _, e := range evs {
		b = append(b, strconv.FormatInt(e.Seq, 10))
	}
	return "[" + strings.Join(b, " ") + "]"
}

// mockWriter writes one transport's framing, flushing each piece.
type mockWriter struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	tr, sid  string
	boundary string
	nonce    string
}

func (mw *mockWriter) write(b []byte, split bool) {
	for len(b) > 0 {
		n := len(b)
		if split {
			n = min(len(b), 1+len(b)%7)
		}
		_, _ = mw.w.Write(b[:n])
		_ = mw.rc.Flush()
		b = b[n:]
	}
}

func (mw *mockWriter) prelude() []byte {
	switch mw.tr {
	case "multipart":
		return []byte(strings.Repeat(" ", 2048) + "\r\n")
	case "sse":
		return []byte(":" + strings.Repeat(" ", 2048) + "\nretry: 1000\n\n")
	default:
		return []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>comet</title></head><body>` + "\n<!-- " + strings.Repeat(" ", 1024) + " -->\n")
	}
}

func (mw *mockWriter) frame(batch []byte) []byte {
	switch mw.tr {
	case "multipart":
		return []byte("--" + mw.boundary + "\r\nContent-Type: application/json\r\n\r\n" + string(batch) + "\r\n")
	case "sse":
		var evs []Event
		_ = json.Unmarshal(batch, &evs)
		if len(evs) == 0 || evs[0].Seq == 0 {
			return []byte("data: " + string(batch) + "\n\n")
		}
		return []byte("id: " + strconv.FormatInt(evs[len(evs)-1].Seq, 10) + "\ndata: " + string(batch) + "\n\n")
	default:
		return []byte(`<script nonce="` + mw.nonce + `">parent.__comet("` + mw.sid + `",` + string(batch) + ")</script>\n")
	}
}

func (mw *mockWriter) end(why string) []byte {
	obj := `{"end":"` + why + `"}`
	switch mw.tr {
	case "multipart":
		return []byte("--" + mw.boundary + "\r\nContent-Type: application/json\r\n\r\n" + obj + "\r\n--" + mw.boundary + "--\r\n")
	case "sse":
		return []byte("data: " + obj + "\n\n")
	default:
		return []byte(`<script nonce="` + mw.nonce + `">parent.__comet("` + mw.sid + `",` + obj + ")</script></body></html>\n")
	}
}

func batchJSON(evs []Event) []byte {
	if len(evs) == 0 {
		return []byte("[]")
	}
	b, _ := json.Marshal(evs)
	return b
}

// downstream serves one downstream request from the session's script.
func (m *Mock) downstream(w http.ResponseWriter, r *http.Request) {
	s := m.auth(w, r)
	if s == nil {
		return
	}
	tr := r.PathValue("tr")
	if !slices.Contains([]string{"multipart", "sse", "iframe", "poll"}, tr) {
		writeError(w, http.StatusNotFound, "not_found", "no transport "+tr)
		return
	}
	last, err := strconv.ParseInt(r.URL.Query().Get("last"), 10, 64)
	if id := r.Header.Get("Last-Event-ID"); id != "" && tr == "sse" {
		last, err = strconv.ParseInt(id, 10, 64)
	}
	m.mu.Lock()
	if err != nil {
		m.note(s, "last on every downstream request", false, "%s request without a numeric last", tr)
		last = -1
	}
	name := s.after
	if name == "" && s.step == 0 {
		name = "first downstream with last=0"
	}
	if name != "" {
		m.note(s, name, last == s.delivered, "%s with last=%d, want %d", tr, last, s.delivered)
		s.after = ""
	} else if last != s.delivered {
		m.note(s, "last acknowledges what was received", false, "%s with last=%d, want %d", tr, last, s.delivered)
	}
	if s.cur != nil {
		close(s.cur)
	}
	s.cur = make(chan struct{})
	mine := s.cur
	m.mu.Unlock()
	mw := &mockWriter{w: w, rc: http.NewResponseController(w), tr: tr, sid: s.sid, boundary: "comet-" + randHex(8), nonce: randHex(12)}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if tr == "poll" {
		m.poll(w, r, s)
		return
	}
	h.Set("X-Accel-Buffering", "no")
	h.Set("Connection", "close")
	switch tr {
	case "multipart":
		h.Set("Content-Type", `multipart/x-mixed-replace; boundary="`+mw.boundary+`"`)
	case "sse":
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
	case "iframe":
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+mw.nonce+"'")
	}
	w.WriteHeader(http.StatusOK)
	mw.write(mw.prelude(), true)
	mw.write(mw.frame([]byte("[]")), false)
	hb := m.Heartbeat
	if hb <= 0 {
		hb = time.Second
	}
	items := script()
	for {
		m.mu.Lock()
		if s.step >= len(items) {
			s.step = len(items) - 1
		}
		it := items[s.step]
		if it.kind != "hold" {
			s.step++
		}
		m.mu.Unlock()
		switch it.kind {
		case "batch":
			mw.write(mw.frame(batchJSON(it.evs)), it.split)
			m.mu.Lock()
			s.delivered = max(s.delivered, it.evs[len(it.evs)-1].Seq)
			m.mu.Unlock()
		case "heartbeat":
			mw.write(mw.frame([]byte("[]")), true)
		case "cut", "drop":
			if it.kind == "cut" {
				f := mw.frame(batchJSON(it.evs))
				mw.write(f[:len(f)/2], false)
			}
			m.mu.Lock()
			s.after = it.name
			m.mu.Unlock()
			panic(http.ErrAbortHandler)
		case "end":
			m.mu.Lock()
			s.after = it.name
			m.mu.Unlock()
			mw.write(mw.end("recycle"), true)
			return
		case "hold":
			m.mu.Lock()
			if !s.done {
				s.done = true
				m.note(s, "script done", true, "the client went through cuts, a duplicate, a recycle and a reset")
			}
			evs := s.queue
			s.queue = nil
			for i := range evs {
				evs[i].Seq = s.nextSeq
				s.nextSeq++
			}
			if len(evs) > 0 {
				s.delivered = evs[len(evs)-1].Seq
			}
			m.mu.Unlock()
			if len(evs) > 0 {
				mw.write(mw.frame(batchJSON(evs)), true)
				continue
			}
			t := time.NewTimer(hb)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-mine:
				t.Stop()
				mw.write(mw.end("replaced"), false)
				return
			case <-s.wake:
				t.Stop()
			case <-t.C:
				mw.write(mw.frame([]byte("[]")), false)
			}
		}
	}
}

// poll answers one poll request with the script's next batch; a cut is half
// a body, after which the connection drops.
func (m *Mock) poll(w http.ResponseWriter, r *http.Request, s *mockSession) {
	w.Header().Set("Content-Type", "application/json")
	items := script()
	waited := false
	for {
		m.mu.Lock()
		if s.step >= len(items) {
			s.step = len(items) - 1
		}
		it := items[s.step]
		if it.kind != "hold" {
			s.step++
		}
		switch it.kind {
		case "batch":
			s.delivered = max(s.delivered, it.evs[len(it.evs)-1].Seq)
			m.mu.Unlock()
			_, _ = w.Write(batchJSON(it.evs))
			return
		case "cut":
			s.after = it.name
			m.mu.Unlock()
			b := batchJSON(it.evs)
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			_, _ = w.Write(b[:len(b)/2])
			_ = http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		case "drop", "end":
			s.after = it.name
			m.mu.Unlock()
			_, _ = w.Write([]byte("[]"))
			return
		case "hold":
			if !s.done {
				s.done = true
				m.note(s, "script done", true, "the client went through cuts, a duplicate, a recycle and a reset")
			}
			evs := s.queue
			s.queue = nil
			for i := range evs {
				evs[i].Seq = s.nextSeq
				s.nextSeq++
			}
			if len(evs) > 0 {
				s.delivered = evs[len(evs)-1].Seq
			}
			m.mu.Unlock()
			if wait, _ := strconv.Atoi(r.URL.Query().Get("wait")); len(evs) == 0 && wait > 0 && !waited {
				// Long-poll: hold until a pong is due or the wait (at most 5 s) passes.
				waited = true
				t := time.NewTimer(min(time.Duration(wait)*time.Second, 5*time.Second))
				select {
				case <-s.wake:
					t.Stop()
					continue
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			_, _ = w.Write(batchJSON(evs))
			return
		default:
			m.mu.Unlock()
		}
	}
}

// ServeMock serves a Mock on ln until ctx ends.
func ServeMock(ctx context.Context, ln net.Listener, m *Mock) error {
	hs := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	err := hs.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
