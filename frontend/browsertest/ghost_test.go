package browsertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// scoreboardHas is a page expression: the room's scoreboard lists name.
func scoreboardHas(name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('[data-testid="scoreboard"] [data-testid="score-row"] .nm')].some(e => e.textContent === %q)`, name)
}

// No ghosts: two players in one tag room; one tab goes away (closed, and
// then, for the other path, navigated elsewhere) and is gone from the other
// player's scoreboard within 5 s, not after the 30 s grace.
func TestNoGhostsAfterTabCloses(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	b := openGame(t, s, "")
	setName(t, b, "Bob")
	b.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="tag"]`)))
	b.WaitFor(t, `comet.state().room !== ""`)
	room := roomOf(t, b).Room

	for _, c := range []struct {
		name, how string
	}{{"Ada", "closed"}, {"Cy", "navigated away"}} {
		a := openGame(t, s, "")
		setName(t, a, c.name)
		a.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="tag"]`)))
		a.WaitFor(t, `comet.state().room !== ""`)
		if got := roomOf(t, a).Room; got != room {
			t.Fatalf("%s is in room %q, Bob in %q: want one room", c.name, got, room)
		}
		b.WaitFor(t, scoreboardHas(c.name))
		start := time.Now()
		if c.how == "closed" {
			a.Close()
		} else {
			a.Navigate(t, "about:blank")
		}
		b.WaitFor(t, `!(`+scoreboardHas(c.name)+`)`)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the %s tab of %s left Bob's scoreboard after %v, want within 5 s", c.how, c.name, d)
		} else {
			t.Logf("the %s tab of %s left Bob's scoreboard after %v", c.how, c.name, d.Round(time.Millisecond))
		}
	}
	if errs := appErrors(b); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
