package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// count is how many events of type typ the client read whose data holds
// the chat line text.
func (c *client) count(typ, text string) int {
	n := 0
	for _, e := range c.got {
		if e.Type == typ && bytes.Contains(e.Data, []byte(fmt.Sprintf(`"text":%q`, text))) {
			n++
		}
	}
	return n
}

// TestRetriedSayIntoRehomedSession: a chat.say the dead home took (stored,
// published) but whose 204 the client never read is sent again, same seq,
// once the session is re-homed on a node that never knew the seq: it is
// answered 204 and neither stored nor delivered a second time. A later line
// on the same streams is the fence that proves the repeat never came.
func TestRetriedSayIntoRehomedSession(t *testing.T) {
	nodes := threeNodes(t)
	b := newClient(t, nodes[1]) // another player, homed on a live node
	b.poll(nodes[1])
	a, cursor := homeDies(t, nodes) // a said "before" as seq 1; its home took it
	b.waitFor(nodes[1], "before")

	a.got = nil
	a.waitFor(nodes[1], "before") // re-homed: sys.reset, then the fresh state's history
	if a.got[0].Type != "sys.reset" || a.got[0].Seq != cursor+1 {
		t.Fatalf("want sys.reset numbered %d first, got %v", cursor+1, a.got)
	}

	// The retry of seq 1, as a client that never read the 204 sends it.
	a.seq = 1
	a.sayRetrying(nodes[2], "before")
	a.say(nodes[2], "fence")
	a.waitFor(nodes[1], "fence")
	b.waitFor(nodes[2], "fence")

	if n := b.count("chat.msg", "before"); n != 1 {
		t.Errorf("another player read %q live %d times, want once", "before", n)
	}
	if n := a.count("chat.msg", "before"); n != 0 {
		t.Errorf("the re-homed session read %q live %d times after its reset, want none (its history has it)", "before", n)
	}
	if n := a.count("chat.history", "before"); n != 1 {
		t.Errorf("the re-homed session's history holds %q %d times, want once", "before", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hist, err := nodes[1].store.ChatHistory(ctx, "lobby", 50)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, m := range hist {
		if m.Text == "before" {
			stored++
		}
	}
	if stored != 1 {
		t.Errorf("%q stored %d times, want once: %+v", "before", stored, hist)
	}
}
