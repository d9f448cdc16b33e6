package push

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"comet"
	"comet/server/bus"
)

// twoNodes is two hubs on two buses, as two nodes of a cluster: a line
// published reaches each bus as its own *Message with the same frame, as
// natsbus decodes it once per node.
type twoNodes struct {
	old, taker *Hub
	a, b       *bus.Bus
}

func newTwoNodes(t *testing.T) twoNodes {
	a, b := bus.New(), bus.New()
	return twoNodes{old: newTestHub(t, Config{Bus: a}), taker: newTestHub(t, Config{Bus: b}), a: a, b: b}
}

func (n twoNodes) line(i int) (*comet.Message, *comet.Message) {
	return comet.MustMessage("test.line", i), comet.MustMessage("test.line", i)
}

// lines lists the test.line payloads a session holds, in seq order.
func lines(t *testing.T, s *Session) []string {
	t.Helper()
	s.mu.Lock()
	sv := s.savedLocked()
	s.mu.Unlock()
	var out []string
	for i, e := range sv.Events {
		if i > 0 && e.Seq != sv.Events[i-1].Seq+1 {
			t.Fatalf("seq %d after %d", e.Seq, sv.Events[i-1].Seq)
		}
		out = append(out, string(e.Frame))
	}
	return out
}

func want(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, string(comet.MustMessage("test.line", i).Frame))
	}
	return out
}

// TestRestoreCapturedClosesTheTakeWindow: a session taken from another node
// gets every line published on its topics — those the old home numbered
// (once, though the capture holds them too), those published after the
// old home's save and before the taker subscribed (which plain Restore
// loses: the baseline), and those arriving while the merge runs — in
// order, with no gap and no repeat; a line whose frame equals a saved
// event's from before the capture (a lobby state repeated) is still
// numbered; a captured topic the session is not restored with gives it
// nothing.
func TestRestoreCapturedClosesTheTakeWindow(t *testing.T) {
	for _, captured := range []bool{false, true} {
		t.Run(fmt.Sprintf("captured=%v", captured), func(t *testing.T) {
			n := newTwoNodes(t)
			s := n.old.NewSession("p1", nil)
			s.Subscribe("lobby")
			publish := func(i int, toOld bool) {
				ma, mb := n.line(i)
				if toOld {
					n.a.Publish("lobby", ma)
				}
				n.b.Publish("lobby", mb)
			}
			state := func(toOld bool) { // a lobby state, repeated later with the same frame
				if toOld {
					n.a.Publish("lobby", comet.MustMessage("test.state", "three online"))
				}
				n.b.Publish("lobby", comet.MustMessage("test.state", "three online"))
			}
			publish(1, true) // before the take began: the taker has no subscriber
			state(true)
			var c *Capture
			if captured {
				// A topic the session is not restored with (a room it left
				// on the old home): captured, never numbered.
				c = n.taker.Capture([]string{"lobby", "room:x"}, s.Seq())
			}
			publish(2, true) // numbered by the old home, captured too
			sv, ok := n.old.Take(context.Background(), s)
			if !ok {
				t.Fatal("take: session ended")
			}
			publish(3, true) // the window: the old home ended the session, the taker has not subscribed
			publish(4, false)
			state(false) // the same frame as a saved event before the capture: a line of its own
			n.b.Publish("room:x", comet.MustMessage("test.other", 0))
			// Lines keep arriving while the taker merges.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 5; i <= 300; i++ {
					publish(i, false)
				}
			}()
			r, over, err := n.taker.RestoreCaptured(sv, nil, c)
			if err != nil || over {
				t.Fatalf("restore: %v (overflowed %v)", err, over)
			}
			wg.Wait()
			got := lines(t, r)
			if !captured {
				// The baseline: lines 3 and 4 reached neither node.
				if len(got) < 3 || got[0] != want(1, 1)[0] || got[2] != want(2, 2)[0] || slices.Contains(got, want(3, 3)[0]) {
					t.Fatalf("plain restore got %v", got[:min(len(got), 4)])
				}
				return
			}
			st := string(comet.MustMessage("test.state", "three online").Frame)
			w := append(append(append(append(want(1, 1), st), want(2, 4)...), st), want(5, 300)...)
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Fatalf("restored session holds %d events, want %d in order:\n%v", len(got), len(w), got)
			}
			// The capture let go of the bus: a line now is numbered once.
			publish(301, false)
			if got := lines(t, r); len(got) != len(w)+1 {
				t.Fatalf("after the merge a line numbered %d times", len(got)-len(w))
			}
			if n.b.Subscribers("lobby") != 1 {
				t.Fatalf("lobby subscribers on the taker: %d, want the session alone", n.b.Subscribers("lobby"))
			}
		})
	}
}

// TestCaptureBounded: a capture keeps at most maxCaptured lines, says it
// overflowed, and a capture closed twice returns nothing the second time.
func TestCaptureBounded(t *testing.T) {
	h := newTestHub(t, Config{})
	c := h.Capture([]string{"t"}, 0)
	for i := range maxCaptured + 5 {
		h.bus.Publish("t", comet.MustMessage("test.line", i))
	}
	msgs, over := c.Close()
	if len(msgs) != maxCaptured || !over {
		t.Fatalf("kept %d (overflowed %v), want %d and overflowed", len(msgs), over, maxCaptured)
	}
	if msgs, _ := c.Close(); msgs != nil {
		t.Fatal("second Close returned lines")
	}
	if h.bus.Subscribers("t") != 0 {
		t.Fatal("capture still subscribed after Close")
	}
}
