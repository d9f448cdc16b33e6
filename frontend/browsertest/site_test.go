package browsertest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"comet"
	"comet/assets"
	"comet/frontend"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/server"
	"comet/server/bus"
	"comet/server/push"
	"comet/server/sqlite"
)

var (
	bundlesMu sync.Mutex
	bundles   = map[string]*frontend.Bundle{}
)

// bundle builds (once per test binary) an entry of the embedded sources.
func bundle(t testing.TB, entry, name string) *frontend.Bundle {
	t.Helper()
	bundlesMu.Lock()
	defer bundlesMu.Unlock()
	if b := bundles[entry]; b != nil {
		return b
	}
	b, err := frontend.BuildEntry(context.Background(), frontend.Sources(), entry, name)
	if err != nil {
		t.Fatal(err)
	}
	bundles[entry] = b
	return b
}

// siteOptions tune one test's server.
type siteOptions struct {
	hub      push.Config
	settings map[string]gameloop.Settings
}

// site is the real Comet server (SQLite in a temp dir, the real app bundle)
// on 127.0.0.1:0, wrapped by a test mux that adds the unit and e2e test pages
// under /t/ and can inject faults a network would (see faults).
type site struct {
	URL    string
	srv    *server.Server
	faults *faults
	conns  *cutProxy
}

// testHeartbeat is short so a silent stream is noticed within seconds.
const testHeartbeat = time.Second

func newSite(t testing.TB, o siteOptions) *site {
	t.Helper()
	ctx := context.Background()
	// Warnings and errors (a 5xx is logged once, with its cause) are kept
	// and shown when the test fails, so a failure in CI says why.
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "comet.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	app := bundle(t, frontend.AppEntry, frontend.AppName)
	hub := o.hub
	if hub.Heartbeat == 0 {
		hub.Heartbeat = testHeartbeat
	}
	settings := o.settings
	if settings == nil {
		settings = map[string]gameloop.Settings{
			"arena": {Countdown: 300 * time.Millisecond, MinPlayers: 4, DefaultMax: 8}, // a field small enough that all see all
			"tag":   {Countdown: 300 * time.Millisecond},
			"snake": {Countdown: 300 * time.Millisecond},
		}
	}
	srv, err := server.New(server.Config{
		Store:    db,
		Bus:      bus.New(),
		Frontend: server.Static{B: app},
		Logger:   log,
		Version:  "test",
		Hub:      hub,
		Game:     gameloop.ManagerConfig{Modes: modes.All(), BotFillDelay: 300 * time.Millisecond, Settings: settings},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := &cutProxy{ln: front, target: ln.Addr().String(), conns: map[net.Conn]bool{}}
	go tl.serve()
	f := &faults{next: srv.Handler(), sends: map[string][]sentEvent{}}
	mux := http.NewServeMux()
	mux.Handle("/t/", http.StripPrefix("/t", testPages(t)))
	mux.Handle("/", f)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		tl.close()
		_ = hs.Shutdown(sctx)
		srv.Close()
		_ = db.Close()
	})
	return &site{URL: "http://" + front.Addr().String(), srv: srv, faults: f, conns: tl}
}

// testPages serves the unit-test and e2e bundles, each under /<name>/ with its
// files under /<name>/static/, under the page CSP.
func testPages(t testing.TB) http.Handler {
	mux := http.NewServeMux()
	for _, e := range []struct{ entry, name string }{{"test/unit.ts", "unit"}, {"test/e2e.ts", "e2e"}} {
		b := bundle(t, e.entry, e.name)
		prefix := "/" + e.name + "/"
		mux.HandleFunc(prefix+"static/", func(w http.ResponseWriter, r *http.Request) {
			name := strings.TrimPrefix(r.URL.Path, prefix+"static/")
			data, ok := b.Files[name]
			if !ok {
				http.NotFound(w, r)
				return
			}
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
		})
		mux.HandleFunc(prefix, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", assets.ContentSecurityPolicy)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>test</title>` +
				`<link rel="icon" href="data:,"><script type="module" src="/t` + prefix + `static/` + b.Script + `"></script></head><body></body></html>`))
		})
	}
	return mux
}

// logBuffer keeps a server's log lines for the test to show on failure.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cutProxy stands between the browser and the server: it forwards each
// connection to the server's listener, so the server gets plain TCP sockets
// (the push core detaches them into its poller, which a WebSocket needs), and
// a test can cut every connection at once, like a network failure (held
// streams and sockets included).
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

// pipe copies both ways; each side's end is passed on as a half-close, and
// both sockets close once both ways are done (or the test cuts them).
func (p *cutProxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(s, c)
		_ = s.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(c, s)
	_ = c.(*net.TCPConn).CloseWrite()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
	c.Close()
	s.Close()
}

