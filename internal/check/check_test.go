package check

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records a Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	failed atomic.Value // string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed.Store(fmt.Sprintf(format, args...))
	panic(r) // what FailNow's Goexit does: nothing after it runs
}

// run calls f with a recorder and returns what it failed with, "" if nothing.
func run(t *testing.T, f func(tb testing.TB)) string {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != any(r) {
				panic(p)
			}
		}()
		f(r)
	}()
	msg, _ := r.failed.Load().(string)
	return msg
}

func TestFor(t *testing.T) {
	tests := []struct {
		name    string
		holdsAt int // the call from which fn returns nil; 0: never
		wantErr string
	}{
		{"at once", 1, ""},
		{"after a few polls", 4, ""},
		{"never", 0, "after 50ms: not yet (call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got := run(t, func(tb testing.TB) {
				For(tb, 50*time.Millisecond, func() error {
					calls++
					if tt.holdsAt != 0 && calls >= tt.holdsAt {
						return nil
					}
					return fmt.Errorf("not yet (call %d)", calls)
				})
			})
			if !strings.Contains(got, tt.wantErr) || (tt.wantErr == "") != (got == "") {
				t.Fatalf("failure %q, want %q", got, tt.wantErr)
			}
			if tt.holdsAt != 0 && calls != tt.holdsAt {
				t.Fatalf("%d calls, want %d: For polled after the condition held", calls, tt.holdsAt)
			}
		})
	}
}

func TestRecv(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(c chan int)
		want    int
		wantOK  bool
		wantErr string
	}{
		{"a value", func(c chan int) { c <- 7 }, 7, true, ""},
		{"a value sent later", func(c chan int) {
			go func() {
				time.Sleep(5 * time.Millisecond) // pacing, not an assertion: it comes after Recv waits
				c <- 8
			}()
		}, 8, true, ""},
		{"closed", func(c chan int) { close(c) }, 0, false, ""},
		{"nothing", func(chan int) {}, 0, false, "no the answer within 30ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := make(chan int, 1)
			tt.prepare(c)
			var v int
			var ok bool
			got := run(t, func(tb testing.TB) { v, ok = Recv(tb, c, 30*time.Millisecond, "the answer") })
			if got != tt.wantErr || v != tt.want || ok != tt.wantOK {
				t.Fatalf("Recv = %d, %v, failure %q; want %d, %v, %q", v, ok, got, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}
