package browsertest

import (
	"fmt"
	"testing"
	"time"

	"comet/internal/check"
)

// TestClientAcknowledgesOnTheSocket: a tab on a WebSocket acknowledges the
// events it applied ({"last":N} up the socket, docs/PROTOCOL.md), so the
// server's replay buffer lets go of a burst within about a second instead
// of keeping it for a minute; a cut after that still resumes with every
// event once, in order.
func TestClientAcknowledgesOnTheSocket(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	p := startClient(t, s, `{transport: "ws", pingIntervalMs: 0, backoff: {baseMs: 50, maxMs: 200}}`)
	p.SetTimeout(20 * time.Second)
	p.WaitFor(t, `cometTest.state().status === "open" && cometTest.state().transport === "ws"`)
	sid := state(t, p).SID
	sess, ok := s.srv.Hub().Session(sid)
	if !ok {
		t.Fatalf("session %s not in the hub", sid)
	}
	publishN(t, s, sid, 0, 20)
	waitCount(t, p, "test.n", 20)
	applied := uint64(Eval[int](t, p, "cometTest.state().stats.lastSeq"))
	// Without the acknowledgement these stay buffered (ReplayKeep) for 60 s.
	check.For(t, 10*time.Second, func() error {
		st := sess.Stats()
		if oldest := st.Seq - uint64(st.Buffered) + 1; st.Buffered > 0 && oldest <= applied {
			return fmt.Errorf("replay holds seqs %d..%d; the tab applied up to %d", oldest, st.Seq, applied)
		}
		return nil
	})
	s.conns.cut()
	publishN(t, s, sid, 20, 25)
	waitCount(t, p, "test.n", 25)
	checkDelivery(t, state(t, p), 25, 1)
}
