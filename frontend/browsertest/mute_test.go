package browsertest

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// hasChat says whether the page's chat log shows a line whose text is exactly text.
func hasChat(t *testing.T, p *Page, text string) bool {
	t.Helper()
	return Eval[bool](t, p, fmt.Sprintf(`[...document.querySelectorAll('[data-testid="chat-log"] [data-testid="chat-text"]')].some(e => e.textContent === %q)`, text))
}

// Page A mutes B from B's chat line: B's lines already shown go away, B's
// next line reaches C but not A (C's later line proves A was sent what
// followed), a reload of A keeps the mute, and unmuting lets B through again.
func TestMuteFromChatLine(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	a := openGame(t, s, "")
	b := openGame(t, s, "?transport=sse")
	c := openGame(t, s, "")
	idA, idB := playerID(t, a), playerID(t, b)
	nameB := Eval[string](t, b, `comet.client.sessionInfo.player.name`)

	say(t, b, "hello from Bob")
	say(t, c, "hello from Cy")
	waitChat(t, a, "hello from Bob")
	waitChat(t, a, "hello from Cy")
	// Only other players' lines carry a mute control.
	if n := Eval[int](t, a, fmt.Sprintf(`document.querySelectorAll('[data-testid="mute-player"][data-player-id=%q]').length`, idA)); n != 0 {
		t.Errorf("%d mute controls for A's own player", n)
	}
	muteB := fmt.Sprintf(`[data-testid="chat-line"][data-from=%q] [data-testid="mute-player"][data-player-id=%q]`, idB, idB)
	a.Do(t, "mute B", chromedp.Click(chromedp.CSS(muteB)))
	a.WaitFor(t, fmt.Sprintf(`comet.chat.isMuted(%q)`, idB))
	a.WaitFor(t, `!document.querySelector('[data-testid="chat-muted"]').hidden`)
	if hasChat(t, a, "hello from Bob") {
		t.Error("B's earlier line still shown after the mute")
	}
	if !hasChat(t, a, "hello from Cy") {
		t.Error("C's line went with B's")
	}
	if got := a.Text(t, fmt.Sprintf(`[data-testid="unmute-player"][data-player-id=%q]`, idB)); got != nameB+" ×" {
		t.Errorf("muted chip %q", got)
	}

	say(t, b, "you cannot hear me")
	say(t, c, "after Bob")
	waitChat(t, c, "you cannot hear me")
	waitChat(t, a, "after Bob")
	if hasChat(t, a, "you cannot hear me") {
		t.Error("A shows a muted player's line")
	}
	waitChat(t, b, "you cannot hear me") // the muted player is not told

	// The mute is stored: a fresh page of A's player leaves B out of history.
	a.Navigate(t, s.URL+"/")
	a.WaitFor(t, `window.comet && comet.client.status === "open"`)
	waitChat(t, a, "after Bob")
	a.WaitFor(t, fmt.Sprintf(`comet.chat.isMuted(%q)`, idB))
	for _, text := range []string{"hello from Bob", "you cannot hear me"} {
		if hasChat(t, a, text) {
			t.Errorf("history after reload shows muted %q", text)
		}
	}

	a.Do(t, "unmute B", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="unmute-player"][data-player-id=%q]`, idB))))
	a.WaitFor(t, fmt.Sprintf(`!comet.chat.isMuted(%q) && document.querySelector('[data-testid="chat-muted"]').hidden`, idB))
	say(t, b, "back again")
	waitChat(t, a, "back again")
	noErrors(t, b, c)
	if errs := appErrors(a); len(errs) > 0 {
		t.Errorf("page A errors: %v", errs)
	}
}
