package browsertest

import (
	"fmt"
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

	"github.com/chromedp/chromedp"
)

// These tests run the real binary (go build comet/cmd/comet) and kill it.

var cometBinary struct {
	sync.Once
	path string
	err  error
}

// binary builds the comet command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	cometBinary.Do(func() {
		dir, err := os.MkdirTemp("", "comet-browsertest-bin-")
		if err != nil {
			cometBinary.err = err
			return
		}
		cometBinary.path = filepath.Join(dir, "comet")
		if out, err := exec.Command("go", "build", "-o", cometBinary.path, "comet/cmd/comet").CombinedOutput(); err != nil {
			cometBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cometBinary.err != nil {
		t.Fatal(cometBinary.err)
	}
	return cometBinary.path
}

// proc is the binary running as a child process.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.Write(b) }
func (p *proc) log() string                 { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.String() }

// startProc starts the binary on addr with db and waits until /healthz
// answers; the process is killed when the test ends.
func startProc(t *testing.T, addr, db string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(binary(t), "serve", "--addr", addr, "--db", db, "--bot-delay", "100ms",
		"--countdown", "100ms", "--match-length", "5m")
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log (%s):\n%s", addr, p.log())
		}
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Error("the server process did not exit after SIGKILL")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not come up on %s: %v\n%s", addr, err, p.log())
		}
		time.Sleep(50 * time.Millisecond) // polling a process that is starting
	}
}

// startFresh starts the binary on a free address with a new database, and
// returns both for a restart on them.
func startFresh(t *testing.T) (addr, db string, p *proc) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	db = filepath.Join(t.TempDir(), "comet.db")
	return addr, db, startProc(t, addr, db)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server process did not exit after SIGKILL")
	}
}

// term sends SIGTERM (a deploy's graceful restart: the process hands its
// sessions and rooms over through the database) and waits for a clean exit.
func (p *proc) term(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		// done closes after Wait returned, which set ProcessState.
		if !p.cmd.ProcessState.Success() {
			t.Fatalf("the server exited with %v after SIGTERM", p.cmd.ProcessState)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server process was still running 30 s after SIGTERM")
	}
}

