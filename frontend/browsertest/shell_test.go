package browsertest

import (
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"comet/assets"
	"comet/frontend"
)

const (
	selCanvas    = `[data-testid="game-canvas"]`
	selTransport = `[data-testid="hud-transport"]`
	selPing      = `[data-testid="hud-ping"]`
	selBanner    = `[data-testid="reconnect-banner"]`
)

// shellSite serves the real page shell and app bundle, with the protocol
// server behind /comet/ (nil: no Comet endpoints at all).
func shellSite(t *testing.T, proto *protoServer) string {
	t.Helper()
	b := bundle(t, frontend.AppEntry, frontend.AppName)
	page := func(w http.ResponseWriter, r *http.Request) {
		if err := assets.Page(w, assets.PageData{Script: b.Script, Style: b.Style, Version: "test"}); err != nil {
			t.Error(err)
		}
	}
	return newSite(t, b, page, proto).URL
}

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

func TestPageShellTransports(t *testing.T) {
	t.Parallel()
	proto := newProtoServer()
	url := shellSite(t, proto)
	b := testBrowser(t)
	for _, tc := range []struct{ query, transport string }{
		// Each transport is exercised in client_test.go; here, the shell with
		// the first choice and with two forced ones.
		{"", "multipart"},
		{"?transport=iframe", "iframe"},
		{"?transport=poll", "poll"},
	} {
		t.Run(tc.transport+tc.query, func(t *testing.T) {
			t.Parallel()
			p := b.NewPage(t, url+"/"+tc.query)
			p.WaitVisible(t, selCanvas)
			p.WaitFor(t, `window.comet && comet.client.status === "open"`)
			if got := p.Text(t, selTransport); got != tc.transport {
				t.Errorf("hud-transport = %q, want %q", got, tc.transport)
			}
			// The RTT comes from sys.ping/sys.pong through the server.
			p.WaitFor(t, `/^\d+$/.test(document.querySelector('`+selPing+`').textContent)`)
			if hidden := Eval[bool](t, p, `document.querySelector('`+selBanner+`').hidden`); !hidden {
				t.Error("reconnect banner visible while open")
			}
			s := Eval[canvasStats](t, p, readCanvas)
			if s.Width < 100 || s.Lit < s.Samples/2 || s.Colors < 3 {
				t.Errorf("canvas not drawn: %+v", s)
			}
			if errs := p.Errors(); len(errs) > 0 {
				t.Errorf("page errors: %v", errs)
			}
		})
	}
}

func TestPageShellDrawsAtDevicePixelRatio(t *testing.T) {
	t.Parallel()
	url := shellSite(t, newProtoServer())
	p := testBrowser(t).OpenPage(t)
	// Headless Chromium applies an emulated ratio to new documents but fires
	// no resize for it, so set it before loading; then resize the window.
	for _, c := range []struct {
		w, h   int64
		scale  float64
		reload bool
	}{
		{640, 400, 2, true},
		{800, 500, 2, false}, // resize handling
		{700, 450, 1.5, true},
		{500, 300, 1.5, false},
	} {
		p.Do(t, "emulate viewport", chromedp.EmulateViewport(c.w, c.h, chromedp.EmulateScale(c.scale)))
		if c.reload {
			p.Navigate(t, url+"/")
		}
		want := fmt.Sprintf("%d", int(float64(c.w)*c.scale+0.5))
		p.WaitFor(t, `document.querySelector('`+selCanvas+`').width === `+want)
		s := Eval[canvasStats](t, p, readCanvas)
		if s.DPR != c.scale || s.Height != int(float64(c.h)*c.scale+0.5) || s.ClientWidth != float64(c.w) || s.Colors < 3 {
			t.Errorf("%dx%d@%v: canvas %+v, want %sx%d device pixels, drawn", c.w, c.h, c.scale, s, want, int(float64(c.h)*c.scale+0.5))
		}
	}
	path := artifact(t, "shell.png")
	p.Screenshot(t, path)
	checkPNG(t, path)
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

func TestPageShellReconnectBanner(t *testing.T) {
	t.Parallel()
	proto := newProtoServer()
	url := shellSite(t, proto)
	p := testBrowser(t).NewPage(t, url+"/?transport=multipart")
	p.WaitFor(t, `window.comet && comet.client.status === "open"`)
	if hidden := Eval[bool](t, p, `document.querySelector('`+selBanner+`').hidden`); !hidden {
		t.Fatal("banner visible while open")
	}
	proto.set(func(ps *protoServer) { ps.down = true; ps.cutGen++ })
	p.WaitVisible(t, selBanner)
	proto.set(func(ps *protoServer) { ps.down = false })
	p.WaitNotVisible(t, selBanner)
	p.WaitFor(t, `comet.client.status === "open"`)
}

// Without a Comet server the page still draws, says it is connecting, and
// keeps retrying (the retries' failed loads are the only errors).
func TestPageShellWithoutServer(t *testing.T) {
	t.Parallel()
	url := shellSite(t, nil)
	p := testBrowser(t).NewPage(t, url+"/")
	p.WaitVisible(t, selCanvas)
	p.WaitFor(t, `window.comet && comet.client.status === "connecting"`)
	s := Eval[canvasStats](t, p, readCanvas)
	if s.Lit < s.Samples/2 || s.Colors < 3 {
		t.Errorf("canvas not drawn while connecting: %+v", s)
	}
	if hidden := Eval[bool](t, p, `document.querySelector('`+selBanner+`').hidden`); !hidden {
		t.Error("reconnect banner shown before the first connection")
	}
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
