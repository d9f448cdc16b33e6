package browsertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// openTab opens a blank tab in the same browser context as p: the two share
// cookies and, like tabs of one browser, the per-host connection pool.
func (p *Page) openTab(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	q := &Page{ctx: ctx, cancel: cancel, timeout: p.timeout}
	t.Cleanup(cancel)
	if err := within(q.timeout, func() error { return chromedp.Do(ctx) }); err != nil {
		cancel()
		t.Fatalf("browsertest: open tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				q.record(m)
			}
		}
	}()
	return q
}

// Nine tabs of one browser on plain HTTP/1.1, default transport. Chromium
// allows six connections per host; a held HTTP stream per tab used to leave
// the seventh tab unable even to load the page. Each tab gives its first
// paint on an HTTP stream and moves to a WebSocket, which does not count
// against the pool: every tab loads, connects and chats, and its chat goes up
// the socket (no POST carries it), as do a playing tab's inputs.
func TestNineTabsOnePlayer(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	const n = 9
	first := testBrowser(t).OpenPage(t)
	first.SetTimeout(30 * time.Second)
	tabs := []*Page{first}
	for len(tabs) < n {
		q := first.openTab(t)
		q.SetTimeout(30 * time.Second)
		tabs = append(tabs, q)
	}
	for i, p := range tabs {
		p.Navigate(t, s.URL+"/")
		p.WaitFor(t, `window.comet && comet.client.status === "open"`)
		t.Logf("tab %d open on %s", i+1, Eval[string](t, p, `comet.client.transport`))
	}
	sids := map[string]bool{}
	for i, p := range tabs {
		p.WaitFor(t, `comet.client.transport === "ws" && comet.client.status === "open"`)
		sids[Eval[string](t, p, `comet.client.sessionInfo.sid`)] = true
		if i > 0 && playerID(t, p) != playerID(t, tabs[0]) {
			t.Errorf("tab %d is another player: the tabs share the cookie", i+1)
		}
	}
	if len(sids) != n {
		t.Fatalf("%d sessions for %d tabs: each tab is its own session", len(sids), n)
	}

	// Chat goes by POST only while a tab's socket is down (a reconnect; the
	// test heartbeat is 1 s, tight on a loaded machine): none when none was.
	reconnects := func() int {
		n := 0
		for _, p := range tabs {
			n += Eval[int](t, p, `comet.client.stats.reconnects`)
		}
		return n
	}
	posts, before := s.faults.posts("chat.say"), reconnects()
	for i, p := range tabs {
		if i >= 5 {
			time.Sleep(1100 * time.Millisecond) // chat allows 5 lines at once, then one a second per player (pacing, not a wait)
		}
		say(t, p, fmt.Sprintf("tab %d here", i+1))
		waitChat(t, p, fmt.Sprintf("tab %d here", i+1))
	}
	for i, p := range tabs {
		for j := range n {
			waitChat(t, p, fmt.Sprintf("tab %d here", j+1))
		}
		if got := Eval[int](t, p, `[...document.querySelectorAll('[data-testid="chat-log"] [data-testid="chat-line"] [data-testid="chat-text"]')].filter(e => /^tab \d here$/.test(e.textContent)).length`); got != n {
			t.Errorf("tab %d shows %d of the %d lines (each exactly once)", i+1, got, n)
		}
		if got := Eval[string](t, p, `comet.client.transport`); got != "ws" {
			t.Errorf("tab %d on %s after chatting", i+1, got)
		}
	}
	if got, r := s.faults.posts("chat.say")-posts, reconnects()-before; r == 0 && got != 0 {
		t.Errorf("%d POSTs carried chat: on a socket, chat goes up the socket", got)
	} else if r > 0 {
		t.Logf("%d reconnects while chatting, %d chat POSTs", r, got)
	}

	// One tab plays: its inputs go up the socket too, and the server moves it.
	a := tabs[0]
	a.Do(t, "quick play", clickQuickPlay("arena"))
	a.WaitFor(t, `comet.state().room !== "" && comet.state().tick >= 0`)
	a.WaitFor(t, `document.querySelector('[data-testid="room-state"]').textContent.includes("left")`)
	a.Do(t, "focus chat", chromedp.Focus(chromedp.CSS(selChatInput)))
	key(t, a, "Escape", "Escape", 27, true)
	key(t, a, "Escape", "Escape", 27, false)
	me, r := roomOf(t, a).You, Eval[int](t, a, `comet.client.stats.reconnects`)
	start := posOf(t, a, me) // as the server says (room.diff), not as predicted
	key(t, a, "KeyD", "d", 68, true)
	a.WaitFor(t, fmt.Sprintf(`(() => { const e = comet.room.view.ents.get(%d); return e && e.f[0] >= %v + 300; })()`, me, start[0]))
	key(t, a, "KeyD", "d", 68, false)
	if got := s.faults.posts("room.input"); got != 0 && Eval[int](t, a, `comet.client.stats.reconnects`) == r {
		t.Errorf("%d POSTs carried inputs: on a socket, inputs go up the socket", got)
	}
	if got := Eval[string](t, a, `comet.client.transport`); got != "ws" {
		t.Errorf("the playing tab is on %s", got)
	}
	for i, p := range tabs {
		if errs := appErrors(p); len(errs) > 0 {
			t.Errorf("tab %d errors: %v", i+1, errs)
		}
	}
}
