package browsertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"

	"comet/internal/nginxtest"
)

// Nine tabs of one Chromium through nginx with docs/deploy/nginx.conf: TLS
// and HTTP/2 to the browser, HTTP/1.1 to Comet. With ?transport=multipart
// forced every tab holds an HTTP stream — on plain HTTP/1.1 six of them
// fill the browser's six connections per host — and over HTTP/2 all nine
// load, connect on the one connection's streams and chat.
func TestNineTabsThroughNginxHTTP2(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	ngx := nginxtest.StartDeployed(t, strings.TrimPrefix(s.URL, "http://"))
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
		// The test's certificate is self-signed; a host's is not.
		p.Do(t, "accept the test certificate", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true})
			return err
		}))
		p.Navigate(t, ngx.HTTPS+"/?transport=multipart")
		p.WaitFor(t, `window.comet && comet.client.status === "open"`)
		if got := Eval[string](t, p, `comet.client.transport`); got != "multipart" {
			t.Fatalf("tab %d on %s, want the forced multipart", i+1, got)
		}
		if got := Eval[string](t, p, `performance.getEntriesByType("navigation")[0].nextHopProtocol`); got != "h2" {
			t.Fatalf("tab %d loaded over %q, want h2", i+1, got)
		}
	}
	say(t, tabs[n-1], "nine tabs over h2")
	for i, p := range tabs {
		waitChat(t, p, "nine tabs over h2")
		// Still on the forced multipart, and open: a tab may be between two
		// attempts at this instant (a shared stream reopened when a tab
		// joined; a heartbeat late on a loaded machine), never on another
		// transport.
		p.WaitFor(t, `comet.client.transport === "multipart" && comet.client.status === "open"`)
		if r := Eval[int](t, p, `comet.client.stats.reconnects`); r > 0 {
			t.Logf("tab %d: %d reconnects", i+1, r)
		}
		if errs := appErrors(p); len(errs) > 0 {
			t.Errorf("tab %d errors: %v", i+1, errs)
		}
	}
}
