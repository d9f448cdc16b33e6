package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"comet/internal/check"
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

// openTabs opens n tabs of one browser (one context: shared cookies, shared
// connection pool, shared BroadcastChannel) on url and waits until each is
// connected. The context belongs to a blank anchor page that is never
// navigated, so any of the n tabs can be closed alone. Each init script runs
// in every tab before the page's own scripts.
func openTabs(t *testing.T, url string, n int, init ...string) []*Page {
	t.Helper()
	anchor := testBrowser(t).OpenPage(t)
	anchor.SetTimeout(30 * time.Second)
	var tabs []*Page
	for len(tabs) < n {
		q := anchor.openTab(t)
		q.SetTimeout(30 * time.Second)
		tabs = append(tabs, q)
	}
	for i, p := range tabs {
		for _, src := range init {
			p.Do(t, "add an init script", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
				return err
			}))
		}
		p.Navigate(t, url)
		p.WaitFor(t, `window.comet && comet.client.status === "open"`)
		t.Logf("tab %d open on %s", i+1, Eval[string](t, p, `comet.client.transport`))
	}
	return tabs
}

// distinctSessions fails unless every tab is its own session of one player.
func distinctSessions(t *testing.T, tabs []*Page) {
	t.Helper()
	sids := map[string]bool{}
	for i, p := range tabs {
		sids[Eval[string](t, p, `comet.client.sessionInfo.sid`)] = true
		if i > 0 && playerID(t, p) != playerID(t, tabs[0]) {
			t.Errorf("tab %d is another player: the tabs share the cookie", i+1)
		}
	}
	if len(sids) != len(tabs) {
		t.Fatalf("%d sessions for %d tabs: each tab is its own session", len(sids), len(tabs))
	}
}

// chatEveryTab has each tab say one line (named by its index in names) and
// checks that every tab shows every line exactly once.
func chatEveryTab(t *testing.T, tabs []*Page, names []int) {
	t.Helper()
	for i, p := range tabs {
		if i >= 5 {
			time.Sleep(1100 * time.Millisecond) // chat allows 5 lines at once, then one a second per player (pacing, not a wait)
		}
		say(t, p, fmt.Sprintf("tab %d here", names[i]))
		waitChat(t, p, fmt.Sprintf("tab %d here", names[i]))
	}
	for i, p := range tabs {
		for _, j := range names {
			waitChat(t, p, fmt.Sprintf("tab %d here", j))
		}
		if got := chatLines(t, p, `^tab \d here$`); got != len(names) {
			t.Errorf("tab %d shows %d of the %d lines (each exactly once)", names[i], got, len(names))
		}
	}
}

// chatLines counts the chat lines of p whose text matches the JS regexp re.
func chatLines(t *testing.T, p *Page, re string) int {
	return Eval[int](t, p, fmt.Sprintf(`[...document.querySelectorAll('[data-testid="chat-log"] [data-testid="chat-line"] [data-testid="chat-text"]')].filter(e => /%s/.test(e.textContent)).length`, re))
}

// playArena takes tab a into an arena room and walks it right: the server
// moves it (room.diff), whatever carries its inputs.
func playArena(t *testing.T, a *Page) {
	t.Helper()
	a.Do(t, "quick play", clickQuickPlay("arena"))
	a.WaitFor(t, `comet.state().room !== "" && comet.state().tick >= 0`)
	a.WaitFor(t, `document.querySelector('[data-testid="room-state"]').textContent.includes("left")`)
	a.Do(t, "focus chat", chromedp.Focus(chromedp.CSS(selChatInput)))
	key(t, a, "Escape", "Escape", 27, true)
	key(t, a, "Escape", "Escape", 27, false)
	me := roomOf(t, a).You
	start := posOf(t, a, me) // as the server says (room.diff), not as predicted
	// Away from the nearer side wall, as the other walking tests do: a
	// player spawned within 300 of the right edge could never get 300
	// further right (failed at x 11,556 of 12,000).
	code, k, vk, moved := "KeyD", "d", int64(68), fmt.Sprintf(`e.f[0] >= %v + 300`, start[0])
	if start[0] > Eval[float64](t, a, `comet.room.view.field().w`)/2 {
		code, k, vk, moved = "KeyA", "a", 65, fmt.Sprintf(`e.f[0] <= %v - 300`, start[0])
	}
	key(t, a, code, k, vk, true)
	a.WaitFor(t, fmt.Sprintf(`(() => { const e = comet.room.view.ents.get(%d); return e && %s; })()`, me, moved))
	key(t, a, code, k, vk, false)
}

