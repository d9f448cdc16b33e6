package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"comet/internal/check"
	"comet/server/sqlite"
)

// These tests run the real binary as a child process and kill it.

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// binary builds ./cmd/comet once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "comet-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "comet")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *strings.Builder
	mu   *sync.Mutex
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, valid after done
}

// startProc starts the binary on a free port with short match timings.
func startProc(t *testing.T, db string, extra ...string) *proc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"serve", "--addr", addr, "--db", db, "--bot-delay", "100ms",
		"--match-length", "2s", "--countdown", "100ms", "--intermission", "300ms"}, extra...)
	cmd := exec.Command(binary(t), args...)
	p := &proc{cmd: cmd, url: "http://" + addr, logs: &strings.Builder{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.Write(b) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); check.Recv(t, p.done, 10*time.Second, "exit after SIGKILL") })
	check.For(t, 20*time.Second, func() error {
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return fmt.Errorf("server did not come up: %w\n%s", err, p.log())
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("server did not come up: /healthz %d\n%s", resp.StatusCode, p.log())
		}
		return nil
	})
	return p
}

func (p *proc) log() string { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.String() }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// player is a minimal protocol client: a session and an SSE stream.
type player struct {
	url, sid, token, id string
	seq                 int
	events              chan ev
	resp                *http.Response
}

