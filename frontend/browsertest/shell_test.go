package browsertest

import (
	"context"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

var update = flag.Bool("update", false, "copy the lobby and match screenshots to docs/screenshots")

const (
	selCanvas    = `[data-testid="game-canvas"]`
	selTransport = `[data-testid="hud-transport"]`
	selPing      = `[data-testid="hud-ping"]`
	selBanner    = `[data-testid="reconnect-banner"]`
	selChatInput = `[data-testid="chat-input"]`
	selResult    = `[data-testid="match-result"]`
)

// artifact names a file for a test's screenshots: under $BROWSERTEST_ARTIFACTS
// if set (to look at them), else in the test's temp dir.
func artifact(t *testing.T, name string) string {
	dir := os.Getenv("BROWSERTEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// screenshot saves the viewport as an artifact, and with -update also as
// docs/screenshots/<name>.
func screenshot(t *testing.T, p *Page, name string) {
	t.Helper()
	path := artifact(t, name)
	p.Screenshot(t, path)
	checkPNG(t, path)
	if *update && name != "result.png" { // the docs keep the lobby, a match and a phone
		copyFile(t, path, filepath.Join("..", "..", "docs", "screenshots", name))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// openGame loads the game page with query and waits until it is connected and
// knows its player.
func openGame(t *testing.T, s *site, query string) *Page {
	t.Helper()
	p := testBrowser(t).NewPage(t, s.URL+"/"+query)
	p.WaitFor(t, `window.comet && comet.client.status === "open" && document.querySelector('[data-testid="name-input"]').value !== ""`)
	return p
}

func noErrors(t *testing.T, pages ...*Page) {
	t.Helper()
	for i, p := range pages {
		if errs := p.Errors(); len(errs) > 0 {
			t.Errorf("page %d errors: %v", i, errs)
		}
	}
}

// appErrors are the page's errors other than failed network loads, which a
// test that cuts connections causes on purpose.
func appErrors(p *Page) []string {
	var out []string
	for _, e := range p.Errors() {
		if !strings.HasPrefix(e, "[network] ") {
			out = append(out, e)
		}
	}
	return out
}

// setName types a name and saves it, and waits for the server to confirm.
func setName(t *testing.T, p *Page, name string) {
	t.Helper()
	Eval[bool](t, p, `document.querySelector('[data-testid="name-input"]').value = "", true`)
	p.Do(t, "set name",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="name-input"]`), name),
		chromedp.Click(chromedp.CSS(`[data-testid="name-save"]`)))
	p.WaitFor(t, fmt.Sprintf(`document.querySelector('[data-testid="name-input"]').value === %q && [...document.querySelectorAll('[data-testid="toast"]')].some(e => e.textContent.includes(%q))`, name, name))
}

// say types a chat line into the active tab and presses Enter.
func say(t *testing.T, p *Page, text string) {
	t.Helper()
	// The text is set, not typed key by key (long hostile strings took 150
	// CDP round trips); Enter is a real key press, so the app's send path runs.
	p.Do(t, "chat", chromedp.SetValue(chromedp.CSS(selChatInput), text), chromedp.SendKeys(chromedp.CSS(selChatInput), "\r"))
}

// waitChat waits until the chat log shows a line whose text is exactly text.
func waitChat(t *testing.T, p *Page, text string) {
	t.Helper()
	p.WaitFor(t, fmt.Sprintf(`[...document.querySelectorAll('[data-testid="chat-log"] [data-testid="chat-line"] [data-testid="chat-text"]')].some(e => e.textContent === %q)`, text))
}

// key presses (down) or releases (up) a key through the browser's input pipeline.
func key(t *testing.T, p *Page, code, k string, vk int64, down bool) {
	t.Helper()
	typ := input.DispatchKeyEventTypeKeyUp
	if down {
		typ = input.DispatchKeyEventTypeKeyDown
	}
	p.Do(t, "key "+code, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Code: code, Key: k, WindowsVirtualKeyCode: vk})
		return err
	}))
}

type canvasStats struct {
	Width, Height int     // backing store, device pixels
	ClientWidth   float64 // CSS pixels
	DPR           float64
	Colors        int // distinct colours in a sample
	Lit           int // sampled pixels that are not black
	Samples       int
}

const readCanvas = `(() => {
  const c = document.querySelector('[data-testid="game-canvas"]');
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const colors = new Set();
  let lit = 0, samples = 0;
  for (let i = 0; i < d.length; i += 4 * 31) {
    samples++;
    colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    if (d[i] + d[i + 1] + d[i + 2] > 0) lit++;
  }
  return { width: c.width, height: c.height, clientWidth: c.getBoundingClientRect().width,
    dpr: devicePixelRatio, colors: colors.size, lit, samples };
})()`

// For each transport, forced with ?transport=: the HUD names it, a ping gets
// its pong (the HUD shows a number), and a lobby chat line from a second page
// reaches the first.
func TestPageEachTransport(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	b := openGame(t, s, "") // one sender for every transport's page
	var mu sync.Mutex
	for _, tr := range allTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			a := openGame(t, s, "?transport="+tr)
			if got := a.Text(t, selTransport); got != tr {
				t.Errorf("hud-transport = %q, want %q", got, tr)
			}
			a.WaitFor(t, `/^\d+$/.test(document.querySelector('`+selPing+`').textContent)`)
			if hidden := Eval[bool](t, a, `document.querySelector('`+selBanner+`').hidden`); !hidden {
				t.Error("reconnect banner visible while open")
			}
			line := "hello over " + tr
			mu.Lock()
			say(t, b, line)
			mu.Unlock()
			waitChat(t, a, line)
			noErrors(t, a)
		})
	}
	t.Cleanup(func() { noErrors(t, b) })
}

// The canvas backing store follows its CSS size times devicePixelRatio, and
// redraws on resize.
func TestPageCanvasDevicePixelRatio(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	p := testBrowser(t).OpenPage(t)
	// Headless Chromium applies an emulated ratio to new documents but fires
	// no resize for it, so set it before loading; then resize the window.
	p.Do(t, "emulate viewport", chromedp.EmulateViewport(1000, 640, chromedp.EmulateScale(2)))
	p.Navigate(t, s.URL+"/")
	p.WaitFor(t, `window.comet && comet.client.status === "open"`)
	p.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="snake"]`)))
	p.WaitVisible(t, selCanvas)
	p.WaitFor(t, `comet.state().tick >= 0`)
	for _, c := range []struct {
		w, h  int64
		scale float64
	}{{1000, 640, 2}, {1200, 700, 2}, {1100, 600, 1.5}} {
		p.Do(t, "emulate viewport", chromedp.EmulateViewport(c.w, c.h, chromedp.EmulateScale(c.scale)))
		p.WaitFor(t, fmt.Sprintf(`(() => { const c = document.querySelector('%s'); const r = c.getBoundingClientRect(); return devicePixelRatio === %v && c.width === Math.round(r.width * %v) && c.height === Math.round(r.height * %v); })()`, selCanvas, c.scale, c.scale, c.scale))
		st := Eval[canvasStats](t, p, readCanvas)
		if st.Colors < 4 || st.Lit < st.Samples/2 {
			t.Errorf("%dx%d@%v: canvas not drawn: %+v", c.w, c.h, c.scale, st)
		}
	}
	noErrors(t, p)
}

// On a phone in portrait, the page is one column: nothing overflows sideways,
// the canvas is as wide as the screen, and touch controls show.
func TestPagePhonePortrait(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	p := testBrowser(t).OpenPage(t)
	p.Do(t, "emulate phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch))
	p.Navigate(t, s.URL+"/")
	p.WaitFor(t, `window.comet && comet.client.status === "open"`)
	p.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="arena"]`)))
	p.WaitVisible(t, selCanvas)
	p.WaitFor(t, `comet.state().tick >= 0`)
	type layout struct {
		ScrollWidth, Inner, Canvas, CanvasH float64
		Touch                               bool
	}
	l := Eval[layout](t, p, `(() => { const c = document.querySelector('`+selCanvas+`').getBoundingClientRect();
	  return { scrollWidth: document.documentElement.scrollWidth, inner: innerWidth, canvas: c.width, canvasH: c.height,
	    touch: !document.querySelector('[data-testid="touch"]').hidden }; })()`)
	if l.ScrollWidth > l.Inner || l.Canvas < l.Inner-40 || l.CanvasH < 300 || !l.Touch {
		t.Errorf("portrait layout %+v: want no sideways overflow, a full-width canvas at least 300 px high, touch controls", l)
	}
	screenshot(t, p, "phone.png")
	noErrors(t, p)
}

// checkPNG decodes a screenshot and checks it is not blank.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	bounds := img.Bounds()
	if bounds.Dx() < 100 || bounds.Dy() < 100 {
		t.Fatalf("%s: %v too small", path, bounds)
	}
	first := img.At(bounds.Min.X, bounds.Min.Y)
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 7 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 7 {
			if img.At(x, y) != first {
				return
			}
		}
	}
	t.Errorf("%s is one flat colour", path)
}
