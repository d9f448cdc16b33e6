package browsertest

import (
	"testing"
	"time"
)

// A graceful restart seen from the client: after sys.restart the server is
// unreachable for a while (between processes). The client keeps its session
// and its transport, retrying with backoff, and resumes where it was; it
// does not fall back to another transport because of a restart, nor open a
// new session. The same outage without sys.restart does make a proven
// transport fall back after its failures in a row (the control).
func TestClientKeepsTransportAcrossRestart(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	p := startClient(t, s, `{pingIntervalMs: 0, backoff: {baseMs: 50, maxMs: 200}}`)
	p.SetTimeout(20 * time.Second)
	// On the socket the default client moves to (not on the stream it starts on).
	p.WaitFor(t, `cometTest.state().status === "open" && cometTest.state().transport === "ws"`)
	before := state(t, p)
	publishN(t, s, before.SID, 0, 2)
	waitCount(t, p, "test.n", 2)

	s.faults.set(func(f *faults) { f.unreachable = true })
	s.publish(t, before.SID, "sys.restart", map[string]int{"reconnect_ms": 50})
	// Well past the three failures in a row that leave a proven transport.
	p.WaitFor(t, `cometTest.state().stats.reconnects >= 8`)
	if st := state(t, p); st.Transport != before.Transport || st.SID != before.SID {
		t.Fatalf("during the restart: transport %q, sid %q; want %q, %q", st.Transport, st.SID, before.Transport, before.SID)
	}
	s.faults.set(func(f *faults) { f.unreachable = false })
	p.WaitFor(t, `cometTest.state().status === "open"`)
	publishN(t, s, before.SID, 2, 4)
	waitCount(t, p, "test.n", 4)
	after := state(t, p)
	if after.Transport != before.Transport || after.SID != before.SID {
		t.Fatalf("after the restart: transport %q, sid %q; want %q, %q", after.Transport, after.SID, before.Transport, before.SID)
	}
	checkDelivery(t, after, 4, 1)
	s.faults.mu.Lock()
	sessions := s.faults.sessions
	s.faults.mu.Unlock()
	if sessions != 1 {
		t.Fatalf("%d sessions opened; a restart keeps the session", sessions)
	}

	// The control: the same outage with no sys.restart first.
	s.faults.set(func(f *faults) { f.unreachable = true })
	s.conns.cut()
	p.WaitFor(t, `cometTest.state().transport !== "`+before.Transport+`"`)
}
