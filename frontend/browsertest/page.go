package browsertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page is one tab in its own browser context: two pages never share cookies
// or storage, like two separate browsers.
type Page struct {
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration

	mu     sync.Mutex
	errors []string
}

// NewPage opens url in a new, isolated browser context and waits for its
// load event. The tab closes when the test ends.
func (b *Browser) NewPage(t testing.TB, url string) *Page {
	t.Helper()
	p := b.OpenPage(t)
	p.Navigate(t, url)
	return p
}

// OpenPage opens a blank page in a new, isolated browser context, with error
// capture running, so a test can set things up before navigating.
func (b *Browser) OpenPage(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	p := &Page{ctx: ctx, cancel: cancel, timeout: b.timeout}
	t.Cleanup(cancel)
	// Creates the tab; like the browser, bounded from outside.
	if err := within(p.timeout, func() error { return chromedp.Do(ctx) }); err != nil {
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
				p.record(m)
			}
		}
	}()
	return p
}

func (p *Page) record(m chromedp.ConsoleMessage) {
	s := string(m.Type) + ": " + m.Text
	if m.Source != "" {
		s = "[" + m.Source + "] " + s
	}
	if m.URL != "" {
		s += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
	}
	p.mu.Lock()
	p.errors = append(p.errors, s)
	p.mu.Unlock()
}

// Errors returns what the page reported as errors so far: console.error
// calls, uncaught exceptions and unhandled rejections, and browser log errors
// (failed loads, CSP violations).
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

// SetTimeout changes the bound of this page's steps.
func (p *Page) SetTimeout(d time.Duration) { p.timeout = d }

// Context returns the page's chromedp context, for actions the helpers do not
// cover. Bound each call with context.WithTimeout.
func (p *Page) Context() context.Context { return p.ctx }

// Close closes the tab and its browser context now.
func (p *Page) Close() { p.cancel() }

// Do runs chromedp actions on the page within the step timeout.
func (p *Page) Do(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browsertest: %s: %v%s", what, err, p.errorSuffix())
	}
}

// Navigate loads url and waits for its load event.
func (p *Page) Navigate(t testing.TB, url string) {
	t.Helper()
	p.Do(t, "navigate to "+url, chromedp.Navigate(url))
}

// WaitVisible waits until an element matching the CSS selector is visible.
func (p *Page) WaitVisible(t testing.TB, sel string) {
	t.Helper()
	p.Do(t, "wait for "+sel+" to be visible", chromedp.WaitVisible(chromedp.CSS(sel)))
}

// WaitNotVisible waits until the element matching the CSS selector is hidden.
func (p *Page) WaitNotVisible(t testing.TB, sel string) {
	t.Helper()
	p.Do(t, "wait for "+sel+" to be hidden", chromedp.WaitNotVisible(chromedp.CSS(sel)))
}

// Text returns the text content of the first element matching sel.
func (p *Page) Text(t testing.TB, sel string) string {
	t.Helper()
	return Eval[string](t, p, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) throw new Error("no element " + %q); return e.textContent; })()`, sel, sel))
}

// WaitFor polls the JavaScript expression until it is truthy, failing after
// the step timeout with the expression and the page's errors.
func (p *Page) WaitFor(t testing.TB, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("browsertest: waiting for %s: %v%s", expr, err, p.errorSuffix())
	}
}

// WaitForOr is WaitFor that, when expr never holds, also reports what the
// JavaScript expression diag evaluates to then (a page-side log a test
// recorded), so a rare failure says what the page did.
func (p *Page) WaitForOr(t testing.TB, expr, diag string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		dctx, dcancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer dcancel()
		got, derr := chromedp.Run(dctx, chromedp.Evaluate[any](diag))
		if derr != nil {
			got = "diagnostic failed: " + derr.Error()
		}
		t.Fatalf("browsertest: waiting for %s: %v%s\n%s: %v", expr, err, p.errorSuffix(), diag, got)
	}
}

// Screenshot saves a PNG of the viewport to path.
func (p *Page) Screenshot(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("browsertest: screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browsertest: save screenshot: %v", err)
	}
}

func (p *Page) errorSuffix() string {
	errs := p.Errors()
	if len(errs) == 0 {
		return ""
	}
	return "\npage errors:\n  " + strings.Join(errs, "\n  ")
}

// Eval evaluates a JavaScript expression on the page, awaiting a promise, and
// decodes its value (JSON) into T.
func Eval[T any](t testing.TB, p *Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browsertest: eval %s: %v%s", expr, err, p.errorSuffix())
	}
	return v
}
