package browsertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"comet/internal/check"
	"comet/server/push"
)

// Transport selection (issue 14): a tab starts on an HTTP stream, probes a
// WebSocket in the background and moves to it without losing or repeating an
// event; its events then go up the socket, not in POSTs; a refused socket
// leaves it on the stream; after a fallback it climbs back.

// posts is how many POST /send bodies reached the server so far, and how many
// of them carried an event of type typ ("" for any).
func (f *faults) posts(typ string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, b := range f.bodies {
		if typ == "" || slices.ContainsFunc(b, func(e sentEvent) bool { return e.Type == typ }) {
			n++
		}
	}
	return n
}

// pongsFrom counts the delivered sys.pong events whose t is base+i for i in
// [0, n), and fails the test if one came twice or out of order.
func pongsFrom(t *testing.T, p *Page, base, n int) {
	t.Helper()
	p.WaitFor(t, fmt.Sprintf(`cometTest.state().log.events.filter(e => e.type === "sys.pong" && e.data.t >= %d && e.data.t < %d).length >= %d`, base, base+n, n))
	got := Eval[[]int](t, p, fmt.Sprintf(`cometTest.state().log.events.filter(e => e.type === "sys.pong" && e.data.t >= %d && e.data.t < %d).map(e => e.data.t)`, base, base+n))
	if len(got) != n {
		t.Fatalf("%d pongs for %d pings: %v", len(got), n, got)
	}
	for i, v := range got {
		if v != base+i {
			t.Fatalf("pong %d has t=%d, want %d (order or repeat)", i, v, base+i)
		}
	}
}

// sendPings queues n sys.ping events with t = base, base+1 … in one go.
func sendPings(t *testing.T, p *Page, base, n int) {
	t.Helper()
	Eval[[]int](t, p, fmt.Sprintf(`Array.from({length: %d}, (_, i) => cometTest.send("sys.ping", {t: %d + i}))`, n, base))
}

// The default client starts on multipart, then moves to ws while events keep
// coming: each is delivered exactly once, in order. On the socket, events go
// up without a POST; a cut socket resends what it did not see acknowledged,
// and the server runs each event once.
func TestClientUpgradesToWebSocket(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	p := startClient(t, s, `{pingIntervalMs: 0, probeMs: 600, backoff: {baseMs: 50, maxMs: 200}}`)
	p.SetTimeout(20 * time.Second)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	if st := state(t, p); st.Transport != "multipart" {
		t.Fatalf("first transport %q, want multipart (the first paint comes from an HTTP stream)", st.Transport)
	}
	sid := state(t, p).SID

	// Events flow on while the socket takes over.
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			s.publish(t, sid, "test.n", map[string]any{"i": i, "s": hostile})
			time.Sleep(5 * time.Millisecond) // a steady flow across the switch (pacing, not a wait)
		}
	}()
	p.WaitFor(t, `cometTest.state().transport === "ws"`)
	<-done
	waitCount(t, p, "test.n", n)
	st := state(t, p)
	checkDelivery(t, st, n, 1)
	if slices.Contains(st.Log.Statuses, "reconnecting") {
		t.Errorf("statuses %v: an upgrade is not a reconnect", st.Log.Statuses)
	}
	if got := s.faults.openCount("ws"); got != 1 {
		t.Errorf("%d WebSocket requests, want 1", got)
	}
	if got := s.faults.openCount("multipart"); got != 1 {
		t.Errorf("%d multipart requests, want 1 (the socket replaced it; nothing reconnected it)", got)
	}

	// Upstream over the socket: 100 events, no POST.
	posts, reconnects := s.faults.posts(""), state(t, p).Stats.Reconnects
	sendPings(t, p, 1_000_000, 100)
	pongsFrom(t, p, 1_000_000, 100)
	if got := s.faults.posts(""); got != posts && state(t, p).Stats.Reconnects == reconnects {
		t.Errorf("%d POSTs while the socket was open, want none", got-posts)
	}
	p.WaitFor(t, `cometTest.state().stats.pending === 0`) // acknowledged by a fence pong

	// A cut with events in flight: they are sent again once a downstream is
	// back, and the server runs each once (each pong exactly once, in order).
	s.conns.cut()
	sendPings(t, p, 2_000_000, 40)
	pongsFrom(t, p, 2_000_000, 40)
	p.WaitFor(t, `cometTest.state().transport === "ws" && cometTest.state().status === "open"`)
	publishN(t, s, sid, n, n+5)
	waitCount(t, p, "test.n", n+5)
	checkDelivery(t, state(t, p), n+5, 1)
	if st := state(t, p); st.SID != sid || len(st.Log.Errors) > 0 {
		t.Errorf("sid %q (want %q), errors %v", st.SID, sid, st.Log.Errors)
	}
	if errs := appErrors(p); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// A network whose proxy does not pass WebSocket upgrades: the tab stays on
