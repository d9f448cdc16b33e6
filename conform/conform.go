// Package conform checks a Comet server against docs/PROTOCOL.md over real
// HTTP (Run, behind `comet conform --base URL`), and serves a scripted mock
// server that tells a client author what their client got wrong (Serve).
package conform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Config says which server to check and how.
type Config struct {
	Base    string         // the server's base URL, e.g. http://localhost:8080
	Out     io.Writer      // where the PASS/FAIL lines and the summary go
	Seed    uint64         // seeds the random cut offsets; 0 picks one (printed)
	Timeout time.Duration  // each check's deadline beyond the heartbeat it may wait for (default 30 s)
	Only    *regexp.Regexp // runs only the checks whose names match; nil runs all
	Client  *http.Client   // nil uses a client without compression or redirects
	// AdminToken, when the server's, adds the moderation checks (kick, ban).
	AdminToken string
}

// Result is one check's outcome.
type Result struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

// Report is a run's outcome: each check in order, and the counts.
type Report struct {
	Results        []Result
	Passed, Failed int
}

// check is one statement of PROTOCOL.md put to the server: cite is the
// statement it proves, shown as the detail of a pass.
type check struct {
	name  string
	cite  string
	quiet bool // needs the server quiet (heartbeats): runs first, with the other quiet checks only
	run   func(t *T)
}

// T is a running check: its deadline, its failures and what to clean up.
type T struct {
	ctx     context.Context
	c       *runner
	name    string
	rnd     *rand.Rand
	mu      sync.Mutex
	fails   []string
	cleanup []func()
}

type failNow struct{}

// Errorf records a failure and lets the check go on.
func (t *T) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.fails = append(t.fails, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Fatalf records a failure and ends the check.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(failNow{})
}

func (t *T) failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.fails) > 0
}

// Cleanup runs fn when the check ends, newest first.
func (t *T) Cleanup(fn func()) {
	t.mu.Lock()
	t.cleanup = append(t.cleanup, fn)
	t.mu.Unlock()
}

// Context is the check's context; it ends at the check's deadline.
func (t *T) Context() context.Context { return t.ctx }

type runner struct {
	cfg    Config
	client *http.Client
	hb     time.Duration // the server's heartbeat_ms, learnt from a first session
}

// Run puts every check to cfg.Base, prints `PASS|FAIL name — detail` per
// check and a final `N passed, M failed`, and returns the report.
func Run(ctx context.Context, cfg Config) Report {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	cfg.Base = strings.TrimRight(cfg.Base, "/")
	r := &runner{cfg: cfg, client: cfg.Client}
	if r.client == nil {
		r.client = newClient()
	}
	fmt.Fprintf(cfg.Out, "conform %s (seed %d)\n", cfg.Base, cfg.Seed)
	var rep Report
	checks := allChecks()
	if cfg.AdminToken != "" {
		checks = append(checks, adminChecks()...)
	}
	if cfg.Only != nil {
		kept := checks[:0]
		for _, c := range checks {
			if cfg.Only.MatchString(c.name) {
				kept = append(kept, c)
			}
		}
		checks = kept
	}
	r.hb = r.learnHeartbeat(ctx)
	results := make([]Result, len(checks))
	// Quiet checks (heartbeats need silence) run together first; the others
	// then run a few at a time, printed in their declared order.
	var quiet, loud []int
	for i, c := range checks {
		if c.quiet {
			quiet = append(quiet, i)
		} else {
			loud = append(loud, i)
		}
	}
	runSet := func(idx []int, par int) {
		sem := make(chan struct{}, par)
		var wg sync.WaitGroup
		for _, i := range idx {
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				results[i] = r.runOne(ctx, checks[i], uint64(i))
			}(i)
		}
		wg.Wait()
	}
	runSet(quiet, len(quiet)+1)
	runSet(loud, 3)
	for _, res := range results {
		word := "PASS"
		if res.Pass {
			rep.Passed++
		} else {
			word = "FAIL"
			rep.Failed++
		}
		fmt.Fprintf(cfg.Out, "%s %s — %s\n", word, res.Name, res.Detail)
	}
	rep.Results = results
	fmt.Fprintf(cfg.Out, "%d passed, %d failed\n", rep.Passed, rep.Failed)
	return rep
}

// learnHeartbeat opens one session to read heartbeat_ms (25 s when the
// server cannot be reached; the checks then fail on their own).
func (r *runner) learnHeartbeat(ctx context.Context) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, _, err := r.newSession(ctx, "", "")
	if err != nil || s.HeartbeatMS <= 0 {
		return 25 * time.Second
	}
	return time.Duration(s.HeartbeatMS) * time.Millisecond
}

// budget is a check's deadline: the configured timeout plus four heartbeats,
// so a server with long heartbeats is given time to send them.
func (r *runner) budget() time.Duration { return r.cfg.Timeout + 4*r.hb }

func (r *runner) runOne(ctx context.Context, c check, i uint64) (res Result) {
	res.Name = c.name
	cctx, cancel := context.WithTimeout(ctx, r.budget())
	defer cancel()
	t := &T{ctx: cctx, c: r, name: c.name, rnd: rand.New(rand.NewPCG(r.cfg.Seed, i))}
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(failNow); !ok {
					t.Errorf("check panicked: %v\n%s", p, debug.Stack())
				}
			}
		}()
		c.run(t)
	}()
	if cctx.Err() != nil && errors.Is(cctx.Err(), context.DeadlineExceeded) && len(t.fails) == 0 {
		t.Errorf("deadline of %s passed", r.budget())
	}
	// Cleanups (leaving rooms, closing streams) get a short deadline of their own.
	clean, cancelClean := context.WithTimeout(ctx, 5*time.Second)
	defer cancelClean()
	t.ctx = clean
	for i := len(t.cleanup) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if p := recover(); p != nil {
					if _, ok := p.(failNow); !ok {
						t.Errorf("cleanup panicked: %v", p)
					}
				}
			}()
			t.cleanup[i]()
		}()
	}
	if len(t.fails) == 0 {
		res.Pass, res.Detail = true, c.cite
		return res
	}
	// One line per check, whatever the server put in its bodies.
	res.Detail = strings.Join(strings.Fields(strings.Join(t.fails, "; ")), " ")
	return res
}