// A crash (SIGKILL) and a start on the same address and database: sessions
// and rooms are gone. Three players in a tag room (iframe, multipart and the
// default transport) each renew their session, keep the name they chose
// (guests: the token cookie keeps the player, the store keeps the name), are
// playing in a tag room again within 10 s of the server answering, read in
// the banner what happened, and are on a streaming transport.
func TestCrashRecovery(t *testing.T) {
	addr, db, srv := startFresh(t)

	players := []struct{ name, query string }{{"Ada", "?transport=iframe"}, {"Bob", "?transport=multipart"}, {"Cy", ""}}
	pages := make([]*Page, len(players))
	var room string
	for i, pl := range players {
		p := testBrowser(t).NewPage(t, "http://"+addr+"/"+pl.query)
		p.SetTimeout(15 * time.Second)
		p.WaitFor(t, `window.comet && comet.client.status === "open" && document.querySelector('[data-testid="name-input"]').value !== ""`)
		setName(t, p, pl.name)
		p.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="tag"]`)))
		p.WaitFor(t, `comet.state().room !== "" && comet.state().tick > 0`)
		if r := roomOf(t, p).Room; room == "" {
			room = r
		} else if r != room {
			t.Fatalf("%s is in %q, want %q with the others", pl.name, r, room)
		}
		pages[i] = p
	}
	sids := make([]string, len(pages))
	for i, p := range pages {
		sids[i] = Eval[string](t, p, `comet.client.sessionInfo.sid`)
	}

	srv.kill(t)
	startProc(t, addr, db)
	answered := time.Now()

	for i, p := range pages {
		name := players[i].name
		p.WaitFor(t, fmt.Sprintf(`comet.client.sessionInfo && comet.client.sessionInfo.sid !== %q && comet.state().room !== "" && comet.state().room !== %q && comet.state().mode === "tag" && comet.state().tick > 0`, sids[i], room))
		if d := time.Since(answered); d > 10*time.Second {
			t.Errorf("%s playing again %v after the server answered, want within 10 s", name, d)
		} else {
			t.Logf("%s playing again %v after the server answered", name, d.Round(time.Millisecond))
		}
		if got := Eval[string](t, p, `comet.client.sessionInfo.player.name`); got != name {
			t.Errorf("after the crash the player is %q, want the name it chose, %q", got, name)
		}
		p.WaitFor(t, fmt.Sprintf(`document.querySelector('[data-testid="name-input"]').value === %q`, name))
		// The notice shows for a few seconds; the players are checked one
		// after another, so read the notice the banner last showed.
		p.WaitFor(t, `(document.querySelector('[data-testid="reconnect-banner"]').dataset.lastNotice || "").includes("The server restarted")`)
	}
	for i, p := range pages {
		p.WaitFor(t, `["ws", "multipart", "sse", "iframe"].includes(comet.client.transport) && comet.client.status === "open"`)
		if d := time.Since(answered); d > 10*time.Second {
			t.Errorf("%s back on a streaming transport (%s) %v after the server answered, want within 10 s",
				players[i].name, Eval[string](t, pages[i], `comet.client.transport`), d)
		}
	}
	for _, p := range pages {
		for _, e := range appErrors(p) {
			if !strings.Contains(e, "404") && !strings.Contains(e, "Failed to load") {
				t.Errorf("page error: %s", e)
			}
		}
	}
}

// A private room after a crash: it is gone, and quick play would seat its
// players with strangers, so each tab goes back to the lobby, reads why in
// the banner, and finds the room's join code in the join field.
func TestCrashRecoveryPrivateRoom(t *testing.T) {
	addr, db, srv := startFresh(t)

	open := func() *Page {
		p := testBrowser(t).NewPage(t, "http://"+addr+"/")
		p.SetTimeout(15 * time.Second)
		p.WaitFor(t, `window.comet && comet.client.status === "open" && document.querySelector('[data-testid="name-input"]').value !== ""`)
		return p
	}
	a, b := open(), open()
	Eval[bool](t, a, `(s => (s.value = "tag", s.dispatchEvent(new Event("change"))))(document.querySelector('[data-testid="create-mode"]')), true`)
	a.Do(t, "create room",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="create-name"]`), "Friday"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-private"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="create-room"]`)))
	a.WaitFor(t, `/^code [A-Z0-9]{6}$/.test(document.querySelector('[data-testid="room-code"]').textContent)`)
	code := Eval[string](t, a, `document.querySelector('[data-testid="room-code"]').textContent.slice(5)`)
	b.Do(t, "join by code",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="join-code"]`), code),
		chromedp.Click(chromedp.CSS(`[data-testid="join-code-submit"]`)))
	b.WaitFor(t, `comet.state().room !== ""`)
	Eval[bool](t, b, `document.querySelector('[data-testid="join-code"]').value = "", true`)

	srv.kill(t)
	startProc(t, addr, db)
	answered := time.Now()
	for _, p := range []*Page{a, b} {
		p.WaitFor(t, `document.getElementById("app").dataset.screen === "lobby" && comet.state().room === ""`)
		p.WaitFor(t, `document.querySelector('[data-testid="reconnect-banner"]').textContent.includes("private room is gone")`)
		if d := time.Since(answered); d > 10*time.Second {
			t.Errorf("back in the lobby %v after the server answered, want within 10 s", d)
		}
		if got := Eval[string](t, p, `document.querySelector('[data-testid="join-code"]').value`); got != code {
			t.Errorf("join field %q after the private room was lost, want its code %q", got, code)
		}
		if n := Eval[int](t, p, `[...document.querySelectorAll('[data-testid="toast"]')].filter(e => /not found/i.test(e.textContent)).length`); n != 0 {
			t.Errorf("%d \"not found\" toasts: the room shows what happened instead", n)
		}
	}
}

// A session lost while its room lives on (it expired: a laptop asleep past
// the grace): the page renews it and is seated again in the same room, and
// says so.
func TestRenewedSessionBackInSameRoom(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	a := openGame(t, s, "?transport=multipart")
	b := openGame(t, s, "")
	a.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="tag"]`)))
	a.WaitFor(t, `comet.state().room !== "" && comet.state().tick > 0`)
	room := roomOf(t, a).Room
	// b keeps the room open while a is out of it.
	b.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="tag"]`)))
	b.WaitFor(t, fmt.Sprintf(`comet.state().room === %q`, room))
	sid := Eval[string](t, a, `comet.client.sessionInfo.sid`)

	s.expire(t, sid)
	a.WaitFor(t, fmt.Sprintf(`comet.client.sessionInfo.sid !== %q && comet.state().room === %q && comet.state().tick > 0`, sid, room))
	a.WaitFor(t, `document.querySelector('[data-testid="reconnect-banner"]').textContent.includes("you are back in your Tag room")`)
}
