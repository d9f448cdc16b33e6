package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"comet/gameloop/modes"
	"comet/internal/check"
	"comet/server/bus"
	"comet/server/sqlite"
)

// testServer is a real Server on a loopback port with a real SQLite file.
type testServer struct {
	*Server
	URL string
	DB  *sqlite.DB
}

func quietLogger() *slog.Logger {
	if os.Getenv("COMET_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startServer(t testing.TB, tune func(*Config)) *testServer {
	t.Helper()
	return startServerOn(t, tune, nil)
}

// startServerOn is startServer with the listener wrapped by wrap (nil: as is).
func startServerOn(t testing.TB, tune func(*Config), wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	return startServerHooked(t, tune, wrap, nil)
}

// startServerHooked is startServerOn with hook run on the Server before it
// serves (to add test routes or event handlers without a race).
func startServerHooked(t testing.TB, tune func(*Config), wrap func(net.Listener) net.Listener, hook func(*Server)) *testServer {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "comet.db"), quietLogger())
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	cfg := Config{Store: db, Bus: bus.New(), Logger: quietLogger()}
	if tune != nil {
		tune(&cfg)
	}
	if len(cfg.Game.Modes) == 0 {
		cfg.Game.Modes = modes.All()
	}
	if cfg.Limits.RoomsPerMinute == 0 {
		cfg.Limits.RoomsPerMinute = -1 // tests open many rooms from one address; abuse_test.go sets it
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	if hook != nil {
		hook(s)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		_ = db.Close()
	})
	return &testServer{Server: s, URL: "http://" + ln.Addr().String(), DB: db}
}

// client is one tab: a session and its token, speaking the public protocol.
type client struct {
	t      testing.TB
	base   string
	SID    string
	Token  string
	Player struct{ ID, Name string }
	seq    uint64
	mu     sync.Mutex
}

func newClient(t testing.TB, base string) *client {
	t.Helper()
	return openSession(t, base, "")
}

// openSession opens a session; with token it is another tab of that player.
func openSession(t testing.TB, base, token string) *client {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/comet/session", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create session: %d %s", resp.StatusCode, b)
	}
	var out struct {
		SID    string `json:"sid"`
		Token  string `json:"token"`
		Player struct{ ID, Name string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: base, SID: out.SID, Token: out.Token, Player: out.Player}
}

// send posts events (type, data pairs) with fresh client seqs and wants 204.
func (c *client) send(events ...any) {
	c.t.Helper()
	var evs []map[string]any
	for i := 0; i+1 < len(events); i += 2 {
		c.mu.Lock()
		c.seq++
		evs = append(evs, map[string]any{"seq": c.seq, "type": events[i], "data": events[i+1]})
		c.mu.Unlock()
	}
	body, _ := json.Marshal(evs)
	if code, msg := c.post("/send", body); code != 204 {
		c.t.Fatalf("send: %d %s", code, msg)
	}
}

func (c *client) post(path string, body []byte) (int, string) {
	req, _ := http.NewRequest("POST", c.base+"/comet/"+c.SID+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("post %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type wireEvent struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// stream is an open downstream read batch by batch.
type tstream struct {
	resp    *http.Response
	batches chan []wireEvent
	done    chan error // nil error: the stream ended cleanly
	prelude int        // bytes before the first batch
	raw     *bytes.Buffer
	rawMu   sync.Mutex
	pending []wireEvent
	endWhy  string // the end frame's reason, set before done on a clean end
}

func (c *client) open(transport string, last uint64) *tstream {
	c.t.Helper()
	s, err := c.tryOpen(transport, last)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func (c *client) tryOpen(transport string, last uint64) (*tstream, error) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/comet/%s/%s?last=%d", c.base, c.SID, transport, last), nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", transport, err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("open %s: %d %s", transport, resp.StatusCode, b)
	}
	s := &tstream{resp: resp, batches: make(chan []wireEvent, 1024), done: make(chan error, 1), raw: &bytes.Buffer{}}
	go s.read(transport)
	return s, nil
}

var iframeCall = regexp.MustCompile(`^<script nonce="[^"]+">parent\.__comet\("[^"]+",(.*)\)</script>(</body></html>)?$`)

// read parses the transport's framing into batches.
func (s *tstream) read(transport string) {
	defer close(s.batches)
	br := bufio.NewReaderSize(io.TeeReader(s.resp.Body, writerFunc(func(p []byte) (int, error) {
		s.rawMu.Lock()
		defer s.rawMu.Unlock()
		return s.raw.Write(p)
	})), 1<<20)
	total, first := 0, true
	var clean bool
	for {
		line, err := br.ReadString('\n')
		total += len(line)
		line = strings.TrimRight(line, "\r\n")
		var payload string
		switch transport {
		case "multipart":
			if strings.HasPrefix(line, "--comet-") && strings.HasSuffix(line, "--") {
				clean = s.endWhy != ""
			} else if strings.HasPrefix(line, "[") || strings.HasPrefix(line, "{") {
				payload = line
			}
		case "sse":
			payload, _ = strings.CutPrefix(line, "data: ")
			if !strings.HasPrefix(payload, "[") && !strings.HasPrefix(payload, "{") {
				payload = ""
			}
		case "iframe":
			if m := iframeCall.FindStringSubmatch(line); m != nil {
				payload = m[1]
				if strings.HasPrefix(payload, "{") && m[2] == "" {
					s.done <- fmt.Errorf("iframe end frame %q does not close the document", line)
					return
				}
			}
		}
		if strings.HasPrefix(payload, "{") { // the end frame: {"end":"<reason>"}
			var end struct {
				End string `json:"end"`
			}
			if jerr := json.Unmarshal([]byte(payload), &end); jerr != nil || end.End == "" {
				s.done <- fmt.Errorf("bad end frame %q: %v", payload, jerr)
				return
			}
			s.endWhy, payload = end.End, ""
			clean = transport != "multipart" // multipart: once the close delimiter follows
		}
		if payload != "" {
			if first {
				s.prelude = total - len(line) - 2
				first = false
			}
			var evs []wireEvent
			if jerr := json.Unmarshal([]byte(payload), &evs); jerr != nil {
				s.done <- fmt.Errorf("bad batch %q: %v", payload, jerr)
				return
			}
			s.batches <- evs
		}
		if err != nil {
			if err == io.EOF && clean {
				s.done <- nil
			} else {
				s.done <- err
			}
			return
		}
	}
}

func (s *tstream) close() { s.resp.Body.Close() }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// next returns the next event (heartbeats skipped), failing after timeout.
func (s *tstream) next(t testing.TB, timeout time.Duration) wireEvent {
	t.Helper()
	deadline := time.After(timeout)
	for len(s.pending) == 0 {
		select {
		case b, ok := <-s.batches:
			if !ok {
				t.Fatalf("stream ended while waiting for an event")
			}
			s.pending = append(s.pending, b...)
		case <-deadline:
			t.Fatalf("no event within %v", timeout)
		}
	}
	ev := s.pending[0]
	s.pending = s.pending[1:]
	return ev
}

// waitType skips events until one of type typ arrives.
func (s *tstream) waitType(t testing.TB, typ string, timeout time.Duration) wireEvent {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		left := time.Until(end)
		if left <= 0 {
			t.Fatalf("no %s within %v", typ, timeout)
		}
		if ev := s.next(t, left); ev.Type == typ {
			return ev
		}
	}
}

// checkFor polls fn until it returns nil or timeout passes: the one polling
// helper, internal/check's For. To show that something did not happen, use
// fence (protocol_helpers_test.go), never a sleep.
var checkFor = check.For