// its HTTP transport, undisturbed (no reconnect, no event lost or repeated)
// but moved once onto the mux the browser's tabs share, as a stream here to
// stay; it probes again with backoff, and when upgrades pass again it moves
// to the socket.
func TestClientStaysOnStreamWhenWebSocketRefused(t *testing.T) {
	t.Parallel()
	// A heartbeat that a loaded machine cannot make late: these tests count
	// every reconnect, and one for a late heartbeat is not the probe's.
	s := newSite(t, siteOptions{hub: push.Config{Heartbeat: 5 * time.Second}})
	s.faults.set(func(f *faults) { f.noUpgrade = true })
	p := startClient(t, s, `{pingIntervalMs: 0, probeMs: 50, climbMs: 300, backoff: {baseMs: 50}}`)
	p.SetTimeout(20 * time.Second)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	sid := state(t, p).SID
	// Three refused probes (300 ms, then 600 ms later …), events flowing meanwhile.
	publishN(t, s, sid, 0, 3)
	check.For(t, 10*time.Second, func() error {
		if n := s.faults.openCount("ws"); n < 3 {
			return fmt.Errorf("%d WebSocket probes, want 3", n)
		}
		return nil
	})
	got := 3
	publishN(t, s, sid, got, got+3)
	waitCount(t, p, "test.n", got+3)
	st := state(t, p)
	if st.Transport != "multipart" || st.Status != "open" {
		t.Fatalf("with upgrades refused: transport %q, status %q; want multipart, open", st.Transport, st.Status)
	}
	checkDelivery(t, st, got+3, 1)
	if slices.Contains(st.Log.Statuses, "reconnecting") {
		t.Errorf("statuses %v: a refused probe must not disturb the stream", st.Log.Statuses)
	}
	if n, mux := s.faults.openCount("multipart"), s.faults.openCount("mux"); n-mux != 1 || mux != 1 {
		t.Errorf("%d multipart requests, %d of them a mux; want 1 of its own, then 1 mux: a refused probe must not disturb the stream", n, mux)
	}

	s.faults.set(func(f *faults) { f.noUpgrade = false })
	p.WaitFor(t, `cometTest.state().transport === "ws" && cometTest.state().status === "open"`)
	publishN(t, s, sid, got+3, got+6)
	waitCount(t, p, "test.n", got+6)
	checkDelivery(t, state(t, p), got+6, 1)
}

// An outage drives a tab down to polling; once the server answers again it
// climbs back to a stream and then the socket, without losing or repeating
// an event published during the outage.
func TestClientClimbsBackAfterOutage(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	p := startClient(t, s, `{pingIntervalMs: 0, probeMs: 50, climbMs: 1000, openTimeoutMs: 1000, pollIntervalMs: 200, backoff: {baseMs: 50, maxMs: 300}}`)
	p.SetTimeout(30 * time.Second)
	p.WaitFor(t, `cometTest.state().transport === "ws" && cometTest.state().status === "open"`)
	sid := state(t, p).SID
	publishN(t, s, sid, 0, 3)
	waitCount(t, p, "test.n", 3)

	s.faults.set(func(f *faults) { f.unreachable = true })
	s.conns.cut()
	p.WaitFor(t, `cometTest.state().transport === "poll"`)
	publishN(t, s, sid, 3, 6) // during the outage: kept for the resume
	s.faults.set(func(f *faults) { f.unreachable = false })
	healthy := time.Now()
	p.WaitFor(t, `cometTest.state().transport === "poll" && cometTest.state().status === "open"`)
	waitCount(t, p, "test.n", 6)
	p.WaitFor(t, `cometTest.state().transport === "ws" && cometTest.state().status === "open"`)
	if d := time.Since(healthy); d > 15*time.Second {
		t.Errorf("back on ws %v after the server answered again", d)
	} else {
		t.Logf("back on ws %v after the server answered again", d.Round(time.Millisecond))
	}
	publishN(t, s, sid, 6, 9)
	waitCount(t, p, "test.n", 9)
	st := state(t, p)
	checkDelivery(t, st, 9, 1)
	if st.SID != sid {
		t.Errorf("sid %q, want %q: the climb keeps the session", st.SID, sid)
	}
}

// A proxy that answers the WebSocket handshake itself and then passes
// nothing (buffering, or a broken upgrade): the probe shows no message within
// the open deadline, so the tab stays on its HTTP transport, undisturbed
// (moved once onto the tabs' shared mux, as for a refused socket).
func TestClientStaysOnStreamWhenWebSocketSilent(t *testing.T) {
	t.Parallel()
	// A heartbeat that a loaded machine cannot make late: these tests count
	// every reconnect, and one for a late heartbeat is not the probe's.
	s := newSite(t, siteOptions{hub: push.Config{Heartbeat: 5 * time.Second}})
	s.faults.set(func(f *faults) { f.silentWS = true })
	// openTimeoutMs bounds both the silent probe and the opening of the
	// HTTP stream itself: at 500 ms a loaded machine opened the mux late and
	// the tab fell back to sse (make test), which is not what this tests.
	p := startClient(t, s, `{pingIntervalMs: 0, probeMs: 50, openTimeoutMs: 1500, climbMs: 300, backoff: {baseMs: 50}}`)
	p.SetTimeout(30 * time.Second)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	sid := state(t, p).SID
	check.For(t, 20*time.Second, func() error {
		if n := s.faults.openCount("ws"); n < 2 {
			return fmt.Errorf("%d WebSocket probes, want 2", n)
		}
		return nil
	})
	publishN(t, s, sid, 0, 3)
	waitCount(t, p, "test.n", 3)
	st := state(t, p)
	if st.Transport != "multipart" || st.Status != "open" {
		t.Fatalf("behind a silent socket: transport %q, status %q; want multipart, open", st.Transport, st.Status)
	}
	checkDelivery(t, st, 3, 1)
	if n, mux := s.faults.openCount("multipart"), s.faults.openCount("mux"); n-mux != 1 || mux != 1 || slices.Contains(st.Log.Statuses, "reconnecting") {
		t.Errorf("%d multipart requests (%d a mux: want 1 of its own, then 1 mux), statuses %v: a silent probe must not disturb the stream", n, mux, st.Log.Statuses)
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v (the socket opened and said nothing: no handshake error)", errs)
	}
}
