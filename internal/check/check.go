// Package check holds the test helpers for asynchronous code that every
// package's tests share: one poll for a condition that must come to hold, and
// one bounded channel receive. To show something did not happen, a test uses
// a fence on an ordered stream instead (see server's fence helper), never a sleep.
package check

import (
	"testing"
	"time"
)

// Every is how often For calls its function again.
const Every = 10 * time.Millisecond

// For polls fn until it returns nil, failing t with fn's last error once
// timeout has passed (as nats-server's checkFor).
func For(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(Every)
	}
}

// Recv returns the next value from c, failing t if none comes within timeout;
// ok is false when c was closed. what names the value in the failure.
func Recv[T any](t testing.TB, c <-chan T, timeout time.Duration, what string) (v T, ok bool) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v, ok = <-c:
		return v, ok
	case <-timer.C:
		t.Fatalf("no %s within %v", what, timeout)
		return v, false
	}
}
