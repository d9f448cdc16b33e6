package browsertest

import (
	"strings"
	"testing"
)

// TestClientUnits runs the TypeScript unit tests (frontend/src/**/*.test.ts)
// in Chromium, one Go subtest per TypeScript test.
func TestClientUnits(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	p := testBrowser(t).NewPage(t, s.URL+"/t/unit/")
	p.WaitFor(t, "window.__unit")
	type result struct{ Name, Error string }
	results := Eval[[]result](t, p, "window.__unit")
	if len(results) < 30 {
		t.Fatalf("only %d unit tests ran", len(results))
	}
	for _, r := range results {
		t.Run(strings.ReplaceAll(r.Name, " ", "_"), func(t *testing.T) {
			if r.Error != "" {
				t.Error(r.Error)
			}
		})
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