func noAppErrors(t *testing.T, tabs []*Page) {
	t.Helper()
	for i, p := range tabs {
		if errs := appErrors(p); len(errs) > 0 {
			t.Errorf("tab %d errors: %v", i+1, errs)
		}
	}
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
	tabs := openTabs(t, s.URL+"/", n)
	for _, p := range tabs {
		p.WaitFor(t, `comet.client.transport === "ws" && comet.client.status === "open"`)
	}
	distinctSessions(t, tabs)

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
	chatEveryTab(t, tabs, []int{1, 2, 3, 4, 5, 6, 7, 8, 9})
	for i, p := range tabs {
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
	r := Eval[int](t, a, `comet.client.stats.reconnects`)
	playArena(t, a)
	if got := s.faults.posts("room.input"); got != 0 && Eval[int](t, a, `comet.client.stats.reconnects`) == r {
		t.Errorf("%d POSTs carried inputs: on a socket, inputs go up the socket", got)
	}
	if got := Eval[string](t, a, `comet.client.transport`); got != "ws" {
		t.Errorf("the playing tab is on %s", got)
	}
	noAppErrors(t, tabs)
}

// Nine tabs of one browser on plain HTTP/1.1 with an HTTP streaming transport
// forced, where no WebSocket takes the tabs off the pool: the tabs share one
// mux stream held by a leader tab (tabs.ts), so every tab loads, connects,
// chats and plays. Then the leader tab closes: another takes over and
// reopens the mux with every tab's last seq, and no tab loses or repeats an
// event (the client's delivery stats: every seq from 1 accepted once).
func TestNineTabsForcedTransport(t *testing.T) {
	for _, tr := range []string{"multipart", "iframe", "sse"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, siteOptions{})
			const n = 9
			tabs := openTabs(t, s.URL+"/?transport="+tr, n)
			distinctSessions(t, tabs)
			names := []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
			chatEveryTab(t, tabs, names)
			playArena(t, tabs[0])

			lead := oneLeader(t, tabs, tr)

			// The leader tab closes; the others carry on.
			t.Logf("closing the leader, tab %d", lead+1)
			tabs[lead].Close()
			rest := append(append([]*Page{}, tabs[:lead]...), tabs[lead+1:]...)
			restNames := append(append([]int{}, names[:lead]...), names[lead+1:]...)
			oneLeader(t, rest, tr)
			time.Sleep(1100 * time.Millisecond) // chat pacing (one line a second per player), not a wait
			afterHandover(t, rest, restNames, n, "after the leader left", false)
			noAppErrors(t, rest)
		})
	}
}

// leaders returns the indexes of the tabs that hold the shared connection.
func leaders(t *testing.T, tabs []*Page) []int {
	t.Helper()
	var out []int
	for i, p := range tabs {
		if Eval[string](t, p, `comet.client.stats.shared`) == "leader" {
			out = append(out, i)
		}
	}
	return out
}

// oneLeader waits until exactly one of tabs leads, checks that every tab is
// open on transport tr and shares the connection, and returns the leader's
// index.
func oneLeader(t *testing.T, tabs []*Page, tr string) int {
	t.Helper()
	var lead []int
	check.For(t, 15*time.Second, func() error {
		if lead = leaders(t, tabs); len(lead) != 1 {
			return fmt.Errorf("leaders %v, want one", lead)
		}
		return nil
	})
	for i, p := range tabs {
		if got := Eval[string](t, p, `comet.client.transport`); got != tr {
			t.Errorf("tab %d on %s, want %s", i+1, got, tr)
		}
		if got := Eval[string](t, p, `String(comet.client.stats.shared)`); got == "null" {
			t.Errorf("tab %d does not share the connection", i+1)
		}
	}
	return lead[0]
}

// afterHandover has the first of tabs say line and checks that every tab
// shows it once, still shows the n earlier "tab N here" lines, and has
// accepted every seq from 1 exactly once (none lost over a hand-over). With
// wireRepeats, a seq that came twice and was dropped by the client's seq
// filter is allowed (logged); without, none may come twice.
func afterHandover(t *testing.T, tabs []*Page, names []int, n int, line string, wireRepeats bool) {
	t.Helper()
	say(t, tabs[0], line)
	for i, p := range tabs {
		waitChat(t, p, line)
		p.WaitFor(t, `comet.client.status === "open"`)
		if got := chatLines(t, p, "^"+line+"$"); got != 1 {
			t.Errorf("tab %d shows %q %d times", names[i], line, got)
		}
		if got := chatLines(t, p, `^tab \d here$`); got != n {
			t.Errorf("tab %d shows %d of the %d earlier lines", names[i], got, n)
		}
		type delivery struct{ Events, LastSeq, Duplicates, Reconnects int }
		d := Eval[delivery](t, p, `({events: comet.client.stats.events, lastSeq: comet.client.stats.lastSeq, duplicates: comet.client.stats.duplicates, reconnects: comet.client.stats.reconnects})`)
		if d.Events != d.LastSeq || d.Duplicates != 0 && !wireRepeats {
			t.Errorf("tab %d delivery %+v: every seq from 1 exactly once (no loss: events = last seq; no repeat)", names[i], d)
		} else if d.Duplicates != 0 {
			t.Logf("tab %d: %d seqs came twice (dropped by the seq filter, applied once); %d reconnects", names[i], d.Duplicates, d.Reconnects)
		}
	}
}

