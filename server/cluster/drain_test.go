package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"comet"
	"comet/internal/check"
	"comet/server/bus"
	"comet/server/natsbus"
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

// TestDrainTakeLosesNoLine: lines published on the lobby topic from
// elsewhere, one a millisecond, while A drains and B takes A's sessions
// one after another: each taken session reads every line from its first to
// the last, no gap and no repeat. A take ends the session on A before B
// subscribes it; without B's capture of its topics during the take (before
// A's save, in effect on the NATS server) the lines in between reach
// neither node.
func TestDrainTakeLosesNoLine(t *testing.T) {
	ns := startNATS(t)
	nodes := threeNodesOn(t, ns)
	var cs []*client
	for range 5 {
		c := newClient(t, nodes[0])
		if code := c.poll(nodes[0]); code != http.StatusOK {
			t.Fatalf("poll: %d", code)
		}
		cs = append(cs, c)
	}
	nc, err := nats.Connect("", append(natsbus.ConnOptions(), nats.InProcessServer(ns))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	z, err := natsbus.New(natsbus.Config{Conn: nc, Local: bus.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan int)
	go func() {
		for i := 1; ; i++ {
			z.Publish(comet.TopicLobby, comet.MustMessage("test.line", i))
			select {
			case <-stop:
				stopped <- i
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	done := make(chan struct{})
	go func() { defer close(done); nodes[0].drain(t) }()
	for _, c := range cs {
		check.For(t, 10*time.Second, func() error {
			if node, rev := home(t, nodes[1], c.sid); node != "" || rev == 0 {
				return fmt.Errorf("%s: home %q rev %d, want drained", c.sid, node, rev)
			}
			return nil
		})
	}
	for _, c := range cs { // B takes each, lines flowing
		if code := c.poll(nodes[1]); code != http.StatusOK {
			t.Fatalf("poll via b: %d", code)
		}
		if got, _ := home(t, nodes[2], c.sid); got != "b" {
			t.Fatalf("home after the take: %q, want b", got)
		}
	}
	close(stop)
	last := <-stopped
	<-done
	for _, c := range cs {
		check.For(t, 10*time.Second, func() error {
			if code := c.poll(nodes[1]); code != http.StatusOK {
				return fmt.Errorf("poll via b: %d", code)
			}
			if n := c.lines(); len(n) == 0 || n[len(n)-1] != last {
				return fmt.Errorf("%s: line %d not read yet", c.sid, last)
			}
			return nil
		})
		n := c.lines()
		for i := 1; i < len(n); i++ {
			if n[i] != n[i-1]+1 {
				t.Errorf("%s read line %d after line %d: lost in the take", c.sid, n[i], n[i-1])
			}
		}
		if c.resets() != 0 {
			t.Errorf("%s read a sys.reset", c.sid)
		}
	}
}

// lines lists the test.line numbers a client read, in order.
func (c *client) lines() []int {
	var out []int
	for _, e := range c.got {
		if e.Type == "test.line" {
			var i int
			if err := json.Unmarshal(e.Data, &i); err != nil {
				c.t.Fatalf("test.line %s: %v", e.Data, err)
			}
			out = append(out, i)
		}
	}
	return out
}
