package browsertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"comet/gameloop"
)

// boardRows is the leaderboard's rows as shown, one text per row.
const boardRows = `[...document.querySelectorAll('[data-testid="leaderboard-row"]')].map(r => r.textContent)`

// A claimed player and a guest finish one tag match together: the claimed
// name is on the "This week" and "All time" boards, the guest on neither.
// The board is emptied before each switch (the page drops answers for the
// period it left), and its rows are replaced at once, so the render that
// shows the claimed player is the chosen period's and would show the guest.
func TestLeaderboardClaimedOnly(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{settings: map[string]gameloop.Settings{
		"tag": {MinPlayers: 2, Countdown: 200 * time.Millisecond, Duration: 2 * time.Second, Intermission: 1500 * time.Millisecond},
	}})
	a := openGame(t, s, "")
	b := openGame(t, s, "")
	a.SetTimeout(45 * time.Second) // bcrypt under -race
	setName(t, a, "Wren")
	setName(t, b, "Guesty")
	click(t, a, "claim-open")
	typeInto(t, a, "claim-password", "correct horse")
	typeInto(t, a, "claim-password2", "correct horse")
	click(t, a, "claim-submit")
	waitText(t, a, selAccountStatus, "✓ claimed")

	a.Do(t, "quick play", clickQuickPlay("tag"))
	a.WaitFor(t, `comet.state().room !== ""`)
	room := roomOf(t, a).Room
	b.WaitFor(t, fmt.Sprintf(`document.querySelector('[data-testid="room-item"][data-room-id=%q] [data-testid="room-join"]:not([disabled])')`, room))
	Eval[bool](t, b, fmt.Sprintf(`(document.querySelector('[data-testid="room-item"][data-room-id=%q] [data-testid="room-join"]').click(), true)`, room)) // one step: the list may re-render between a lookup and a click
	b.WaitFor(t, fmt.Sprintf(`comet.state().room === %q && comet.state().you > 0`, room))
	// Both finish the match: the result lists them.
	for _, p := range []*Page{a, b} {
		p.SetTimeout(30 * time.Second)
		p.WaitVisible(t, selResult)
		p.WaitFor(t, `["Wren", "Guesty"].every(n => [...document.querySelectorAll('[data-testid="result-row"]')].some(r => r.textContent.includes(n)))`)
	}
	a.Do(t, "leave", chromedp.Click(chromedp.CSS(`[data-testid="leave-room"]`)))
	a.WaitVisible(t, `[data-testid="lobby"]`)
	Eval[bool](t, a, `document.querySelector('[data-testid="leaderboard-tab"][data-mode="tag"]').click(), true`)
	for _, period := range []string{"week", "all"} {
		Eval[bool](t, a, fmt.Sprintf(`document.querySelector('[data-testid="leaderboard"] tbody').replaceChildren(),
			document.querySelector('[data-testid="leaderboard-period"][data-period=%q]').click(), true`, period))
		a.WaitFor(t, boardRows+`.some(r => r.includes("Wren"))`)
		if rows := Eval[[]string](t, a, boardRows); slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, "Guesty") }) {
			t.Fatalf("%s board %q: want Wren and not the guest", period, rows)
		}
	}
	noErrors(t, a, b)
}