// Nine tabs of one browser on plain HTTP/1.1, default transport, behind a
// proxy that refuses WebSocket (it drops the Upgrade header; the server
// answers 426). Each tab's probe fails, so its held multipart stream is here
// to stay: it moves to the shared mux instead of keeping a connection of its
// own, and every tab loads, connects, chats and plays.
func TestNineTabsWebSocketRefused(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	s.faults.set(func(f *faults) { f.noUpgrade = true })
	const n = 9
	tabs := openTabs(t, s.URL+"/", n)
	distinctSessions(t, tabs)
	check.For(t, 20*time.Second, func() error {
		for i, p := range tabs {
			if got := Eval[string](t, p, `comet.client.transport + " " + comet.client.stats.shared`); got != "multipart leader" && got != "multipart follower" {
				return fmt.Errorf("tab %d: %s, want multipart on the shared connection", i+1, got)
			}
		}
		return nil
	})
	if got := s.faults.openCount("ws"); got < n {
		t.Errorf("%d WebSocket requests for %d tabs: each tab probes", got, n)
	}
	oneLeader(t, tabs, "multipart")
	chatEveryTab(t, tabs, []int{1, 2, 3, 4, 5, 6, 7, 8, 9})
	playArena(t, tabs[n-1])
	for i, p := range tabs {
		if got := Eval[string](t, p, `comet.client.transport`); got != "multipart" {
			t.Errorf("tab %d on %s after chatting and playing", i+1, got)
		}
	}
	noAppErrors(t, tabs)
}

// Nine tabs with multipart forced in a browser without Web Locks (an init
// script removes navigator.locks before the app loads): the tabs elect their
// leader by hellos on the BroadcastChannel alone, exactly one leads, and
// every tab loads, connects and chats; when the leader closes another takes
// over and no tab loses or repeats an event.
func TestNineTabsFallbackElection(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	const n = 9
	tabs := openTabs(t, s.URL+"/?transport=multipart", n, `delete Navigator.prototype.locks;`)
	if got := Eval[string](t, tabs[0], `typeof navigator.locks`); got != "undefined" {
		t.Fatalf("navigator.locks is %s: the init script did not remove it", got)
	}
	distinctSessions(t, tabs)
	names := []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
	chatEveryTab(t, tabs, names)
	lead := oneLeader(t, tabs, "multipart")

	t.Logf("closing the leader, tab %d", lead+1)
	tabs[lead].Close()
	rest := append(append([]*Page{}, tabs[:lead]...), tabs[lead+1:]...)
	restNames := append(append([]int{}, names[:lead]...), names[lead+1:]...)
	oneLeader(t, rest, "multipart")
	time.Sleep(1100 * time.Millisecond) // chat pacing (one line a second per player), not a wait
	afterHandover(t, rest, restNames, n, "after the leader left", false)
	noAppErrors(t, rest)
}

// A leader tab that is frozen (page lifecycle, as Chromium freezes a
// background tab; here by CDP Page.setWebLifecycleState) steps down on the
// freeze event: another tab takes over and the others go on chatting. When
// it is thawed it follows the new leader and catches up: no tab, the frozen
// one included, loses an event or applies one twice. (Messages of two tabs
// are not ordered with each other, so a batch the frozen leader relayed just
// before the freeze may reach a tab after the new leader has resumed it from
// what it had applied: that seq comes twice and the seq filter drops the
// copy, so repeats on the wire are allowed here, and logged.)
func TestFrozenLeaderHandsOver(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	const n = 4
	tabs := openTabs(t, s.URL+"/?transport=multipart", n)
	names := []int{1, 2, 3, 4}
	chatEveryTab(t, tabs, names)
	lead := oneLeader(t, tabs, "multipart")
	frozen := tabs[lead]
	rest := append(append([]*Page{}, tabs[:lead]...), tabs[lead+1:]...)
	restNames := append(append([]int{}, names[:lead]...), names[lead+1:]...)

	lifecycle := func(state page.SetWebLifecycleStateState) {
		frozen.Do(t, "set the leader's lifecycle to "+string(state), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: state})
			return err
		}))
	}
	t.Logf("freezing the leader, tab %d", lead+1)
	lifecycle(page.SetWebLifecycleStateStateFrozen)
	oneLeader(t, rest, "multipart")
	time.Sleep(1100 * time.Millisecond) // chat pacing (one line a second per player), not a wait
	afterHandover(t, rest, restNames, n, "while the leader was frozen", true)

	lifecycle(page.SetWebLifecycleStateStateActive)
	time.Sleep(1100 * time.Millisecond) // chat pacing, not a wait
	afterHandover(t, []*Page{frozen}, []int{names[lead]}, n, "after the thaw", true)
	frozen.WaitFor(t, `comet.client.stats.shared === "follower"`)
	waitChat(t, frozen, "while the leader was frozen")
	if l := leaders(t, tabs); len(l) != 1 || l[0] == lead {
		t.Errorf("leaders after the thaw %v, want one, not the thawed tab %d", l, lead)
	}
	noAppErrors(t, tabs)
}
