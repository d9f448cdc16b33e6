package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"comet/internal/check"
	"comet/server/sqlite"
)

// The hand-over across processes: SIGTERM saves every session in the
// database, the next process on the same address and file restores them, and
// clients on every transport resume on their sid with last=N.

// startAt starts the binary on addr (the predecessor's, once it has exited)
// with the hand-over on (the default) and proxies trusted, so each test
// client names its own address in X-Forwarded-For and the per-address chat
// limit does not pool them.
func startAt(t *testing.T, db, addr string) *proc {
	t.Helper()
	args := []string{"serve", "--addr", addr, "--db", db, "--trusted-proxy", "127.0.0.1/32", "--session-grace", "60s"}
	cmd := exec.Command(binary(t), args...)
	p := &proc{cmd: cmd, url: "http://" + addr, logs: &strings.Builder{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.Write(b) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); check.Recv(t, p.done, 10*time.Second, "exit after SIGKILL") })
	check.For(t, 20*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("exited at start: %v\n%s", p.err, p.log())
		default:
		}
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return fmt.Errorf("server did not come up: %w", err)
		}
		resp.Body.Close()
		return nil
	})
	return p
}

// term sends SIGTERM and waits for a clean exit.
func (p *proc) term(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.err, p.log())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGTERM\n%s", p.log())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var iframeBatch = regexp.MustCompile(`parent\.__comet\("[^"]*",(.*)\)</script>`)

// tab is a protocol client on one transport that survives restarts: its
// downstream reconnects with last=N (the seq of the last event it read)
// whatever happened — a refused connection, 503, a stream's end — and it
// records every event exactly as the server sent it.
type tab struct {
	url, transport, xff string
	sid, token          string

	mu       sync.Mutex
	evs      []ev
	statuses map[int]int // downstream answers other than 200, by status
	upSeq    uint64
	cur      io.Closer
	stop     chan struct{}
	done     chan struct{}
}

func openTab(t *testing.T, url, transport, xff string) *tab {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/comet/session", nil)
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ SID, Token string }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 201 {
		t.Fatalf("session: %d %v", resp.StatusCode, err)
	}
	tb := &tab{url: url, transport: transport, xff: xff, sid: s.SID, token: s.Token,
		statuses: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go tb.run()
	t.Cleanup(tb.close)
	return tb
}

func (tb *tab) close() {
	select {
	case <-tb.stop:
		return
	default:
	}
	close(tb.stop)
	tb.mu.Lock()
	if tb.cur != nil {
		tb.cur.Close()
	}
	tb.mu.Unlock()
	<-tb.done
}

func (tb *tab) last() uint64 {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.evs) == 0 {
		return 0
	}
	return tb.evs[len(tb.evs)-1].Seq
}

func (tb *tab) add(batch []ev) {
	tb.mu.Lock()
	tb.evs = append(tb.evs, batch...)
	tb.mu.Unlock()
}

func (tb *tab) run() {
	defer close(tb.done)
	for {
		select {
		case <-tb.stop:
			return
		default:
		}
		if !tb.once() {
			select {
			case <-tb.stop:
				return
			case <-time.After(time.Duration(20+rand.IntN(60)) * time.Millisecond):
			}
		}
	}
}

func (tb *tab) once() bool {
	if tb.transport == "ws" {
		return tb.onceWS()
	}
	path, wait := tb.transport, ""
	switch tb.transport {
	case "longpoll":
		path, wait = "poll", "&wait=5"
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/comet/%s/%s?last=%d%s", tb.url, tb.sid, path, tb.last(), wait), nil)
	req.Header.Set("Authorization", "Bearer "+tb.token)
	req.Header.Set("X-Forwarded-For", tb.xff)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		_, _ = io.Copy(io.Discard, resp.Body)
		tb.mu.Lock()
		tb.statuses[resp.StatusCode]++
		tb.mu.Unlock()
		return false
	}
	if path == "poll" {
		var batch []ev
		if json.NewDecoder(resp.Body).Decode(&batch) == nil {
			tb.add(batch)
		}
		if wait == "" {
			time.Sleep(50 * time.Millisecond)
		}
		return true
	}
	tb.mu.Lock()
	tb.cur = resp.Body
	tb.mu.Unlock()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		var payload string
		switch tb.transport {
		case "sse":
			payload, _ = strings.CutPrefix(line, "data: ")
		case "multipart":
			payload = line
		case "iframe":
			if m := iframeBatch.FindStringSubmatch(line); m != nil {
				payload = m[1]
			}
		}
		if !strings.HasPrefix(payload, "[") {
			continue // prelude, headers, heartbeats' padding, the end frame
		}
		var batch []ev
		if err := json.Unmarshal([]byte(payload), &batch); err == nil {
			tb.add(batch)
		}
	}
	return true
}

// onceWS is once on the WebSocket transport: a text message per batch.
func (tb *tab) onceWS() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	url := strings.Replace(tb.url, "http://", "ws://", 1) + fmt.Sprintf("/comet/%s/ws?last=%d", tb.sid, tb.last())
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{
		"Authorization": {"Bearer " + tb.token}, "X-Forwarded-For": {tb.xff}}})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode != 0 {
			tb.mu.Lock()
			tb.statuses[resp.StatusCode]++
			tb.mu.Unlock()
		}
		return false
	}
	conn.SetReadLimit(8 << 20)
	tb.mu.Lock()
	tb.cur = closerFunc(func() error { return conn.CloseNow() })
	tb.mu.Unlock()
	defer conn.CloseNow()
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			return true
		}
		if len(data) == 0 || data[0] != '[' {
			continue // the end frame
		}
		var batch []ev
		if json.Unmarshal(data, &batch) == nil {
			tb.add(batch)
		}
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// say sends a chat line with the next client seq and retries that seq
// until the server takes the POST (204): false if it never did.
func (tb *tab) say(text string) (seq uint64, ok bool) {
	tb.mu.Lock()
	tb.upSeq++
	seq = tb.upSeq
	tb.mu.Unlock()
	body, _ := json.Marshal([]map[string]any{{"seq": seq, "type": "chat.say", "data": map[string]string{"channel": "lobby", "text": text}}})
	end := time.Now().Add(20 * time.Second)
	for time.Now().Before(end) {
		req, _ := http.NewRequest("POST", tb.url+"/comet/"+tb.sid+"/send", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tb.token)
		req.Header.Set("X-Forwarded-For", tb.xff)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return seq, true
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				return seq, false
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	return seq, false
}

func (tb *tab) snapshot() []ev {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]ev(nil), tb.evs...)
}

// refused returns the client seqs the server refused on the stream (sys.error
// with a ref): a line refused (rate-limited) was acknowledged by no one.
func refused(evs []ev) map[uint64]bool {
	out := map[uint64]bool{}
	for _, e := range evs {
		if e.Type != "sys.error" {
			continue
		}
		var d struct{ Ref uint64 }
		if json.Unmarshal(e.Data, &d) == nil && d.Ref > 0 {
			out[d.Ref] = true
		}
	}
	return out
}

// TestHandoverAcrossProcesses runs tabs on every transport that chat while
// the server is restarted with SIGTERM at random moments, each time on the
// same address and database. Per session the stream's seqs run on without a
// gap, a repeat or a reset, every chat line acknowledged is received exactly
// once by every tab, and no tab ever had to open a new session.
func TestHandoverAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary several times")
	}
	db := filepath.Join(t.TempDir(), "handover.db")
	addr := freeAddr(t)
	p := startAt(t, db, addr)
	url := "http://" + addr
	transports := []string{"iframe", "multipart", "sse", "longpoll", "poll", "ws"}
	tabs := make([]*tab, len(transports))
	for i, tr := range transports {
		tabs[i] = openTab(t, url, tr, fmt.Sprintf("198.51.100.%d", i+1))
	}

	type line struct {
		from int
		seq  uint64
		text string
	}
	var mu sync.Mutex
	var acked []line
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, tb := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(900+rand.IntN(300)) * time.Millisecond): // under 1 line/s a player
				}
				text := fmt.Sprintf("%s line %d", transports[i], n)
				if seq, ok := tb.say(text); ok {
					mu.Lock()
					acked = append(acked, line{i, seq, text})
					mu.Unlock()
				}
			}
		}()
	}

	const restarts = 3
	for r := range restarts {
		time.Sleep(time.Duration(1500+rand.IntN(1500)) * time.Millisecond)
		start := time.Now()
		p.term(t)
		if !strings.Contains(p.log(), "hand-over saved") {
			t.Fatalf("restart %d: no hand-over saved\n%s", r, p.log())
		}
		p = startAt(t, db, addr)
		if !strings.Contains(p.log(), fmt.Sprintf("hand-over restored\" sessions=%d", len(tabs))) &&
			!strings.Contains(p.log(), fmt.Sprintf("hand-over restored sessions=%d", len(tabs))) {
			t.Fatalf("restart %d: sessions not restored\n%s", r, p.log())
		}
		t.Logf("restart %d: SIGTERM to serving again in %v", r, time.Since(start).Round(time.Millisecond))
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) < restarts*len(tabs) {
		t.Fatalf("only %d lines acknowledged", len(acked))
	}
	for i, tb := range tabs {
		// Every acknowledged line, unless refused on its sender's stream,
		// reaches every tab exactly once.
		refusedBy := make([]map[uint64]bool, len(tabs))
		for j, o := range tabs {
			refusedBy[j] = refused(o.snapshot())
		}
		check.For(t, 20*time.Second, func() error {
			seen := map[string]int{}
			for _, e := range tb.snapshot() {
				if e.Type == "chat.msg" {
					var m struct{ Text string }
					_ = json.Unmarshal(e.Data, &m)
					seen[m.Text]++
				}
			}
			for _, l := range acked {
				n := seen[l.text]
				switch {
				case refusedBy[l.from][l.seq]:
					if n != 0 {
						t.Fatalf("%s: refused line %q delivered %d times", transports[i], l.text, n)
					}
				case n == 0:
					return fmt.Errorf("%s: %q not received", transports[i], l.text)
				case n > 1:
					t.Fatalf("%s: %q received %d times", transports[i], l.text, n)
				}
			}
			return nil
		})
		evs := tb.snapshot()
		restartsSeen := 0
		for k, e := range evs {
			if e.Seq != uint64(k+1) {
				t.Fatalf("%s: event %d has seq %d (%s): lost or repeated", transports[i], k, e.Seq, e.Type)
			}
			switch e.Type {
			case "sys.reset":
				t.Fatalf("%s: sys.reset at %d", transports[i], e.Seq)
			case "sys.restart":
				restartsSeen++
			}
		}
		if restartsSeen != restarts {
			t.Fatalf("%s: %d sys.restart, want %d", transports[i], restartsSeen, restarts)
		}
		tb.mu.Lock()
		st := tb.statuses
		tb.mu.Unlock()
		for code := range st {
			if code != http.StatusServiceUnavailable {
				t.Fatalf("%s: downstream answered %d (statuses %v): the session was not kept", transports[i], code, st)
			}
		}
		t.Logf("%s: %d events, %d lines acknowledged in all, downstream 503s %d", transports[i], len(evs), len(acked), st[503])
	}
}

// TestHandoverForeignVersionRenews: a hand-over of another format version is
// discarded at start with a warning, and a client's sid is then unknown
// (404): it renews, as after a crash.
func TestHandoverForeignVersionRenews(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary twice")
	}
	db := filepath.Join(t.TempDir(), "foreign.db")
	addr := freeAddr(t)
	p := startAt(t, db, addr)
	tb := openTab(t, "http://"+addr, "sse", "198.51.100.9")
	check.For(t, 10*time.Second, func() error {
		if tb.last() == 0 {
			return fmt.Errorf("no event yet")
		}
		return nil
	})
	p.term(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := store.TakeHandover(ctx)
	if err != nil {
		t.Fatalf("no hand-over saved: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(blob, &m); err != nil {
		t.Fatal(err)
	}
	m["format"] = json.RawMessage(`999`)
	blob, _ = json.Marshal(m)
	if err := store.SaveHandover(ctx, blob); err != nil {
		t.Fatal(err)
	}
	store.Close()

	p = startAt(t, db, addr)
	if !strings.Contains(p.log(), "hand-over discarded") || !strings.Contains(p.log(), "format 999") {
		t.Fatalf("no warning of a discarded hand-over\n%s", p.log())
	}
	check.For(t, 10*time.Second, func() error {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		if tb.statuses[http.StatusNotFound] == 0 {
			return fmt.Errorf("statuses %v, want a 404 for the old sid", tb.statuses)
		}
		return nil
	})
	// Renewal: a new session for the same player (its token).
	req, _ := http.NewRequest("POST", p.url+"/comet/session", nil)
	req.Header.Set("Authorization", "Bearer "+tb.token)
	req.Header.Set("X-Forwarded-For", tb.xff)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("renew: %v %v", resp, err)
	}
	resp.Body.Close()
}
