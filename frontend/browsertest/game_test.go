package browsertest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"comet/gameloop"
)

type roomDebug struct {
	Room   string      `json:"room"`
	Mode   string      `json:"mode"`
	You    int         `json:"you"`
	Tick   int         `json:"tick"`
	Ents   [][4]any    `json:"ents"`
	Drawn  *[2]float64 `json:"drawn"`
	Inputs int         `json:"inputs"`
}

// posOf reads entity id's authoritative position from a page's view.
func posOf(t *testing.T, p *Page, id int) [2]float64 {
	t.Helper()
	return Eval[[2]float64](t, p, fmt.Sprintf(`(() => { const e = comet.room.view.ents.get(%d); if (!e) throw new Error("no entity %d"); return [e.f[0], e.f[1]]; })()`, id, id))
}

func roomOf(t *testing.T, p *Page) roomDebug {
	t.Helper()
	return Eval[roomDebug](t, p, `comet.state()`)
}

// Two players, one on the iframe transport and one on multipart: names,
// lobby chat both ways, hostile chat text shown as text, quick play into the
// same arena room, each seeing the other move (with prediction on the mover),
// and a cut connection that the page rides out without a reload.
func TestGameTwoPlayers(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	a := openGame(t, s, "?transport=iframe")
	b := openGame(t, s, "?transport=multipart")
	a.Do(t, "viewport", chromedp.EmulateViewport(1280, 720))
	if got := a.Text(t, selTransport); got != "iframe" {
		t.Errorf("page A transport %q", got)
	}
	setName(t, a, "Ada")
	setName(t, b, "Bob")
	a.WaitFor(t, `document.querySelector('[data-testid="online-count"]').textContent === "2"`)

	say(t, a, "hi Bob")
	say(t, b, "hi Ada")
	waitChat(t, b, "hi Bob")
	waitChat(t, a, "hi Ada")

	// Hostile text arrives as text: no element made, nothing run.
	const evil = `<img src=x onerror=alert(1)> </script><b>bold</b>`
	say(t, a, evil)
	waitChat(t, b, evil)
	if n := Eval[int](t, b, `document.querySelectorAll('[data-testid="chat-log"] img, [data-testid="chat-log"] b').length`); n != 0 {
		t.Errorf("%d elements made from chat text", n)
	}
	// A page blocked by an alert() dialog could not answer this.
	if got := Eval[string](t, b, `[...document.querySelectorAll('[data-testid="chat-text"]')].pop().textContent`); got != evil {
		t.Errorf("last chat text %q, want %q", got, evil)
	}

	// Quick play: both end up in the same arena room.
	a.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="arena"]`)))
	a.WaitFor(t, `comet.state().room !== "" && comet.state().tick >= 0`)
	// B sees the room in its lobby list, live.
	ra := roomOf(t, a)
	b.WaitFor(t, fmt.Sprintf(`document.querySelector('[data-testid="room-item"][data-room-id=%q][data-mode="arena"]')`, ra.Room))
	b.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="arena"]`)))
	b.WaitFor(t, `comet.state().room !== "" && comet.state().tick >= 0`)
	rb := roomOf(t, b)
	if ra.Room != rb.Room || ra.You == rb.You || ra.You == 0 || rb.You == 0 {
		t.Fatalf("A in %s as %d, B in %s as %d: want the same room, two players", ra.Room, ra.You, rb.Room, rb.You)
	}
	a.WaitVisible(t, selCanvas)
	a.WaitFor(t, `comet.room.view.ents.has(`+fmt.Sprint(rb.You)+`)`)
	b.WaitFor(t, `comet.room.view.ents.has(`+fmt.Sprint(ra.You)+`)`)
	// Wait for the match to run (bots fill the room quickly in tests).
	a.WaitFor(t, `document.querySelector('[data-testid="room-state"]').textContent.includes("left")`)

	// Escape leaves the chat field for the game; then A walks right: B sees
	// A's x grow, and A's own drawing (prediction) moved at once.
	a.Do(t, "focus chat", chromedp.Focus(chromedp.CSS(selChatInput)))
	key(t, a, "Escape", "Escape", 27, true)
	key(t, a, "Escape", "Escape", 27, false)
	if Eval[bool](t, a, `document.activeElement === document.querySelector('`+selChatInput+`')`) {
		t.Error("Escape left the focus in chat")
	}
	// The field is small when few play, so each walks towards the middle
	// (a spawn near an edge has no room to walk 500 away from it).
	field := Eval[[2]float64](t, b, `(() => { const w = comet.room.view.ents.get(1048576); return w ? [w.f[0], w.f[1]] : [0, 0]; })()`)
	start := posOf(t, b, ra.You)
	dirX, kCode, kKey, kNum := 1.0, "KeyD", "d", int64(68)
	if start[0] > field[0]/2 {
		dirX, kCode, kKey, kNum = -1, "KeyA", "a", 65
	}
	key(t, a, kCode, kKey, kNum, true)
	b.WaitFor(t, fmt.Sprintf(`(() => { const e = comet.room.view.ents.get(%d); return e && (e.f[0] - %v) * %v >= 500; })()`, ra.You, start[0], dirX))
	da := roomOf(t, a)
	if da.Drawn == nil || (da.Drawn[0]-start[0])*dirX < 300 {
		t.Errorf("A's predicted position %v did not move from %v the way it walked", da.Drawn, start)
	}
	key(t, a, kCode, kKey, kNum, false)
	// B walks down (or up, from the lower half): A sees it.
	startB := posOf(t, a, rb.You)
	dirY, bCode, bNum := 1.0, "ArrowDown", int64(40)
	if startB[1] > field[1]/2 {
		dirY, bCode, bNum = -1, "ArrowUp", 38
	}
	key(t, b, bCode, bCode, bNum, true)
	a.WaitFor(t, fmt.Sprintf(`(() => { const e = comet.room.view.ents.get(%d); return e && (e.f[1] - %v) * %v >= 500; })()`, rb.You, startB[1], dirY))
	key(t, b, bCode, bCode, bNum, false)
	// Typing in chat never moves the player.
	before := posOf(t, a, ra.You)
	inputs := roomOf(t, a).Inputs
	say(t, a, "dddddddddd")
	waitChat(t, b, "dddddddddd")
	// The fence: an input A sent while typing went up before its chat line
	// (one upstream, in order), so the room took it by the tick after the
	// one B had seen when the line arrived; once A has seen a later tick,
	// any walk would show in its view.
	a.WaitFor(t, fmt.Sprintf(`comet.state().tick >= %d`, roomOf(t, b).Tick+3))
	// 'd' walks right: x grows, y stays. A move in y too is a respawn (the
	// player was shot meanwhile), which the input count still covers.
	after, n := posOf(t, a, ra.You), roomOf(t, a).Inputs
	walkedRight := after[0] > before[0]+5 && math.Abs(after[1]-before[1]) <= 5
	if walkedRight || n != inputs {
		t.Errorf("typing 'd' in chat moved the player from %v to %v (%d inputs sent)", before, after, n-inputs)
	}
	// Room chat reaches the other player on the room tab.
	say(t, b, "gg")
	waitChat(t, a, "gg")

	a.WaitFor(t, `document.querySelectorAll('[data-testid="scoreboard"] [data-testid="score-row"]').length >= 2`)
	screenshot(t, a, "match.png")

	// Cut every connection: both pages show the banner, recover without a
	// reload, keep their chat, and keep receiving the game.
	Eval[bool](t, a, `window.__noReload = true`)
	s.conns.cut()
	a.WaitVisible(t, selBanner)
	a.WaitNotVisible(t, selBanner)
	b.WaitNotVisible(t, selBanner)
	a.WaitFor(t, `comet.client.status === "open"`)
	if !Eval[bool](t, a, `window.__noReload === true`) {
		t.Fatal("page A reloaded")
	}
	waitChat(t, a, "gg")
	tick := roomOf(t, a).Tick
	a.WaitFor(t, fmt.Sprintf(`comet.state().tick > %d + 10`, tick))
	say(t, b, "still here")
	waitChat(t, a, "still here")
	if r := roomOf(t, a); r.Room != ra.Room {
		t.Errorf("after the cut A is in %q, want %q", r.Room, ra.Room)
	}
	// The cut makes the browser log failed loads; nothing else may fail.
	for _, p := range []*Page{a, b} {
		if errs := appErrors(p); len(errs) > 0 {
			t.Errorf("page errors: %v", errs)
		}
	}
}

