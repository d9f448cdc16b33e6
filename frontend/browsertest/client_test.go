package browsertest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The client library (frontend/src/comet) in Chromium against protoServer,
// which follows docs/PROTOCOL.md byte for byte.

var allTransports = []string{"multipart", "sse", "iframe", "longpoll", "poll"}

type clientEvent struct {
	Seq  int             `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type clientState struct {
	Status    string   `json:"status"`
	Transport string   `json:"transport"`
	RTT       *float64 `json:"rtt"`
	SID       string   `json:"sid"`
	Stats     struct {
		LastSeq    int `json:"lastSeq"`
		Duplicates int `json:"duplicates"`
		Reconnects int `json:"reconnects"`
		Pending    int `json:"pending"`
	} `json:"stats"`
	Log struct {
		Events   []clientEvent `json:"events"`
		Statuses []string      `json:"statuses"`
		Sids     []string      `json:"sids"`
		Errors   []string      `json:"errors"`
	} `json:"log"`
}

// startClient serves the e2e bundle with proto behind /comet/, opens it in a
// fresh browser context and starts a CometClient with opts (a JS object).
func startClient(t *testing.T, proto *protoServer, opts string) *Page {
	t.Helper()
	b := bundle(t, "test/e2e.ts", "e2e")
	srv := newSite(t, b, scriptPage(b.Script), proto)
	p := testBrowser(t).NewPage(t, srv.URL+"/")
	p.WaitFor(t, "window.cometTest")
	Eval[bool](t, p, "cometTest.start("+opts+")")
	return p
}

func state(t *testing.T, p *Page) clientState {
	t.Helper()
	return Eval[clientState](t, p, "cometTest.state()")
}

// ofType returns the delivered events of one type, in delivery order.
func (s clientState) ofType(typ string) []clientEvent {
	var out []clientEvent
	for _, e := range s.Log.Events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// checkDelivery asserts exactly-once, in-order delivery: seqs strictly
// increase within each of the sessions (a new one starts again at 1), and the
// "test.n" events carry i = 0, 1, 2 … n-1.
func checkDelivery(t *testing.T, s clientState, n, sessions int) {
	t.Helper()
	prev, restarts := 0, 0
	for _, e := range s.Log.Events {
		switch {
		case e.Seq == 1 && prev > 0:
			restarts++
		case e.Seq <= prev:
			t.Errorf("seq %d delivered after %d", e.Seq, prev)
		}
		prev = e.Seq
	}
	if restarts != sessions-1 {
		t.Errorf("seqs restarted at 1 %d times, want %d (one per new session)", restarts, sessions-1)
	}
	got := s.ofType("test.n")
	if len(got) != n {
		t.Errorf("delivered %d test.n events, want %d", len(got), n)
	}
	for i, e := range got {
		var d struct {
			I int    `json:"i"`
			S string `json:"s"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil || d.I != i || d.S != hostile {
			t.Errorf("event %d: data %s, want i=%d and the hostile string", i, e.Data, i)
		}
	}
}

// hostile is text that would break a naive transport: it must survive every
// one of them unchanged.
const hostile = "</script><!-- \u2028\u2029 & \"--comet-0123\"\r\n--comet-x--"

func publishN(t *testing.T, ps *protoServer, from, to int) {
	for i := from; i < to; i++ {
		ps.publish(t, "", "test.n", map[string]any{"i": i, "s": hostile})
	}
}

func waitCount(t *testing.T, p *Page, typ string, n int) {
	t.Helper()
	p.WaitFor(t, fmt.Sprintf("cometTest.count(%q) >= %d", typ, n))
}

func opens(ps *protoServer, transport string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.opens[transport]
}

