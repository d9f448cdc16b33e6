package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"comet/internal/check"
)

// drain stops a node as SIGTERM does in a cluster: Shutdown hands its
// sessions to the other nodes, then the node leaves (its lease deleted).
func (n *node) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil {
		t.Errorf("drain %s: %v", n.name, err)
	}
	n.once.Do(func() {
		n.ts.CloseClientConnections()
		n.ts.Close()
		n.cl.Close()
		n.nc.Close()
	})
}

// home reads sid's home from the directory through n.
func home(t testing.TB, n *node, sid string) (string, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	node, _, rev, err := n.cl.Home(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	return node, rev
}

// send sends one event through n; it must be taken (204).
func (c *client) send(n *node, typ, data string) {
	c.t.Helper()
	body := fmt.Sprintf(`[{"seq":%d,"type":%q,"data":%s}]`, c.seq, typ, data)
	c.seq++
	if code, b := c.do(http.MethodPost, n.ts.URL+"/comet/"+c.sid+"/send", []byte(body)); code != http.StatusNoContent {
		c.t.Fatalf("send %s via %s: %d %s", typ, n.name, code, b)
	}
}

// resets counts the sys.reset a client read.
func (c *client) resets() int {
	n := 0
	for _, e := range c.got {
		if e.Type == "sys.reset" {
			n++
		}
	}
	return n
}

func (c *client) read(typ string) bool {
	for _, e := range c.got {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// TestDrainHandsSessionsOver: node A drains (SIGTERM). A session whose
// client comes back during the drain is taken from A whole by the node it
// reaches, with a lobby line said while it was held on A; one whose client
// comes back after A left is taken from the saved blob (what the bus
// carried between A's leaving and that take is not in it: documented).
// Both keep their
// sid, their seqs continue with no gap, repeat or sys.reset, and they chat
// on. (A's rooms move with their members: drain_rooms_test.go.)
func TestDrainHandsSessionsOver(t *testing.T) {
	nodes := threeNodes(t)
	a, late, b := newClient(t, nodes[0]), newClient(t, nodes[0]), newClient(t, nodes[1])
	a.say(nodes[0], "before")
	a.waitFor(nodes[0], "before")
	late.waitFor(nodes[2], "before")
	b.waitFor(nodes[1], "before")

	done := make(chan struct{})
	go func() { defer close(done); nodes[0].drain(t) }()
	// Both sessions are marked drained while A holds them.
	for _, c := range []*client{a, late} {
		check.For(t, 10*time.Second, func() error {
			if node, rev := home(t, nodes[1], c.sid); node != "" || rev == 0 {
				return fmt.Errorf("%s: home %q rev %d, want drained", c.sid, node, rev)
			}
			return nil
		})
	}
	// A line said now reaches a's session on A (still subscribed there).
	b.say(nodes[1], "while held")
	b.waitFor(nodes[2], "while held")
	a.waitFor(nodes[1], "while held") // the poll on B takes a from A
	if got, _ := home(t, nodes[2], a.sid); got != "b" {
		t.Fatalf("a's home after the take: %q, want b", got)
	}
	<-done // A saved late's session and left
	check.For(t, 10*time.Second, func() error {
		if nodes[1].cl.Alive("a") {
			return fmt.Errorf("a still alive")
		}
		return nil
	})
	// late comes back: C takes its session from the bucket.
	check.For(t, 10*time.Second, func() error {
		if code := late.poll(nodes[2]); code != http.StatusOK {
			return fmt.Errorf("late's poll via c: %d", code)
		}
		return nil
	})
	if got, _ := home(t, nodes[1], late.sid); got != "c" {
		t.Fatalf("late's home after the take: %q, want c", got)
	}
	b.say(nodes[2], "after")
	late.waitFor(nodes[2], "after")
	a.waitFor(nodes[2], "after")
	for _, c := range []*client{a, late} {
		if n := c.resets(); n != 0 {
			t.Errorf("%s: %d sys.reset, want none (a drain is lossless)", c.sid, n)
		}
		if !c.read("sys.restart") {
			t.Errorf("%s: never told sys.restart", c.sid)
		}
	}
	if !late.saw("while held") {
		t.Errorf("late missed the line said while its session was held on the drained node")
	}
	// The sessions go on: their client seqs too.
	a.say(nodes[1], "a goes on")
	late.say(nodes[2], "late goes on")
	b.waitFor(nodes[1], "late goes on")
	b.waitFor(nodes[1], "a goes on")
	if code := a.poll(nodes[2]); code != http.StatusOK {
		t.Fatalf("poll a after: %d", code)
	}
}
