package conform

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testClient is a small protocol client. A correct one drops seq <= last and
// resends an unanswered POST as is; naive takes every event's seq as its
// last, duplicates included.
type testClient struct {
	base  string
	tr    string
	naive bool
}

// run goes through the mock's script: it reads, reconnects with last after
// every cut or end, and sends one ping, done when its pong arrives.
func (c testClient) run(t *testing.T) []string {
	_, problems := c.runSession(t)
	return problems
}

// runSession is run, returning the session too.
func (c testClient) runSession(t *testing.T) (*session, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := &runner{cfg: Config{Base: c.base}, client: newClient()}
	s, _, err := r.newSession(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ping := []Event{s.ev("sys.ping", map[string]float64{"t": 7.5})}
	posted := make(chan struct{})
	go func() { // one POST in flight, resent as is until answered
		defer close(posted)
		b, _ := json.Marshal(ping)
		for ctx.Err() == nil {
			if code, _, err := s.post(ctx, b); err == nil && code == http.StatusNoContent {
				return
			}
		}
	}()
	var last int64
	var problems []string
	for ctx.Err() == nil {
		st, err := s.open(ctx, c.tr, last, streamOpt{wait: 1})
		if err != nil {
			t.Fatalf("open %s: %v", c.tr, err)
		}
		for {
			f, err := st.next()
			for _, e := range f.batch {
				if e.Seq <= last && !c.naive {
					continue // a duplicate: drop it
				}
				last = e.Seq
				if e.Type == "sys.pong" && pongT(e) == 7.5 {
					st.Close()
					<-posted
					return s, append(problems, st.problems()...)
				}
			}
			if err != nil || f.end {
				break
			}
		}
		st.Close()
		problems = append(problems, st.problems()...)
	}
	t.Fatalf("the client did not finish the script: last %d", last)
	return nil, nil
}

func mockFindings(t *testing.T, base string) MockReport {
	t.Helper()
	resp, err := http.Get(base + "/conform/report")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep MockReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestMockCorrectClient: a client that follows PROTOCOL.md passes every
// finding on every transport, and the mock's framing passes the suite's parser.
func TestMockCorrectClient(t *testing.T) {
	for _, tr := range []string{"multipart", "sse", "iframe", "poll", "longpoll"} {
		t.Run(tr, func(t *testing.T) {
			var out bytes.Buffer
			m := &Mock{Out: &out, Heartbeat: 200 * time.Millisecond}
			srv := httptest.NewServer(m.Handler())
			defer srv.Close()
			problems := testClient{base: srv.URL, tr: tr}.run(t)
			for _, p := range problems {
				// The parser notes the mock's deliberate duplicate; any other problem is the mock's framing.
				if !strings.Contains(p, "seq 8 (conform.event) after seq 9") {
					t.Errorf("the mock's framing: %s", p)
				}
			}
			rep := mockFindings(t, srv.URL)
			if rep.Failed != 0 || len(rep.Done) != 1 {
				t.Fatalf("a correct client: %d failed, done %v:\n%s", rep.Failed, rep.Done, out.String())
			}
			for _, want := range []string{"resume after a cut in the middle of a batch", "resume after a duplicate seq", "resume after a recycle end frame", "resume after sys.reset", "resend an unanswered POST as is", "script done"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("no finding %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestMockNaiveClient: a client that takes a duplicate's seq as its last is
// told it resumed wrongly, on stdout and in GET /conform/report.
func TestMockNaiveClient(t *testing.T) {
	var out bytes.Buffer
	m := &Mock{Out: &out, Heartbeat: 200 * time.Millisecond}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	testClient{base: srv.URL, tr: "sse", naive: true}.run(t)
	rep := mockFindings(t, srv.URL)
	var found bool
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Name, "resume after a duplicate seq") {
			found = !f.Pass && strings.Contains(f.Detail, "last=8, want 9")
		}
	}
	if !found || rep.Failed == 0 || !strings.Contains(out.String(), "FAIL ") {
		t.Fatalf("a client resuming at a duplicate's seq was not reported:\n%s", out.String())
	}
}

// TestMockReplaced: after the script, a newer downstream ends the held one
// with {"end":"replaced"}.
func TestMockReplaced(t *testing.T) {
	m := &Mock{Heartbeat: 200 * time.Millisecond}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	s, _ := testClient{base: srv.URL, tr: "sse"}.runSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := s.open(ctx, "multipart", 52, streamOpt{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if f, err := a.next(); err != nil || !f.heartbeat() {
		t.Fatalf("first frame %q %v", f.raw, err)
	}
	b, err := s.open(ctx, "iframe", 52, streamOpt{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for {
		f, err := a.next()
		if err != nil {
			t.Fatalf("the replaced stream: %v %v", err, a.problems())
		}
		if f.end {
			if f.why != "replaced" || len(a.problems()) > 0 {
				t.Fatalf("end frame %q, problems %v; want replaced", f.why, a.problems())
			}
			return
		}
	}
}