// One page per transport walks through a session's life: recycled responses,
// a cut connection with replayed events, sys.reset, RTT, and an expired
// session that is renewed.
func TestClientOverEachTransport(t *testing.T) {
	t.Parallel()
	for _, tr := range allTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			streaming := tr == "multipart" || tr == "sse" || tr == "iframe"
			ps := newProtoServer()
			p := startClient(t, ps, `{transport: "`+tr+`", pingIntervalMs: 300, pollIntervalMs: 200, backoff: {baseMs: 100}}`)
			p.WaitFor(t, `cometTest.state().status === "open"`)

			if streaming {
				// Recycled responses end cleanly: resume without a reconnect.
				ps.set(func(ps *protoServer) { ps.recycleAfter = 3 })
				before := opens(ps, tr)
				publishN(t, ps, 0, 7)
				waitCount(t, p, "test.n", 7)
				if s := state(t, p); slices.Contains(s.Log.Statuses, "reconnecting") {
					t.Errorf("statuses %v: a recycled response is not a reconnect", s.Log.Statuses)
				}
				// Each response carries at most 3 events, so 7 need two more at least.
				if n := opens(ps, tr) - before; n < 2 {
					t.Errorf("%d downstreams for 7 events recycled every 3", n)
				}
				// From now on every reconnect replays two old events.
				ps.set(func(ps *protoServer) { ps.recycleAfter, ps.overlap = 0, 2 })
			} else {
				publishN(t, ps, 0, 7)
				waitCount(t, p, "test.n", 7)
			}

			before := opens(ps, tr)
			ps.cut() // a network failure mid-response
			publishN(t, ps, 7, 10)
			waitCount(t, p, "test.n", 10)
			ps.publish(t, "", "sys.reset", map[string]any{})
			publishN(t, ps, 10, 12)
			waitCount(t, p, "test.n", 12)
			p.WaitFor(t, `cometTest.state().rtt !== null`)

			s := state(t, p)
			checkDelivery(t, s, 12, 1)
			if len(s.ofType("sys.reset")) != 1 {
				t.Errorf("sys.reset delivered %d times, want once", len(s.ofType("sys.reset")))
			}
			if s.Transport != tr {
				t.Errorf("transport = %q, want %q", s.Transport, tr)
			}
			if *s.RTT < 0 || *s.RTT > 5000 {
				t.Errorf("rtt = %v ms", *s.RTT)
			}
			if streaming && s.Stats.Duplicates == 0 {
				t.Error("the server replayed events, but the client counted no duplicates")
			}
			if opens(ps, tr) == before {
				t.Errorf("no new %s downstream after the cut", tr)
			}

			// The session expires: the client opens a new one for the same
			// player, says "renewed", and accepts seqs from 1 again.
			old := s.SID
			ps.expire(old)
			p.WaitFor(t, `cometTest.state().log.statuses.includes("renewed") && cometTest.state().status === "open"`)
			s = state(t, p)
			if s.SID == old || s.SID == "" {
				t.Fatalf("sid %q after renewal (was %q)", s.SID, old)
			}
			publishN(t, ps, 12, 14)
			waitCount(t, p, "test.n", 14)
			checkDelivery(t, state(t, p), 14, 2)
			Eval[int](t, p, `cometTest.send("test.echo", {again: true})`)
			waitCount(t, p, "test.echoed", 1)
			var echo []sentEvent
			for _, e := range ps.received(s.SID) {
				if e.Type == "test.echo" {
					echo = append(echo, e)
				}
			}
			if len(echo) != 1 || string(echo[0].Data) != `{"again":true}` {
				t.Errorf("new session took %+v, want the echo once", echo)
			}
			if s := state(t, p); len(s.Log.Errors) > 0 {
				t.Errorf("client errors: %v", s.Log.Errors)
			}
		})
	}
}

func TestClientFallsBackPastSilentStreams(t *testing.T) {
	t.Parallel()
	ps := newProtoServer()
	// A buffering proxy: each streaming response's headers pass, its body never does.
	ps.silent = map[string]bool{"multipart": true, "sse": true, "iframe": true}
	p := startClient(t, ps, `{openTimeoutMs: 800, pingIntervalMs: 0, backoff: {baseMs: 100}}`)
	p.SetTimeout(20 * time.Second)
	p.WaitFor(t, `cometTest.state().transport === "longpoll" && cometTest.state().status === "open"`)
	publishN(t, ps, 0, 3)
	waitCount(t, p, "test.n", 3)
	checkDelivery(t, state(t, p), 3, 1)
	if n := ps.sessionCount(); n != 1 {
		t.Errorf("%d sessions; falling back must keep the session", n)
	}
}

func TestClientForcedTransportDoesNotFallBack(t *testing.T) {
	t.Parallel()
	ps := newProtoServer()
	ps.silent = map[string]bool{"multipart": true}
	p := startClient(t, ps, `{transport: "multipart", openTimeoutMs: 300, pingIntervalMs: 0, backoff: {baseMs: 50, maxMs: 200}}`)
	p.WaitFor(t, `cometTest.state().stats.reconnects >= 3`)
	s := state(t, p)
	if s.Transport != "multipart" || s.Status == "open" {
		t.Errorf("forced multipart behind a silent proxy: transport %q, status %q", s.Transport, s.Status)
	}
	ps.set(func(ps *protoServer) { ps.silent = map[string]bool{} })
	p.WaitFor(t, `cometTest.state().status === "open"`)
}

