package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"comet/assets"
)

// pages serves fixed bodies by path, with the page CSP on HTML.
func pages(t *testing.T, files map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, ".js"):
			w.Header().Set("Content-Type", "text/javascript")
		default:
			w.Header().Set("Content-Security-Policy", assets.ContentSecurityPolicy)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPageCapturesErrors(t *testing.T) {
	t.Parallel()
	srv := pages(t, map[string]string{
		"/": `<!DOCTYPE html><html><head><script src="/bad.js"></script>` +
			`<script>window.inlineRan = true</script></head>` +
			`<body><button onclick="x()">b</button><p id="ok">ready</p></body></html>`,
		"/bad.js": `console.error("boom", 42);
setTimeout(() => { throw new Error("kaboom"); });
Promise.reject(new Error("rejected"));`,
		"/clean": `<!DOCTYPE html><html><body><h1>fine</h1><p>a page for the screenshot</p></body></html>`,
	})
	b := testBrowser(t)

	p := b.NewPage(t, srv.URL+"/")
	p.WaitFor(t, "document.readyState === 'complete'")
	want := []string{
		"error: boom 42",
		"exception: Uncaught Error: kaboom",
		"exception: Uncaught (in promise) Error: rejected",
		"Content Security Policy", // the inline script was refused
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		errs := strings.Join(p.Errors(), "\n")
		missing := ""
		for _, w := range want {
			if !strings.Contains(errs, w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Errors() lacks %q; got:\n%s", missing, errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ran := Eval[bool](t, p, "window.inlineRan === true"); ran {
		t.Error("inline script ran despite the CSP")
	}

	clean := b.NewPage(t, srv.URL+"/clean")
	clean.WaitVisible(t, "p")
	if errs := clean.Errors(); len(errs) != 0 {
		t.Errorf("clean page: errors %v (pages must not share error logs)", errs)
	}
	path := t.TempDir() + "/clean.png"
	clean.Screenshot(t, path)
	checkPNG(t, path)
}

func TestPagesAreSeparateBrowsers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			http.SetCookie(w, &http.Cookie{Name: "who", Value: r.URL.Query().Get("as"), Path: "/", HttpOnly: true})
		}
		who := "nobody"
		if c, err := r.Cookie("who"); err == nil {
			who = c.Value
		}
		fmt.Fprintf(w, `<!DOCTYPE html><p id="who">%s</p>`, who)
	}))
	t.Cleanup(srv.Close)
	b := testBrowser(t)
	ada := b.NewPage(t, srv.URL+"/login?as=ada")
	other := b.NewPage(t, srv.URL+"/")
	ada.Navigate(t, srv.URL+"/")
	for _, c := range []struct {
		p    *Page
		want string
	}{{ada, "ada"}, {other, "nobody"}} {
		if got := c.p.Text(t, "#who"); got != c.want {
			t.Errorf("cookie seen = %q, want %q", got, c.want)
		}
	}
}

// fatalRecorder stands in for a test so a helper's Fatalf can be observed.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func TestWaitsFailInsteadOfHanging(t *testing.T) {
	t.Parallel()
	srv := pages(t, map[string]string{"/": `<!DOCTYPE html><p id="here" hidden>x</p>`})
	p := testBrowser(t).NewPage(t, srv.URL+"/")
	p.SetTimeout(500 * time.Millisecond)
	tests := []struct {
		name string
		run  func(tb testing.TB)
		want string
	}{
		{"WaitFor", func(tb testing.TB) { p.WaitFor(tb, "window.never") }, "waiting for window.never"},
		{"WaitVisible", func(tb testing.TB) { p.WaitVisible(tb, "#here") }, "#here to be visible"},
		{"Eval of a promise that never settles", func(tb testing.TB) { Eval[int](tb, p, "new Promise(() => {})") }, "eval"},
		{"Eval that throws", func(tb testing.TB) { Eval[int](tb, p, "(() => { throw new Error('nope') })()") }, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fatalRecorder{TB: t}
			start := time.Now()
			done := make(chan struct{})
			go func() {
				defer close(done)
				tt.run(rec)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("helper hung past its timeout")
			}
			rec.mu.Lock()
			msg := rec.msg
			rec.mu.Unlock()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Fatalf(%q), want a message with %q", msg, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v with a 500ms timeout", d)
			}
		})
	}
}
