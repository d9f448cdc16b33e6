package browsertest

import (
	"flag"
	"os"
	"sync"
	"testing"
)

// One browser serves every test of the package (each page is its own browser
// context); starting Chromium per test would dominate the run time.
var shared struct {
	once sync.Once
	b    *Browser
	err  error
}

func testBrowser(t testing.TB) *Browser {
	t.Helper()
	shared.once.Do(func() { shared.b, shared.err = Launch() })
	if shared.err != nil {
		t.Fatalf("browsertest: %v", shared.err)
	}
	return shared.b
}

func TestMain(m *testing.M) {
	// Most of a browser test is waiting on timers (backoff, heartbeats), not
	// CPU, so run more pages at once than the default of GOMAXPROCS; an
	// explicit -parallel still wins.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", "6")
	}
	code := m.Run()
	if shared.b != nil {
		shared.b.Close()
	}
	os.Exit(code)
}