// A server that does not serve a transport answers 404 there; the client must
// not mistake that for an expired session forever.
func TestClientSkipsUnservedTransport(t *testing.T) {
	t.Parallel()
	ps := newProtoServer()
	ps.notFound = map[string]bool{"multipart": true}
	p := startClient(t, ps, `{pingIntervalMs: 0, backoff: {baseMs: 50}}`)
	p.WaitFor(t, `cometTest.state().transport === "sse" && cometTest.state().status === "open"`)
	if n := ps.sessionCount(); n > 3 {
		t.Errorf("%d sessions opened to find a working transport", n)
	}
}

func TestClientUpstream(t *testing.T) {
	t.Parallel()
	ps := newProtoServer()
	ps.sendDelay = 30 * time.Millisecond
	ps.failSends = 1 // the first POST fails: it must be resent as is
	p := startClient(t, ps, `{transport: "multipart", pingIntervalMs: 0, backoff: {baseMs: 50}}`)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	const n = 150
	Eval[[]int](t, p, fmt.Sprintf(`cometTest.sendMany("test.echo", %d)`, n))
	waitCount(t, p, "test.echoed", n)
	s := state(t, p)

	got := ps.received(s.SID)
	if len(got) != n {
		t.Fatalf("server took %d events, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Seq != i+1 || string(e.Data) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("event %d taken as seq %d data %s", i, e.Seq, e.Data)
		}
	}
	echoed := s.ofType("test.echoed")
	for i, e := range echoed {
		if string(e.Data) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("echo %d = %s, out of order", i, e.Data)
		}
	}
	ps.mu.Lock()
	bodies, maxInFlight := ps.sendBodies, ps.maxInFlightSends
	ps.mu.Unlock()
	if maxInFlight != 1 {
		t.Errorf("%d POSTs in flight at once, want 1", maxInFlight)
	}
	if len(bodies) < 2 || !slices.Equal(seqs(bodies[0]), seqs(bodies[1])) {
		t.Errorf("the failed POST was not resent with the same seqs: %v then %v", seqs(bodies[0]), seqs(bodies[1]))
	}
	for i, b := range bodies {
		if len(b) > 64 {
			t.Errorf("POST %d carried %d events, over 64", i, len(b))
		}
	}
	if len(bodies) > 8 {
		t.Errorf("%d POSTs for %d events: not batching", len(bodies), n)
	}

	// A batch refused for good (400) is dropped and reported; later sends work.
	ps.set(func(ps *protoServer) { ps.refuse, ps.sendDelay = 1, 0 })
	Eval[int](t, p, `cometTest.send("test.echo", {n: 1})`)
	p.WaitFor(t, `cometTest.state().log.errors.length === 1`)
	Eval[int](t, p, `cometTest.send("test.echo", {n: 2})`)
	waitCount(t, p, "test.echoed", n+1)
	s = state(t, p)
	if !strings.Contains(s.Log.Errors[0], "HTTP 400") {
		t.Errorf("error %q does not name the status", s.Log.Errors[0])
	}
	if e := s.ofType("test.echoed"); string(e[n].Data) != `{"n":2}` {
		t.Errorf("echoed %s, want the second event only", e[n].Data)
	}
}

func seqs(evs []sentEvent) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func TestClientRestartsOnSysRestart(t *testing.T) {
	t.Parallel()
	ps := newProtoServer()
	p := startClient(t, ps, `{transport: "multipart", pingIntervalMs: 0}`)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	start := time.Now()
	ps.publish(t, "", "sys.restart", map[string]int{"reconnect_ms": 400})
	p.WaitFor(t, `cometTest.state().log.statuses.includes("reconnecting")`)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("reconnected after %v; sys.restart asked for about 400ms", d)
	}
	publishN(t, ps, 0, 2)
	waitCount(t, p, "test.n", 2)
	ps.mu.Lock()
	opens := ps.opens["multipart"]
	ps.mu.Unlock()
	if opens != 2 {
		t.Errorf("%d downstreams, want 2 (one before, one after the restart)", opens)
	}
}
