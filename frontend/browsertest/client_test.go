package browsertest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"comet/server/push"
)

// The client library (frontend/src/comet) in Chromium against the real
// server, with faults injected in front of it (site_test.go).

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

// startClient opens the e2e page of s in a fresh browser context and starts
// a CometClient with opts (a JS object).
func startClient(t *testing.T, s *site, opts string) *Page {
	t.Helper()
	p := testBrowser(t).NewPage(t, s.URL+"/t/e2e/")
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

func publishN(t *testing.T, s *site, sid string, from, to int) {
	for i := from; i < to; i++ {
		s.publish(t, sid, "test.n", map[string]any{"i": i, "s": hostile})
	}
}

func waitCount(t *testing.T, p *Page, typ string, n int) {
	t.Helper()
	p.WaitFor(t, fmt.Sprintf("cometTest.count(%q) >= %d", typ, n))
}

// One page per transport walks through a session's life against the real
// server: recycled responses, a cut connection, RTT, and an expired session
// that is renewed.
func TestClientOverEachTransport(t *testing.T) {
	t.Parallel()
	for _, tr := range append(slices.Clone(allTransports), "ws") { // ws forced: ?transport=ws
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			streaming := tr == "multipart" || tr == "sse" || tr == "iframe" // recycled; a socket is not
			path := tr                                                      // the URL's last segment: long-poll is /poll?wait=
			if tr == "longpoll" {
				path = "poll"
			}
			// Recycle after a few hundred bytes: about three test events.
			s := newSite(t, siteOptions{hub: push.Config{RecycleBytes: 300}})
			p := startClient(t, s, `{transport: "`+tr+`", pingIntervalMs: 300, pollIntervalMs: 200, backoff: {baseMs: 100}}`)
			p.WaitFor(t, `cometTest.state().status === "open"`)
			sid := state(t, p).SID

			before := s.faults.openCount(path)
			publishN(t, s, sid, 0, 7)
			waitCount(t, p, "test.n", 7)
			if streaming {
				// Recycled responses end cleanly: resume without a reconnect.
				if st := state(t, p); slices.Contains(st.Log.Statuses, "reconnecting") {
					t.Errorf("statuses %v: a recycled response is not a reconnect", st.Log.Statuses)
				}
				if n := s.faults.openCount(path) - before; n < 2 {
					t.Errorf("%d downstreams for 7 events recycled every ~300 bytes", n)
				}
			}

			before = s.faults.openCount(path)
			s.conns.cut() // a network failure mid-response
			publishN(t, s, sid, 7, 10)
			waitCount(t, p, "test.n", 10)
			// A ping in flight across the cut comes back late; the next ones are quick.
			p.WaitFor(t, `cometTest.state().rtt !== null && cometTest.state().rtt < 2000`)

			st := state(t, p)
			checkDelivery(t, st, 10, 1)
			if st.Transport != tr {
				t.Errorf("transport = %q, want %q", st.Transport, tr)
			}
			if *st.RTT < 0 || *st.RTT > 5000 {
				t.Errorf("rtt = %v ms", *st.RTT)
			}
			if st.Stats.Duplicates != 0 {
				t.Errorf("%d duplicates: the server resumes at last, so none are sent", st.Stats.Duplicates)
			}
			if s.faults.openCount(path) == before {
				t.Errorf("no new %s downstream after the cut", tr)
			}

			// The session expires: the client opens a new one for the same
			// player, says "renewed", and accepts seqs from 1 again.
			s.expire(t, sid)
			p.WaitFor(t, `cometTest.state().log.statuses.includes("renewed") && cometTest.state().status === "open"`)
			st = state(t, p)
			if st.SID == sid || st.SID == "" {
				t.Fatalf("sid %q after renewal (was %q)", st.SID, sid)
			}
			publishN(t, s, st.SID, 10, 12)
			waitCount(t, p, "test.n", 12)
			checkDelivery(t, state(t, p), 12, 2)
			if st := state(t, p); len(st.Log.Errors) > 0 {
				t.Errorf("client errors: %v", st.Log.Errors)
			}
			// The cut and the expiry make the browser log failed loads; nothing else.
			if errs := appErrors(p); len(errs) > 0 {
				t.Errorf("page errors: %v", errs)
			}
		})
	}
}

func TestClientFallsBackPastSilentStreams(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	// A buffering proxy: each streaming response's headers pass, its body never does.
	s.faults.set(func(f *faults) { f.silent = map[string]bool{"multipart": true, "sse": true, "iframe": true} })
	p := startClient(t, s, `{openTimeoutMs: 800, pingIntervalMs: 0, backoff: {baseMs: 100}}`)
	p.SetTimeout(20 * time.Second)
	p.WaitFor(t, `cometTest.state().transport === "longpoll" && cometTest.state().status === "open"`)
	sid := state(t, p).SID
	publishN(t, s, sid, 0, 3)
	waitCount(t, p, "test.n", 3)
	checkDelivery(t, state(t, p), 3, 1)
	s.faults.mu.Lock()
	n := s.faults.sessions
	s.faults.mu.Unlock()
	if n != 1 {
		t.Errorf("%d sessions; falling back must keep the session", n)
	}
}