// A private tag room: created with a name, joined by its code from another
// page, played to the end; both see the ranked result, the next match
// starts, the leaderboard ranks the player who claimed a name (and not the
// guest), and a whisper reaches the other.
func TestGamePrivateRoomMatch(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{settings: map[string]gameloop.Settings{
		"tag": {MinPlayers: 2, Countdown: 200 * time.Millisecond, Duration: 2 * time.Second, Intermission: 1500 * time.Millisecond},
	}})
	a := openGame(t, s, "")
	b := openGame(t, s, "?transport=sse")
	setName(t, a, "Cleo")
	setName(t, b, "Dan")
	// Only claimed players are ranked: Cleo claims her name, Dan stays a guest.
	a.SetTimeout(45 * time.Second) // bcrypt under -race
	click(t, a, "claim-open")
	typeInto(t, a, "claim-password", "correct horse")
	typeInto(t, a, "claim-password2", "correct horse")
	click(t, a, "claim-submit")
	waitText(t, a, selAccountStatus, "✓ claimed")
	a.SetTimeout(DefaultTimeout)

	Eval[bool](t, a, `(s => (s.value = "tag", s.dispatchEvent(new Event("change"))))(document.querySelector('[data-testid="create-mode"]')), document.querySelector('[data-testid="create-max"]').value = "4", true`)
	a.Do(t, "create room",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="create-name"]`), "Friday"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-private"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="create-room"]`)))
	a.WaitFor(t, `/^code [A-Z0-9]{6}$/.test(document.querySelector('[data-testid="room-code"]').textContent)`)
	if got := a.Text(t, `[data-testid="room-name"]`); got != "Friday" {
		t.Errorf("room name %q", got)
	}
	code := Eval[string](t, a, `document.querySelector('[data-testid="room-code"]').textContent.slice(5)`)
	b.Do(t, "join by code",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="join-code"]`), code),
		chromedp.Click(chromedp.CSS(`[data-testid="join-code-submit"]`)))
	b.WaitFor(t, `comet.state().room !== ""`)
	if ra, rb := roomOf(t, a), roomOf(t, b); ra.Room != rb.Room || rb.Mode != "tag" {
		t.Fatalf("A in %q, B in %q (%s)", ra.Room, rb.Room, rb.Mode)
	}

	// The match runs 2 s, then both see the ranked result.
	for _, p := range []*Page{a, b} {
		p.SetTimeout(20 * time.Second)
		p.WaitVisible(t, selResult)
		p.WaitFor(t, `document.querySelectorAll('[data-testid="result-row"]').length >= 2`)
	}
	rows := Eval[[]string](t, a, `[...document.querySelectorAll('[data-testid="result-row"]')].map(e => e.textContent)`)
	t.Logf("result: %v", rows)
	screenshot(t, a, "result.png")
	// The next match starts and the result goes away.
	a.WaitNotVisible(t, selResult)
	// The leaderboard (fetched after a result) ranks Cleo; in the same
	// answer, the guest Dan is not.
	Eval[bool](t, a, `document.querySelector('[data-testid="leaderboard-tab"][data-mode="tag"]').click(), true`)
	a.WaitFor(t, `[...document.querySelectorAll('[data-testid="leaderboard-row"]')].some(r => r.textContent.includes("Cleo"))`)
	if board := Eval[[]string](t, a, `[...document.querySelectorAll('[data-testid="leaderboard-row"]')].map(r => r.textContent)`); slices.ContainsFunc(board, func(r string) bool { return strings.Contains(r, "Dan") }) {
		t.Errorf("the guest Dan is ranked: %v", board)
	}

	// A whisper opens a direct tab on the other side.
	say(t, a, "/w Dan psst")
	b.WaitFor(t, `[...document.querySelectorAll('[data-testid="chat-tab"]')].some(e => e.dataset.channel.startsWith("dm:"))`)
	Eval[bool](t, b, `[...document.querySelectorAll('[data-testid="chat-tab"]')].find(e => e.dataset.channel.startsWith("dm:")).click(), true`)
	waitChat(t, b, "psst")

	// Leaving returns to the lobby.
	b.Do(t, "leave", chromedp.Click(chromedp.CSS(`[data-testid="leave-room"]`)))
	b.WaitVisible(t, `[data-testid="lobby"]`)
	noErrors(t, a, b)
}

// A third page spectates a public room from the list, and the lobby
// screenshot shows rooms, chat and the leaderboard.
func TestGameSpectateAndLobby(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	a := openGame(t, s, "")
	setName(t, a, "Eve")
	say(t, a, "/me waves")
	a.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="snake"]`)))
	a.WaitFor(t, `comet.state().tick >= 0`)

	c := testBrowser(t).OpenPage(t)
	c.Do(t, "viewport", chromedp.EmulateViewport(1280, 720))
	c.Navigate(t, s.URL+"/")
	c.WaitFor(t, `window.comet && comet.client.status === "open"`)
	setName(t, c, "Finn")
	say(t, c, "anyone up for tag?")
	waitChat(t, c, "waves")
	room := roomOf(t, a).Room
	c.WaitFor(t, fmt.Sprintf(`document.querySelector('[data-testid="room-item"][data-room-id=%q] [data-testid="room-players"]')`, room))
	screenshot(t, c, "lobby.png")
	Eval[bool](t, c, fmt.Sprintf(`(document.querySelector('[data-testid="room-item"][data-room-id=%q] [data-testid="room-spectate"]').click(), true)`, room)) // one step: the list may re-render between a lookup and a click
	c.WaitFor(t, fmt.Sprintf(`comet.state().room === %q && comet.state().you === 0 && comet.state().tick >= 0`, room))
	c.WaitFor(t, `document.querySelector('[data-testid="room-state"]').textContent.startsWith("Spectating")`)
	noErrors(t, a, c)
}
