package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"comet/server/sqlite"
)

// TestChatSurvivesSIGKILL runs the real binary: chat lines acknowledged on the
// stream (delivered only after their commit) must be in the history after the
// process is killed with SIGKILL and started again on the same database, and
// the database must pass integrity_check.
func TestChatSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the comet binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "comet")
	build := exec.Command("go", "build", "-o", bin, "./cmd/comet")
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/comet: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "c.db")

	p := startBinary(t, bin, db)
	a := openSession(t, p.url, "")
	st := a.open("sse", 0)
	var said []wireChat
	for i := range chatBurst {
		text := fmt.Sprintf("durable line %d", i)
		a.send("chat.say", map[string]string{"channel": "lobby", "text": text})
		ev := st.waitType(t, "chat.msg", eventWait)
		m := decodeAs[wireChat](t, ev)
		if m.Text != text {
			t.Fatalf("acknowledged %q, want %q", m.Text, text)
		}
		said = append(said, m)
	}
	st.close()
	p.kill(t) // right after the last acknowledgement

	p = startBinary(t, bin, db)
	b := openSession(t, p.url, "")
	st = b.open("sse", 0)
	h := decodeAs[wireHistory](t, st.waitType(t, "chat.history", eventWait))
	st.close()
	if h.Channel != "lobby" || !slices.Equal(h.Messages, said) {
		t.Fatalf("history after SIGKILL:\n got %+v\nwant %+v\nserver log:\n%s", h.Messages, said, p.log())
	}
	if again := openSession(t, p.url, a.Token); again.Player.ID != a.Player.ID {
		t.Fatalf("player after SIGKILL: %+v, want %s", again.Player, a.Player.ID)
	}
	p.kill(t)

	store, err := sqlite.Open(context.Background(), db, quietLogger())
	if err != nil {
		t.Fatalf("reopen after two SIGKILLs: %v", err)
	}
	defer store.Close()
	var check string
	if err := store.DB().Get(&check, "PRAGMA integrity_check"); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	t.Logf("%d acknowledged lines kept across SIGKILL; integrity_check %s", len(said), check)
}

// process is a running comet binary.
type process struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startBinary starts bin on a free loopback port with database db and waits
// until /healthz answers ok.
func startBinary(t *testing.T, bin, db string) *process {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &process{url: "http://" + addr, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--addr", addr, "--db", db, "--log-level", "debug")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(t) })
	end := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("comet exited before it was healthy:\n%s", p.log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatalf("comet not healthy after 30 s:\n%s", p.log())
		}
	}
}

// kill sends SIGKILL (no shutdown of any kind) and waits for the exit.
func (p *process) kill(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("comet (pid %d) did not die on SIGKILL", p.cmd.Process.Pid)
	}
}
