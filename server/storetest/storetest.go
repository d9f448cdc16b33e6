// Package storetest is the one table of behavioural tests every comet.Store
// must pass: players, tokens, claims, chat, matches and the leaderboard,
// moderation, retention, and concurrent use. A store's own package runs it
// against a real database (a temp SQLite file, a PostgreSQL server).
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"comet"
)

// Open returns a fresh, empty store for one test whose clock is now; the
// store is closed by the test's cleanup (Open registers it).
type Open func(t *testing.T, now func() time.Time) comet.Store

// T0 is where each test's clock starts.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Clock is a settable time source shared by a test and its store.
type Clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

// Now returns the clock's time, then moves it on by the step (0 by default).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Tick makes every Now call move the clock on by step afterwards.
func (c *Clock) Tick(step time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = step
}

// env is what each test gets: the store, its clock and a context with a deadline.
type env struct {
	comet.Store
	clock *Clock
	ctx   context.Context
}

// test is one row of the table.
type test struct {
	name string
	fn   func(t *testing.T, e *env)
}

// tests is the table Run runs; each file of this package adds its rows.
var tests []test

// Run runs every storage test against a fresh store from open, as subtests.
func Run(t *testing.T, open Open) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &Clock{now: T0}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			t.Cleanup(cancel)
			tt.fn(t, &env{Store: open(t, clock.Now), clock: clock, ctx: ctx})
		})
	}
}

// wantCode fails unless err carries the *comet.Error code want ("" for no error).
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	var ce *comet.Error
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.As(err, &ce) || ce.Code != want {
		t.Fatalf("error = %v (code %q), want code %q", err, comet.ErrorCode(err), want)
	}
}

func mustNil(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seedPlayers creates players named "N"+id with tokens "t"+id.
func seedPlayers(t *testing.T, e *env, ids ...string) {
	t.Helper()
	for _, id := range ids {
		mustNil(t, e.CreatePlayer(e.ctx, &comet.Player{ID: id, Name: "N" + id}, []byte("t"+id)))
	}
}

// tokenOwners maps each token to the id PlayerByToken finds, "" for ENOTFOUND.
func tokenOwners(t *testing.T, e *env, tokens ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tok := range tokens {
		p, err := e.PlayerByToken(e.ctx, []byte(tok))
		switch comet.ErrorCode(err) {
		case "":
			out[tok] = p.ID
		case comet.ENOTFOUND:
			out[tok] = ""
		default:
			t.Fatalf("PlayerByToken(%s): %v", tok, err)
		}
	}
	return out
}

// exists reports whether player id is stored.
func exists(t *testing.T, e *env, id string) bool {
	t.Helper()
	_, err := e.PlayerByID(e.ctx, id)
	switch comet.ErrorCode(err) {
	case "":
		return true
	case comet.ENOTFOUND:
		return false
	}
	t.Fatalf("PlayerByID(%s): %v", id, err)
	return false
}