func TestClientForcedTransportDoesNotFallBack(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	s.faults.set(func(f *faults) { f.silent = map[string]bool{"multipart": true} })
	p := startClient(t, s, `{transport: "multipart", openTimeoutMs: 300, pingIntervalMs: 0, backoff: {baseMs: 50, maxMs: 200}}`)
	p.WaitFor(t, `cometTest.state().stats.reconnects >= 3`)
	st := state(t, p)
	if st.Transport != "multipart" || st.Status == "open" {
		t.Errorf("forced multipart behind a silent proxy: transport %q, status %q", st.Transport, st.Status)
	}
	s.faults.set(func(f *faults) { f.silent = nil })
	p.WaitFor(t, `cometTest.state().status === "open"`)
}

// A server that does not serve a transport answers 404 there; the client must
// not mistake that for an expired session forever.
func TestClientSkipsUnservedTransport(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	s.faults.set(func(f *faults) { f.notFound = map[string]bool{"multipart": true} })
	p := startClient(t, s, `{pingIntervalMs: 0, backoff: {baseMs: 50}}`)
	p.WaitFor(t, `cometTest.state().transport === "sse" && cometTest.state().status === "open"`)
	s.faults.mu.Lock()
	n := s.faults.sessions
	s.faults.mu.Unlock()
	if n > 3 {
		t.Errorf("%d sessions opened to find a working transport", n)
	}
}

// Upstream: 150 pings go up in order, batched, one POST at a time; a failed
// POST is resent as is and the server takes each seq once; a refused one is
// reported and dropped.
func TestClientUpstream(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	s.faults.set(func(f *faults) { f.sendDelay, f.failSends = 30*time.Millisecond, 1 })
	p := startClient(t, s, `{transport: "multipart", pingIntervalMs: 0, backoff: {baseMs: 50}}`)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	const n = 150
	Eval[[]int](t, p, fmt.Sprintf(`cometTest.sendMany("sys.ping", %d, "t")`, n))
	waitCount(t, p, "sys.pong", n)
	st := state(t, p)

	got := s.faults.received(st.SID)
	if len(got) != n {
		t.Fatalf("server took %d events, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Seq != i+1 || string(e.Data) != fmt.Sprintf(`{"t":%d}`, i) {
			t.Fatalf("event %d taken as seq %d data %s", i, e.Seq, e.Data)
		}
	}
	for i, e := range st.ofType("sys.pong") {
		if string(e.Data) != fmt.Sprintf(`{"t":%d}`, i) {
			t.Fatalf("pong %d = %s, out of order", i, e.Data)
		}
	}
	s.faults.mu.Lock()
	bodies, maxInFlight := s.faults.bodies, s.faults.maxInFlight
	s.faults.mu.Unlock()
	if maxInFlight != 1 {
		t.Errorf("%d POSTs in flight at once, want 1", maxInFlight)
	}
	if len(bodies) < 2 || !slices.Equal(seqs(bodies[0]), seqs(bodies[1])) {
		t.Errorf("the failed POST was not resent with the same seqs")
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
	s.faults.set(func(f *faults) { f.refuse, f.sendDelay = 1, 0 })
	Eval[int](t, p, `cometTest.send("sys.ping", {t: 1001})`)
	p.WaitFor(t, `cometTest.state().log.errors.length === 1`)
	Eval[int](t, p, `cometTest.send("sys.ping", {t: 1002})`)
	waitCount(t, p, "sys.pong", n+1)
	st = state(t, p)
	if !strings.Contains(st.Log.Errors[0], "HTTP 400") {
		t.Errorf("error %q does not name the status", st.Log.Errors[0])
	}
	if e := st.ofType("sys.pong"); string(e[n].Data) != `{"t":1002}` {
		t.Errorf("pong %s, want the second ping only", e[n].Data)
	}
	// An event the server cannot take is answered with sys.error naming its seq.
	ref := Eval[int](t, p, `cometTest.send("no.such", {})`)
	waitCount(t, p, "sys.error", 1)
	var e struct {
		Code string `json:"code"`
		Ref  int    `json:"ref"`
	}
	if err := json.Unmarshal(state(t, p).ofType("sys.error")[0].Data, &e); err != nil || e.Ref != ref || e.Code != "unknown_type" {
		t.Errorf("sys.error %+v (%v), want unknown_type for ref %d", e, err, ref)
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
	s := newSite(t, siteOptions{})
	p := startClient(t, s, `{transport: "multipart", pingIntervalMs: 0}`)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	sid := state(t, p).SID
	start := time.Now()
	s.publish(t, sid, "sys.restart", map[string]int{"reconnect_ms": 400})
	p.WaitFor(t, `cometTest.state().log.statuses.includes("reconnecting")`)
	p.WaitFor(t, `cometTest.state().status === "open"`)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("reconnected after %v; sys.restart asked for about 400ms", d)
	}
	publishN(t, s, sid, 0, 2)
	waitCount(t, p, "test.n", 2)
	if opens := s.faults.openCount("multipart"); opens != 2 {
		t.Errorf("%d downstreams, want 2 (one before, one after the restart)", opens)
	}
}
