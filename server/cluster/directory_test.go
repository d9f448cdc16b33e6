package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"comet/internal/check"
)

func withDirectoryGrace(d time.Duration) nodeOpt {
	return func(o *nodeSetup) { o.cluster.DirectoryGrace = d }
}

// TestSweepDeadNodesEntries: the entries of a killed node's sessions stay
// for the grace (their clients may re-home them), then a survivor sweeps
// them; a live node's entries stay.
func TestSweepDeadNodesEntries(t *testing.T) {
	nodes := threeNodes(t, withDirectoryGrace(2*time.Second))
	gone, kept := newClient(t, nodes[2]), newClient(t, nodes[0])
	nodes[2].kill()
	check.For(t, 15*time.Second, func() error {
		if nodes[0].cl.Alive("c") {
			return fmt.Errorf("c still alive")
		}
		return nil
	})
	if node, _ := home(t, nodes[1], gone.sid); node != "c" {
		t.Fatalf("the dead node's entry went at once (home %q): its client could not re-home it", node)
	}
	check.For(t, 20*time.Second, func() error {
		if node, rev := home(t, nodes[1], gone.sid); node != "" || rev != 0 {
			return fmt.Errorf("entry of a session of the dead node still there: home %q", node)
		}
		return nil
	})
	if node, _ := home(t, nodes[1], kept.sid); node != "a" {
		t.Fatalf("a live node's entry: home %q, want a", node)
	}
}

// TestRelayEndsWhenMirrorNodeGone: a session homed on A streams through B
// (a relay into B's mirror). B is killed: A's relay ends (the session is
// detached, its grace running) and the client resumes on C with no reset.
func TestRelayEndsWhenMirrorNodeGone(t *testing.T) {
	nodes := threeNodes(t)
	a := newClient(t, nodes[0])
	a.poll(nodes[0])
	onB := sse(t, a, nodes[1])
	a.say(nodes[2], "relayed")
	a.readUntil(onB, "relayed")
	ps, ok := nodes[0].srv.Hub().Session(a.sid)
	if !ok || !ps.Stats().Attached {
		t.Fatal("the relay is not attached at the home")
	}
	nodes[1].kill()
	check.For(t, 15*time.Second, func() error {
		if ps.Stats().Attached {
			return fmt.Errorf("the home still relays to the dead node")
		}
		return nil
	})
	a.say(nodes[2], "after")
	a.waitFor(nodes[2], "after")
	if n := a.resets(); n != 0 {
		t.Fatalf("%d sys.reset, want none", n)
	}
}

// TestShutdownNumbersNoMirror: a node holding a relayed stream shuts down.
// The stream ends without a sys.restart numbered in the mirror (its seqs
// are the home's), so the client resumes on another node from the home's
// replay with no reset and no gap.
func TestShutdownNumbersNoMirror(t *testing.T) {
	nodes := threeNodes(t)
	a := newClient(t, nodes[0])
	a.poll(nodes[0])
	onB := sse(t, a, nodes[1])
	a.say(nodes[2], "relayed")
	a.readUntil(onB, "relayed")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := nodes[1].srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	a.drainStream(onB)
	a.say(nodes[0], "after")
	a.waitFor(nodes[2], "after")
	if n := a.resets(); n != 0 {
		t.Fatalf("%d sys.reset after the mirror's node shut down, want none: %v", n, a.got)
	}
}