type ev struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func join(t *testing.T, url string) *player {
	t.Helper()
	resp, err := http.Post(url+"/comet/session", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		SID, Token string
		Player     struct{ ID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 201 {
		t.Fatalf("session: %d %v", resp.StatusCode, err)
	}
	p := &player{url: url, sid: s.SID, token: s.Token, id: s.Player.ID, events: make(chan ev, 4096)}
	req, _ := http.NewRequest("GET", url+"/comet/"+p.sid+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	p.resp, err = http.DefaultClient.Do(req)
	if err != nil || p.resp.StatusCode != 200 {
		t.Fatalf("stream: %v", err)
	}
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(p.resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var batch []ev
			if json.Unmarshal([]byte(line), &batch) == nil {
				for _, e := range batch {
					p.events <- e
				}
			}
		}
	}()
	return p
}

// send posts one event; errors are ignored (the server may be dying).
func (p *player) send(typ string, data any) {
	p.seq++
	body, _ := json.Marshal([]map[string]any{{"seq": p.seq, "type": typ, "data": data}})
	req, _ := http.NewRequest("POST", p.url+"/comet/"+p.sid+"/send", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+p.token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func (p *player) waitFor(t *testing.T, typ string, timeout time.Duration) ev {
	t.Helper()
	end := time.After(timeout)
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				t.Fatalf("stream ended waiting for %s", typ)
			}
			if e.Type == typ {
				return e
			}
		case <-end:
			t.Fatalf("no %s within %v", typ, timeout)
		}
	}
}

// TestCrashLosesNothingAcknowledged kills the server with SIGKILL at random
// moments while bots play and players chat, restarts it on the same file,
// and checks that every acknowledged chat line, every finished match and every
// claimed name survived, and that the database is intact.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	db := filepath.Join(t.TempDir(), "crash.db")
	acked := map[int64]string{}    // chat id -> text, seen on the sender's stream
	finished := map[string]bool{}  // match ids with a match.result
	claimed := map[string]string{} // name -> player id
	for round := 0; round < 3; round++ {
		p := startProc(t, db, "--match-length", "1s")
		a := join(t, p.url)
		name := fmt.Sprintf("Crash%d", round)
		a.send("player.rename", map[string]string{"name": name})
		a.waitFor(t, "player.renamed", 5*time.Second)
		a.send("player.claim", map[string]string{"password": "correct horse"})
		a.waitFor(t, "player.claimed", 5*time.Second)
		claimed[name] = a.id
		a.send("room.join", map[string]string{"mode": "tag"})

		stop := time.After(time.Duration(1500+rand.IntN(2500)) * time.Millisecond)
		n := 0
	loop:
		for {
			select {
			case <-stop:
				break loop
			case e, ok := <-a.events:
				if !ok {
					break loop
				}
				switch e.Type {
				case "chat.msg":
					var m struct {
						ID   int64
						Text string
					}
					_ = json.Unmarshal(e.Data, &m)
					acked[m.ID] = m.Text
				case "match.result":
					var r struct{ ID string }
					_ = json.Unmarshal(e.Data, &r)
					if r.ID != "" {
						finished[r.ID] = true
					}
				}
			default:
				n++
				go a.send("chat.say", map[string]string{"channel": "lobby", "text": fmt.Sprintf("round %d line %d", round, n)})
				time.Sleep(250 * time.Millisecond) // pacing, not an assertion: within the chat rate limit
			}
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		check.Recv(t, p.done, 10*time.Second, "exit after SIGKILL")
		a.resp.Body.Close()
	}
	if len(acked) == 0 || len(finished) == 0 {
		t.Fatalf("%d chat lines acknowledged, %d matches finished: the test exercised nothing", len(acked), len(finished))
	}

	// A restarted server tells a new session the history, newest lines last.
	p := startProc(t, db)
	c := join(t, p.url)
	var history struct {
		Channel  string
		Messages []struct {
			ID   int64
			Text string
		}
	}
	for history.Channel != "lobby" {
		e := c.waitFor(t, "chat.history", 10*time.Second)
		_ = json.Unmarshal(e.Data, &history)
	}
	served := map[int64]string{}
	for _, m := range history.Messages {
		served[m.ID] = m.Text
	}
	newest := int64(0)
	for id := range acked {
		newest = max(newest, id)
	}
	if served[newest] != acked[newest] {
		t.Errorf("restarted server's lobby history lacks the last acknowledged line %d %q", newest, acked[newest])
	}
	c.resp.Body.Close()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	check.Recv(t, p.done, 10*time.Second, "exit after SIGKILL")

	store, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var ok string
	if err := store.DB().Get(&ok, "PRAGMA integrity_check"); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	hist, err := store.ChatHistory(context.Background(), "lobby", 1000)
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]string{}
	for _, m := range hist {
		have[m.ID] = m.Text
	}
	for id, text := range acked {
		if have[id] != text {
			t.Errorf("acknowledged chat %d %q lost after SIGKILL", id, text)
		}
	}
	for id := range finished {
		var n int
		if err := store.DB().Get(&n, "SELECT count(*) FROM matches WHERE id = ?", id); err != nil || n != 1 {
			t.Errorf("finished match %s not stored (%d, %v)", id, n, err)
		}
	}
	for name, id := range claimed {
		p, _, err := store.ClaimByName(context.Background(), name)
		if err != nil || p.ID != id {
			t.Errorf("claimed name %s: %v %v", name, p, err)
		}
	}
	t.Logf("%d acknowledged chat lines, %d finished matches, %d claims survived 3 SIGKILLs", len(acked), len(finished), len(claimed))
}

// TestGracefulRestart sends SIGTERM during a match to a server without the
// hand-over (--handover=false: a plain stop; with it the room is frozen for
// the successor, handover_test.go): clients are told to reconnect, the
// unfinished match is saved as aborted, and the process exits cleanly within
// its shutdown budget.
func TestGracefulRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "term.db")
	p := startProc(t, db, "--match-length", "60s", "--handover=false")
	a := join(t, p.url)
	a.send("room.join", map[string]string{"mode": "arena"})
	a.waitFor(t, "room.joined", 5*time.Second)
	checkRunning := time.After(15 * time.Second)
	for running := false; !running; {
		select {
		case e := <-a.events:
			if e.Type == "room.state" && strings.Contains(string(e.Data), `"running"`) {
				running = true
			}
		case <-checkRunning:
			t.Fatal("match never started")
		}
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, "sys.restart", 5*time.Second)
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.err, p.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15 s after SIGTERM")
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	store, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var aborted int
	if err := store.DB().Get(&aborted, "SELECT count(*) FROM matches WHERE aborted = 1"); err != nil || aborted != 1 {
		t.Fatalf("aborted matches = %d, %v; want the running one", aborted, err)
	}
}
