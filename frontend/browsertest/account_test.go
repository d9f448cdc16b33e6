package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	selAccountStatus = `[data-testid="account-status"]`
	selClaimMessage  = `[data-testid="claim-message"]`
	selLoginMessage  = `[data-testid="login-message"]`
)

// playerID reads the page's player id from its Comet session.
func playerID(t *testing.T, p *Page) string {
	t.Helper()
	return Eval[string](t, p, `comet.client.sessionInfo.player.id`)
}

// typeInto replaces an input's value by typing text into it.
func typeInto(t *testing.T, p *Page, testid, text string) {
	t.Helper()
	sel := fmt.Sprintf(`[data-testid=%q]`, testid)
	Eval[bool](t, p, fmt.Sprintf(`document.querySelector(%q).value = "", true`, sel))
	p.Do(t, "type into "+testid, chromedp.SendKeys(chromedp.CSS(sel), text))
}

func click(t *testing.T, p *Page, testid string) {
	t.Helper()
	p.Do(t, "click "+testid, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid=%q]`, testid))))
}

// waitAcrossLoad polls expr like WaitFor while the page may be navigating:
// an evaluation cut by the navigation is retried until the step timeout.
func waitAcrossLoad(t *testing.T, p *Page, expr string) {
	t.Helper()
	deadline := time.Now().Add(p.timeout)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(p.ctx, deadline)
		_, err = chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingInterval(20*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("browsertest: waiting across a page load for %s: %v%s", expr, err, p.errorSuffix())
}

// waitText waits until the element's text is exactly want, within the
// page's step timeout; a failure names the text last shown.
func waitText(t *testing.T, p *Page, sel, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	expr := fmt.Sprintf(`document.querySelector(%q).textContent === %q`, sel, want)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(0))); err != nil {
		got := Eval[string](t, p, fmt.Sprintf(`document.querySelector(%q).textContent`, sel))
		t.Fatalf("browsertest: %s shows %q, want %q: %v%s", sel, got, want, err, p.errorSuffix())
	}
}

// Page A claims its name (after mismatched passwords are refused inline);
// page B, a separate browser, is refused a wrong password inline, then logs
// in with the name in another case and becomes A's player: same id and name,
// marked claimed. A keeps working, and its lines are B's own.
func TestAccountClaimAndLogin(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	a := openGame(t, s, "")
	b := openGame(t, s, "")
	// Claim and login run bcrypt on the server (cost 10), slow under -race on
	// a busy machine: give the waits on them room.
	a.SetTimeout(45 * time.Second)
	b.SetTimeout(45 * time.Second)
	sidA := Eval[string](t, a, `comet.client.sessionInfo.sid`)
	t.Cleanup(func() {
		if t.Failed() {
			var types []string
			for _, e := range s.faults.received(sidA) {
				types = append(types, e.Type)
			}
			t.Logf("events the server took from A: %v", types)
		}
	})
	setName(t, a, "Ada Lovelace")
	if got := a.Text(t, selAccountStatus); got != "guest" {
		t.Errorf("account status before a claim %q, want guest", got)
	}

	click(t, a, "claim-open")
	a.WaitVisible(t, `[data-testid="claim-password"]`)
	typeInto(t, a, "claim-password", "correct horse")
	typeInto(t, a, "claim-password2", "correct horsE")
	click(t, a, "claim-submit")
	waitText(t, a, selClaimMessage, "the passwords do not match")
	const pw = "ñandú 7 horses" // not ASCII: typed and sent as UTF-8
	typeInto(t, a, "claim-password", pw)
	typeInto(t, a, "claim-password2", pw)
	click(t, a, "claim-submit")
	waitText(t, a, selClaimMessage, `"Ada Lovelace" is yours.`)
	waitText(t, a, selAccountStatus, "✓ claimed")
	if Eval[bool](t, a, `[...document.querySelectorAll('[data-testid="toast"]')].some(e => /password/.test(e.textContent))`) {
		t.Error("a claim message went to a toast")
	}

	idA := playerID(t, a)
	if idB := playerID(t, b); idB == idA {
		t.Fatalf("pages share player %s before login", idA)
	}
	click(t, b, "login-open")
	b.WaitVisible(t, `[data-testid="login-password"]`)
	typeInto(t, b, "login-name", "  ada LOVELACE ")
	typeInto(t, b, "login-password", "wrong password")
	click(t, b, "login-submit")
	waitText(t, b, selLoginMessage, "wrong name or password")
	if got := b.Text(t, selAccountStatus); got != "guest" {
		t.Errorf("B after a refused login %q, want guest", got)
	}

	typeInto(t, b, "login-password", pw)
	Eval[bool](t, b, `window.__beforeLogin = true`)
	click(t, b, "login-submit")
	// The page starts again as A's player.
	waitAcrossLoad(t, b, `!window.__beforeLogin && window.comet && comet.client.status === "open" && comet.client.sessionInfo`)
	b.WaitFor(t, `document.querySelector('[data-testid="name-input"]').value === "Ada Lovelace"`)
	if idB := playerID(t, b); idB != idA {
		t.Errorf("B is player %s after login, want A's %s", idB, idA)
	}
	waitText(t, b, selAccountStatus, "✓ claimed")
	if got := Eval[string](t, b, `document.querySelector('[data-testid="account-status"]').dataset.claimed`); got != "true" {
		t.Errorf("B's account-status data-claimed %q", got)
	}

	// A still works, as the same player: its line shows on B as B's own.
	say(t, a, "two browsers, one me")
	waitChat(t, b, "two browsers, one me")
	if !Eval[bool](t, b, `[...document.querySelectorAll('[data-testid="chat-line"].mine [data-testid="chat-text"]')].some(e => e.textContent === "two browsers, one me")`) {
		t.Error("A's line is not B's own after login")
	}
	if got := a.Text(t, selAccountStatus); got != "✓ claimed" {
		t.Errorf("A's account status %q after B logged in", got)
	}
	click(t, b, "claim-open") // the pop-over, for a look at the artifact
	b.WaitVisible(t, `[data-testid="claim-form"]`)
	path := artifact(t, "account.png")
	b.Screenshot(t, path)
	checkPNG(t, path)
	noErrors(t, a)
	if errs := appErrors(b); len(errs) > 0 {
		t.Errorf("page B errors: %v", errs)
	}
}