// cut closes every open connection, on both sides.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// close stops accepting and cuts what is open.
func (p *cutProxy) close() {
	p.ln.Close()
	p.cut()
}

// sentEvent is one client event as the server received it.
type sentEvent struct {
	Seq  int             `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// faults sits in front of the real server and plays a hostile network: a
// buffering proxy (silent streams), a server without a transport (404),
// failing or slow POSTs. It also records every upstream event by sid.
type faults struct {
	next http.Handler

	mu          sync.Mutex
	silent      map[string]bool // transport -> headers pass, body never does
	notFound    map[string]bool // transport -> 404
	down        bool            // every /comet/ request fails (502)
	unreachable bool            // every /comet/ connection is dropped unanswered (a server between processes)
	noUpgrade   bool            // a proxy that does not pass WebSocket upgrades: it drops Upgrade, the server answers 426
	silentWS    bool            // a proxy that completes the WebSocket handshake itself and then passes nothing
	failSends   int             // the next n POSTs fail with 503
	refuse      int             // the next n POSTs are refused with 400
	sendDelay   time.Duration
	opens       map[string]int
	sessions    int                    // POST /comet/session requests
	sends       map[string][]sentEvent // sid -> events, in arrival order (dups included)
	bodies      [][]sentEvent
	inFlight    int
	maxInFlight int
}

func (f *faults) set(fn func(f *faults)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.URL.Path == "/comet/session" {
		f.mu.Lock()
		f.sessions++
		f.mu.Unlock()
	}
	if f.isUnreachable() && parts[0] == "comet" {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			_ = conn.Close() // the browser sees a network error, as for a refused connection
		}
		return
	}
	if len(parts) != 3 || parts[0] != "comet" {
		if f.isDown() && parts[0] == "comet" {
			http.Error(w, `{"error":"bad gateway"}`, http.StatusBadGateway)
			return
		}
		f.next.ServeHTTP(w, r)
		return
	}
	sid, what := parts[1], parts[2]
	f.mu.Lock()
	down, silent, notFound, silentWS := f.down, f.silent[what], f.notFound[what], f.silentWS && what == "ws"
	if what == "ws" && f.noUpgrade {
		r.Header.Del("Upgrade")
	}
	if f.opens == nil {
		f.opens = map[string]int{}
	}
	if what != "send" {
		f.opens[what]++ // a mux counts as its transport's open, and as a "mux" open
	}
	if sid == "mux" {
		f.opens["mux"]++
	}
	f.mu.Unlock()
	switch {
	case down:
		http.Error(w, `{"error":"bad gateway"}`, http.StatusBadGateway)
	case notFound:
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	case silent:
		w.Header().Set("Content-Type", map[string]string{
			"multipart": `multipart/x-mixed-replace; boundary="comet-0123456789abcdef"`,
			"sse":       "text/event-stream; charset=utf-8",
			"iframe":    "text/html; charset=utf-8",
		}[what])
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	case silentWS:
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		_, _ = io.Copy(io.Discard, conn) // until the client gives up
	case what == "send" && r.Method == http.MethodPost:
		f.send(w, r, sid)
	default:
		f.next.ServeHTTP(w, r)
	}
}

func (f *faults) isUnreachable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unreachable
}

func (f *faults) isDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *faults) send(w http.ResponseWriter, r *http.Request, sid string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var evs []sentEvent
	_ = json.Unmarshal(body, &evs)
	f.mu.Lock()
	f.bodies = append(f.bodies, evs)
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	fail, refuse, delay := f.failSends > 0, f.failSends == 0 && f.refuse > 0, f.sendDelay
	if fail {
		f.failSends--
	} else if refuse {
		f.refuse--
	} else {
		f.sends[sid] = append(f.sends[sid], evs...)
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	time.Sleep(delay)
	switch {
	case fail:
		http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
	case refuse:
		http.Error(w, `{"error":"refused"}`, http.StatusBadRequest)
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.next.ServeHTTP(w, r)
	}
}

// received returns the events the server took for sid (a resent POST counts
// once per time it reached the server).
func (f *faults) received(sid string) []sentEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentEvent(nil), f.sends[sid]...)
}

func (f *faults) openCount(transport string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens[transport]
}

// publish sends one event to a session through the real hub.
func (s *site) publish(t testing.TB, sid, typ string, data any) {
	t.Helper()
	sess, ok := s.srv.Hub().Session(sid)
	if !ok {
		t.Fatalf("no session %s", sid)
	}
	sess.Send(comet.MustMessage(typ, data))
}

// expire ends a session as if its grace period ran out.
func (s *site) expire(t testing.TB, sid string) {
	t.Helper()
	sess, ok := s.srv.Hub().Session(sid)
	if !ok {
		t.Fatalf("no session %s", sid)
	}
	s.srv.Hub().Remove(context.Background(), sess)
}
