// Package browsertest drives a real headless Chromium from go test, through
// chromedp: one browser process per New, one isolated browser context (own
// cookies, storage and cache) per page, console errors and uncaught
// exceptions captured, and a timeout on every step so a hung browser fails the
// test instead of hanging it.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultTimeout bounds each step (start, navigation, wait, evaluation).
const DefaultTimeout = 15 * time.Second

// DefaultChrome is where the Debian package chromium installs the browser.
const DefaultChrome = "/usr/bin/chromium"

// Flags are the browser's command-line switches, besides --user-data-dir
// (a fresh temporary directory) and the DevTools pipe that chromedp adds.
var Flags = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-background-networking",
	"disable-component-update", "disable-sync", "no-first-run",
	"disable-quic", "disable-dev-shm-usage",
}

// ChromePath finds the browser: $CHROME_PATH if set, else DefaultChrome. The
// error says how to install it.
func ChromePath() (string, error) {
	return chromePath(os.Getenv)
}

func chromePath(getenv func(string) string) (string, error) {
	if p := getenv("CHROME_PATH"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("CHROME_PATH=%s is not an executable: %w (install the Debian package chromium: apt-get install chromium)", p, err)
		}
		return p, nil
	}
	if _, err := exec.LookPath(DefaultChrome); err != nil {
		return "", fmt.Errorf("no browser at %s: install the Debian package chromium (apt-get install chromium) or set CHROME_PATH: %w", DefaultChrome, err)
	}
	return DefaultChrome, nil
}

// Browser is one headless Chromium process. Pages from it are independent
// browsing profiles; it is safe to open and drive pages from parallel tests.
type Browser struct {
	ctx     context.Context // the chromedp context that owns the browser
	close   func()
	timeout time.Duration
}

// Option configures Launch and New.
type Option func(*Browser)

// WithTimeout sets the default bound of each page step (DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(b *Browser) { b.timeout = d } }

// StartTimeout bounds starting the browser.
const StartTimeout = 30 * time.Second

// New starts Chromium and stops it when the test ends. It fails the test if
// no browser is installed or it does not start.
func New(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	b, err := Launch(opts...)
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// Launch starts Chromium for use outside one test (a TestMain that shares a
// browser between tests); the caller must Close it.
func Launch(opts ...Option) (*Browser, error) {
	path, err := ChromePath()
	if err != nil {
		return nil, err
	}
	b := &Browser{timeout: DefaultTimeout}
	for _, o := range opts {
		o(b)
	}
	allocOpts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.WindowSize(1280, 800)}
	for _, f := range Flags {
		allocOpts = append(allocOpts, chromedp.Flag(f, true))
	}
	// chromedp makes and removes a temporary --user-data-dir, and waits for
	// the process to exit on cancel, so nothing outlives Close.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	b.close = func() {
		cancel()
		cancelAlloc()
	}
	// The first Do binds the browser's life to ctx, so it gets no deadline;
	// the start is bounded from here instead.
	if err := within(StartTimeout, func() error { return chromedp.Do(ctx) }); err != nil {
		b.close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return b, nil
}

// Close stops the browser and waits for its processes to exit.
func (b *Browser) Close() { b.close() }

var errTimeout = errors.New("timed out")

// within runs fn and gives up after d (fn keeps running; its context is
// cancelled by the caller's cleanup).
func within(d time.Duration, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("%w after %v", errTimeout, d)
	}
}
