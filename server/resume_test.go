package server

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"comet"
	"comet/internal/check"
)

func pollOnce(t testing.TB, c *client, last uint64, wait int) ([]wireEvent, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/comet/%s/poll?last=%d&wait=%d", c.base, c.SID, last, wait), nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("poll: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("poll Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	var evs []wireEvent
	if err := json.Unmarshal(body, &evs); err != nil {
		t.Fatalf("poll body %q: %v", body, err)
	}
	return evs, string(body)
}

// TestResumeAfterRandomCuts publishes a numbered series while the client cuts
// its downstream at random moments and reconnects with last, many times, on
// every transport; every number must arrive exactly once, in order.
func TestResumeAfterRandomCuts(t *testing.T) {
	ts := startServer(t, nil)
	for _, tr := range []string{"multipart", "sse", "iframe", "longpoll", "poll"} {
		t.Run(tr, func(t *testing.T) {
			c := newClient(t, ts.URL)
			sess, _ := ts.Hub().Session(c.SID)
			const total = 600
			var sent atomic.Int64
			go func() {
				for i := 1; i <= total; i++ {
					sess.Send(comet.MustMessage("test.n", i))
					sent.Store(int64(i))
					if i%5 == 0 {
						time.Sleep(time.Millisecond) // pacing the publisher, so the cuts fall mid-series
					}
				}
			}()
			seen, last, cuts := 0, uint64(0), 0
			take := func(ev wireEvent) {
				if ev.Seq != last+1 {
					t.Fatalf("seq %d (%s %s) after %d: gap or duplicate", ev.Seq, ev.Type, ev.Data, last)
				}
				last = ev.Seq
				if ev.Type == "test.n" {
					seen++
					if string(ev.Data) != fmt.Sprint(seen) {
						t.Fatalf("got %s, want %d", ev.Data, seen)
					}
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for seen < total && time.Now().Before(deadline) {
				switch tr {
				case "poll", "longpoll":
					wait := 0
					if tr == "longpoll" {
						wait = 1
					}
					evs, _ := pollOnce(t, c, last, wait)
					// A cut poll: sometimes drop the answer as if the response was lost.
					if rand.IntN(3) == 0 {
						cuts++
						continue
					}
					for _, ev := range evs {
						take(ev)
					}
				default:
					st := c.open(tr, last)
					budget := rand.IntN(40) + 1
					for budget > 0 {
						b, ok := check.Recv(t, st.batches, 10*time.Second, tr+" batch")
						if !ok {
							break
						}
						for _, ev := range b {
							take(ev)
						}
						budget -= len(b)
						if seen == total {
							break
						}
					}
					st.close() // cut mid-stream, with events possibly in flight
					cuts++
				}
			}
			if seen != total {
				t.Fatalf("saw %d of %d events after %d cuts", seen, total, cuts)
			}
			if cuts < 10 {
				t.Fatalf("only %d cuts: the test did not exercise resume", cuts)
			}
		})
	}
}

// TestResetWhenResumePointIsGone checks that a client resuming from an event
// that left the replay buffer gets sys.reset and then fresh lobby state,
// never a silent gap.
func TestResetWhenResumePointIsGone(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Hub.ReplayEvents = 16 })
	c := newClient(t, ts.URL)
	sess, _ := ts.Hub().Session(c.SID)
	for i := 0; i < 100; i++ {
		sess.Send(comet.MustMessage("test.n", i))
	}
	st := c.open("sse", 1)
	defer st.close()
	first := st.next(t, 5*time.Second)
	if first.Type != "sys.reset" {
		t.Fatalf("first event after a lost resume point is %s, want sys.reset", first.Type)
	}
	st.waitType(t, "lobby.rooms", 5*time.Second)
	st.waitType(t, "chat.history", 5*time.Second)
}

func TestSessionExpiresAfterGrace(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Hub.Grace = 200 * time.Millisecond })
	c := newClient(t, ts.URL)
	st := c.open("multipart", 0)
	// The fence: a session made after c's stream attached, with no stream of
	// its own. Once the reaper has expired it, c's grace would have run out
	// too had its stream not held it.
	control := newClient(t, ts.URL)
	checkFor(t, 5*time.Second, func() error {
		if _, ok := ts.Hub().Session(control.SID); ok {
			return fmt.Errorf("the control session (no stream) has not expired")
		}
		return nil
	})
	if _, ok := ts.Hub().Session(c.SID); !ok {
		t.Fatal("session with an attached stream expired")
	}
	st.close()
	checkFor(t, 5*time.Second, func() error {
		if _, ok := ts.Hub().Session(c.SID); ok {
			return fmt.Errorf("session still alive after its stream closed")
		}
		return nil
	})
	if _, err := c.tryOpen("sse", 0); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("open on expired session: %v, want 404", err)
	}
}

// TestDeliveredEventsAreReleased: events written to a live stream leave the
// replay buffer after ReleaseAfter (memory follows the backlog, not history),
// events a client acknowledged with last=N leave at once, and a client
// resuming from before released events gets sys.reset, never a silent gap.
func TestDeliveredEventsAreReleased(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Hub.ReleaseAfter = 300 * time.Millisecond
		c.Hub.Heartbeat = 400 * time.Millisecond // sweeps every 100 ms
	})
	c := newClient(t, ts.URL)
	sess, _ := ts.Hub().Session(c.SID)
	for i := 0; i < 100; i++ {
		sess.Send(comet.MustMessage("test.n", i))
	}
	st := c.open("multipart", 0)
	for ev := st.next(t, 5*time.Second); ev.Type != "test.n" || string(ev.Data) != "99"; ev = st.next(t, 5*time.Second) {
	}
	buffered := func() int { return sess.Stats().Buffered }
	checkFor(t, 15*time.Second, func() error { // two sweeps are enough; the margin is for a loaded machine
		if n := buffered(); n != 0 {
			return fmt.Errorf("%d delivered events still buffered", n)
		}
		return nil
	})
	st.close()
	st2 := c.open("sse", 1)
	defer st2.close()
	if ev := st2.next(t, 5*time.Second); ev.Type != "sys.reset" {
		t.Fatalf("resuming before released events gave %s, want sys.reset", ev.Type)
	}

	// An acknowledged resume point releases at once.
	d := newClient(t, ts.URL)
	ds, _ := ts.Hub().Session(d.SID)
	for i := 0; i < 50; i++ {
		ds.Send(comet.MustMessage("test.n", i))
	}
	evs, _ := pollOnce(t, d, 0, 0)
	last := evs[len(evs)-1].Seq
	pollOnce(t, d, last, 0)
	if n := ds.Stats().Buffered; n != 0 {
		t.Fatalf("%d events buffered after the client acknowledged them all", n)
	}
}
