package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"comet"
	"comet/server/push"
)

// muxFrame is one frame of a mux stream: a session's batch or end (SID set),
// a heartbeat, or the stream's own end.
type muxFrame struct {
	SID    string
	Events []wireEvent
	End    string
	Beat   bool
}

// muxStream reads a mux response frame by frame.
type muxStream struct {
	resp   *http.Response
	frames chan muxFrame
	err    chan error // the read's end: nil after a clean stream end
}

func muxURL(base, transport string, sessions map[string]uint64, order ...string) string {
	q := url.Values{}
	for _, sid := range order {
		q.Add("s", fmt.Sprintf("%s:%d", sid, sessions[sid]))
	}
	return base + "/comet/mux/" + transport + "?" + q.Encode()
}

// openMux opens a mux with the player's token for the sids in order, each
// resuming after its last in sessions.
func openMux(t testing.TB, base, token, transport string, sessions map[string]uint64, order ...string) *muxStream {
	t.Helper()
	req, _ := http.NewRequest("GET", muxURL(base, transport, sessions, order...), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open mux: %v", err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("open mux: %d %s", resp.StatusCode, b)
	}
	m := &muxStream{resp: resp, frames: make(chan muxFrame, 4096), err: make(chan error, 1)}
	t.Cleanup(func() { resp.Body.Close() })
	go m.read(transport)
	return m
}

// read splits the body into frames by the transport's framing (the same
// lines the stream tests read) and decodes each payload.
func (m *muxStream) read(transport string) {
	defer close(m.frames)
	br := bufio.NewReaderSize(m.resp.Body, 1<<20)
	clean := false
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		var payload string
		switch transport {
		case "multipart":
			if strings.HasPrefix(line, "[") || strings.HasPrefix(line, "{") {
				payload = line
			}
		case "sse":
			if strings.HasPrefix(line, "id:") {
				m.err <- fmt.Errorf("a mux SSE event has an id line: %q", line)
				return
			}
			if p, ok := strings.CutPrefix(line, "data: "); ok {
				payload = p
			}
		case "iframe":
			if c := iframeCall.FindStringSubmatch(line); c != nil {
				if !strings.Contains(line, `parent.__comet("mux",`) {
					m.err <- fmt.Errorf("iframe mux call not named mux: %q", line)
					return
				}
				payload = c[1]
			}
		}
		if payload != "" {
			f, perr := decodeMuxFrame(payload)
			if perr != nil {
				m.err <- perr
				return
			}
			if f.SID == "" && f.End != "" {
				clean = true
			}
			m.frames <- f
		}
		if err != nil {
			if err == io.EOF && clean {
				err = nil
			}
			m.err <- err
			return
		}
	}
}

func decodeMuxFrame(payload string) (muxFrame, error) {
	if strings.HasPrefix(payload, "[") {
		var evs []wireEvent
		if err := json.Unmarshal([]byte(payload), &evs); err != nil || len(evs) != 0 {
			return muxFrame{}, fmt.Errorf("a mux array frame must be an empty heartbeat: %q %v", payload, err)
		}
		return muxFrame{Beat: true}, nil
	}
	var f struct {
		SID   string       `json:"sid"`
		Batch *[]wireEvent `json:"batch"`
		End   string       `json:"end"`
	}
	if err := json.Unmarshal([]byte(payload), &f); err != nil {
		return muxFrame{}, fmt.Errorf("bad mux frame %q: %v", payload, err)
	}
	if (f.Batch == nil) == (f.End == "") || f.SID == "" && f.Batch != nil {
		return muxFrame{}, fmt.Errorf("a mux frame is a session's batch or an end: %q", payload)
	}
	out := muxFrame{SID: f.SID, End: f.End}
	if f.Batch != nil {
		out.Events = *f.Batch
	}
	return out, nil
}

// collect reads frames until until says stop, failing after timeout; the
// events of each sid in arrival order, and the end frames seen.
func (m *muxStream) collect(t testing.TB, timeout time.Duration, evs map[string][]wireEvent, ends map[string]string, until func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for !until() {
		select {
		case f, ok := <-m.frames:
			if !ok {
				t.Fatalf("mux ended (%v) before the test saw what it waits for", <-m.err)
			}
			if f.SID != "" && f.End != "" {
				ends[f.SID] = f.End
			} else if f.SID != "" {
				evs[f.SID] = append(evs[f.SID], f.Events...)
			} else if f.End != "" {
				ends[""] = f.End
			}
		case <-deadline:
			t.Fatalf("mux: not there within %v: events %v, ends %v", timeout, evs, ends)
		}
	}
}

// ofTest keeps the test's own events (test.n), dropping the lobby's.
func ofTest(evs []wireEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Type == "test.n" || e.Type == "sys.reset" {
			out = append(out, fmt.Sprintf("%d:%s:%s", e.Seq, e.Type, e.Data))
		}
	}
	return out
}

// testTexts returns the data of the test.n events, unquoted, in order.
func testTexts(evs []wireEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Type == "test.n" {
			out = append(out, strings.Trim(string(e.Data), `"`))
		}
	}
	return out
}

// lastTest is the seq of a sid's last test.n event (or 0).
func lastTest(evs []wireEvent, data string) bool {
	for _, e := range evs {
		if e.Type == "test.n" && string(e.Data) == data {
			return true
		}
	}
	return false
}

// seqsOnce fails when a sid's events repeat a seq or go back.
func seqsOnce(t testing.TB, sid string, evs []wireEvent) {
	t.Helper()
	var prev uint64
	for _, e := range evs {
		if e.Seq <= prev {
			t.Fatalf("%s: seq %d after %d (repeated or out of order)", sid, e.Seq, prev)
		}
		prev = e.Seq
	}
}

var muxTransports = []string{"multipart", "sse", "iframe"}

// threeTabs starts a server and opens three sessions of one player.
func threeTabs(t *testing.T) (ts *testServer, a, b, c *client) {
	ts = startServer(t, nil)
	a = newClient(t, ts.URL)
	return ts, a, openSession(t, ts.URL, a.Token), openSession(t, ts.URL, a.Token)
}

// TestMuxCarriesSessions: three tabs of one player share one mux on each
// transport; every tab's events arrive framed with its sid, exactly once and
// in order; another player's sid and an unknown one are refused ("gone")
// without harming the others, and the foreign session keeps its own stream.
func TestMuxCarriesSessions(t *testing.T) {
	for _, tr := range muxTransports {
		t.Run(tr, func(t *testing.T) {
			ts, a, b, c := threeTabs(t)
			stranger := newClient(t, ts.URL)
			own := stranger.open("sse", 0)
			defer own.close()
			own.waitType(t, "lobby.rooms", 5*time.Second)
			unknown := "s_" + push.RandomID(16)
			last := map[string]uint64{}
			m := openMux(t, ts.URL, a.Token, tr, last, a.SID, stranger.SID, b.SID, unknown, c.SID)

			sids := []string{a.SID, b.SID, c.SID}
			for i := range 5 {
				for j, sid := range sids {
					s, _ := ts.Hub().Session(sid)
					s.Send(comet.MustMessage("test.n", fmt.Sprintf("%d-%d", j, i)))
				}
			}
			evs, ends := map[string][]wireEvent{}, map[string]string{}
			m.collect(t, 10*time.Second, evs, ends, func() bool {
				for j, sid := range sids {
					if !lastTest(evs[sid], fmt.Sprintf(`"%d-4"`, j)) {
						return false
					}
				}
				return ends[stranger.SID] != "" && ends[unknown] != ""
			})
			for j, sid := range sids {
				seqsOnce(t, sid, evs[sid])
				got := testTexts(evs[sid])
				want := []string{}
				for i := range 5 {
					want = append(want, fmt.Sprintf(`%d-%d`, j, i))
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("tab %d got %v, want %v", j, got, want)
				}
			}
			if ends[stranger.SID] != "gone" || ends[unknown] != "gone" {
				t.Errorf("refused sids ended %q and %q, want gone", ends[stranger.SID], ends[unknown])
			}
			if len(evs[stranger.SID]) > 0 {
				t.Errorf("another player's events reached the mux: %v", evs[stranger.SID])
			}
			// The stranger's own stream was not touched: it still delivers.
			ss, _ := ts.Hub().Session(stranger.SID)
			ss.Send(comet.MustMessage("test.n", "mine"))
			if ev := own.waitType(t, "test.n", 5*time.Second); string(ev.Data) != `"mine"` {
				t.Errorf("stranger's stream got %s", ev.Data)
			}
			want := 1.0 // one stream for three sessions
			if tr == "sse" {
				want++ // and the stranger's own
			}
			if n := metricNamed(t, ts.metrics.Registry, "comet_streams", tr); n != want {
				t.Errorf("comet_streams{%s} = %v, want %v", tr, n, want)
			}
		})
	}
}

// TestMuxResumesEachSession: a mux resumes every session after its own last
// seq (nothing lost, nothing repeated across a reopen), and a session whose
// cursor cannot be served gets sys.reset without disturbing the others.
func TestMuxResumesEachSession(t *testing.T) {
	for _, tr := range muxTransports {
		t.Run(tr, func(t *testing.T) {
			ts := startServer(t, nil)
			a := newClient(t, ts.URL)
			b := openSession(t, ts.URL, a.Token)
			sa, _ := ts.Hub().Session(a.SID)
			sb, _ := ts.Hub().Session(b.SID)
			send := func(from, to int) {
				for i := from; i < to; i++ {
					sa.Send(comet.MustMessage("test.n", fmt.Sprintf("a%d", i)))
					sb.Send(comet.MustMessage("test.n", fmt.Sprintf("b%d", i)))
				}
			}
			send(0, 4)
			last := map[string]uint64{a.SID: 0, b.SID: 0}
			all := map[string][]wireEvent{}
			for round := range 3 {
				m := openMux(t, ts.URL, a.Token, tr, last, a.SID, b.SID)
				evs, ends := map[string][]wireEvent{}, map[string]string{}
				end := fmt.Sprint(round*4 + 3)
				m.collect(t, 10*time.Second, evs, ends, func() bool {
					return lastTest(evs[a.SID], `"a`+end+`"`) && lastTest(evs[b.SID], `"b`+end+`"`)
				})
				m.resp.Body.Close()
				for sid, e := range evs {
					all[sid] = append(all[sid], e...)
					last[sid] = e[len(e)-1].Seq
				}
				// Sent while no mux is open: the next one resumes with them.
				checkFor(t, 5*time.Second, func() error {
					if sa.Stats().Attached || sb.Stats().Attached {
						return fmt.Errorf("still attached")
					}
					return nil
				})
				send((round+1)*4, (round+2)*4)
			}
			for _, c := range []struct {
				sid, p string
			}{{a.SID, "a"}, {b.SID, "b"}} {
				seqsOnce(t, c.sid, all[c.sid])
				got := testTexts(all[c.sid])
				var want []string
				for i := range 12 {
					want = append(want, fmt.Sprintf("%s%d", c.p, i))
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s over three muxes: %v, want %v", c.p, got, want)
				}
			}

			// A cursor from the future cannot be served: that session gets a
			// reset after it, the other carries on from its own cursor.
			future := sa.Stats().Seq + 100
			m := openMux(t, ts.URL, a.Token, tr, map[string]uint64{a.SID: future, b.SID: last[b.SID]}, a.SID, b.SID)
			sb.Send(comet.MustMessage("test.n", "after"))
			evs, ends := map[string][]wireEvent{}, map[string]string{}
			m.collect(t, 10*time.Second, evs, ends, func() bool {
				return len(ofTest(evs[a.SID])) > 0 && lastTest(evs[b.SID], `"after"`)
			})
			if got := ofTest(evs[a.SID]); got[0] != fmt.Sprintf("%d:sys.reset:{}", future+1) {
				t.Errorf("future cursor: %v, want a sys.reset numbered %d", got, future+1)
			}
			// b resumes exactly after its cursor: the last round's sends, then the new one.
			if got := testTexts(evs[b.SID]); strings.Join(got, ",") != "b12,b13,b14,b15,after" {
				t.Errorf("b beside a's reset: %v, want b12..b15 then after", got)
			}
		})
	}
}

// TestMuxSessionLeavesAlone: a tab that opens its own stream takes its
// session off the mux ("replaced" for that sid) while the others go on; a
// session that ends gets "ended"; the mux ends once no session is left.
func TestMuxSessionLeavesAlone(t *testing.T) {
	for _, tr := range muxTransports {
		t.Run(tr, func(t *testing.T) {
			ts, a, b, c := threeTabs(t)
			m := openMux(t, ts.URL, a.Token, tr, map[string]uint64{}, a.SID, b.SID, c.SID)
			own := a.open("multipart", 0)
			defer own.close()
			evs, ends := map[string][]wireEvent{}, map[string]string{}
			m.collect(t, 10*time.Second, evs, ends, func() bool { return ends[a.SID] != "" })
			if ends[a.SID] != "replaced" {
				t.Errorf("a's end on the mux: %q, want replaced", ends[a.SID])
			}
			sb, _ := ts.Hub().Session(b.SID)
			sb.Send(comet.MustMessage("test.n", "still"))
			m.collect(t, 10*time.Second, evs, ends, func() bool { return lastTest(evs[b.SID], `"still"`) })

			sc, _ := ts.Hub().Session(c.SID)
			ts.Hub().Remove(t.Context(), sc)
			m.collect(t, 10*time.Second, evs, ends, func() bool { return ends[c.SID] != "" })
			if ends[c.SID] != "ended" {
				t.Errorf("c's end: %q, want ended", ends[c.SID])
			}
			b.open("sse", 0).close()
			m.collect(t, 10*time.Second, evs, ends, func() bool { return ends[""] != "" })
			if ends[b.SID] != "replaced" || ends[""] != "replaced" {
				t.Errorf("ends %v: b replaced, then the mux itself", ends)
			}
			if err := <-m.err; err != nil {
				t.Errorf("mux did not end cleanly: %v", err)
			}
		})
	}
}

// TestMuxRequests: the request is checked whole before anything is held.
func TestMuxRequests(t *testing.T) {
	ts := startServer(t, nil)
	a := newClient(t, ts.URL)
	ok := "s=" + a.SID + ":0"
	many := make([]string, push.MaxMuxSessions+1)
	for i := range many {
		many[i] = "s=s_" + push.RandomID(8) + ":0"
	}
	for _, c := range []struct {
		name, path, token string
		want              int
	}{
		{"no sessions", "/comet/mux/sse", a.Token, 400},
		{"no last", "/comet/mux/sse?s=" + a.SID, a.Token, 400},
		{"bad last", "/comet/mux/sse?s=" + a.SID + ":-1", a.Token, 400},
		{"bad sid", "/comet/mux/sse?s=s_%3Cb%3E:0", a.Token, 400},
		{"twice", "/comet/mux/sse?" + ok + "&" + ok, a.Token, 400},
		{"too many", "/comet/mux/sse?" + strings.Join(many, "&"), a.Token, 400},
		{"no token", "/comet/mux/sse?" + ok, "", 401},
		{"poll", "/comet/mux/poll?" + ok, a.Token, 404},
		{"ws", "/comet/mux/ws?" + ok, a.Token, 404},
	} {
		req, _ := http.NewRequest("GET", ts.URL+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		} else if c.want == 400 && !strings.Contains(string(body), `"code":"invalid"`) {
			t.Errorf("%s: body %s, want an error with code invalid", c.name, body)
		}
	}
	if s, _ := ts.Hub().Session(a.SID); s.Stats().Attached {
		t.Error("a refused mux attached the session")
	}
}

// TestSlowMuxIsCut: a mux whose client stops reading backs up every session
// on it (droppable messages are dropped for each), then is cut like a slow
// stream; its sessions are left to resume on the next mux.
func TestSlowMuxIsCut(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Hub.WriteTimeout = 300 * time.Millisecond
		c.Hub.RecycleBytes = 1 << 30
	})
	a := newClient(t, ts.URL)
	b := openSession(t, ts.URL, a.Token)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return err
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /comet/mux/multipart?s=%s:0&s=%s:0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", a.SID, b.SID, a.Token)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("open stalled mux: %v %v", resp, err)
	}
	sa, _ := ts.Hub().Session(a.SID)
	sb, _ := ts.Hub().Session(b.SID)
	fillUntilBacklogged(t, sa)
	if !sb.Backlogged() {
		t.Error("the other session on the stalled mux is not marked backlogged")
	}
	checkFor(t, 10*time.Second, func() error {
		if n := metricNamed(t, ts.metrics.Registry, "comet_slow_consumers_cut_total", ""); n < 1 {
			return fmt.Errorf("slow consumers cut = %v", n)
		}
		if sa.Stats().Attached || sb.Stats().Attached {
			return fmt.Errorf("sessions still on the stalled mux")
		}
		return nil
	})
	if sa.Backlogged() || sb.Backlogged() {
		t.Fatal("sessions still marked backlogged after their mux was cut")
	}
	// Both resume on a new mux: a's big events from its cursor (or a reset).
	m := openMux(t, ts.URL, a.Token, "sse", map[string]uint64{}, a.SID, b.SID)
	sb.Send(comet.MustMessage("test.n", "back"))
	evs, ends := map[string][]wireEvent{}, map[string]string{}
	m.collect(t, 10*time.Second, evs, ends, func() bool { return lastTest(evs[b.SID], `"back"`) && len(evs[a.SID]) > 0 })
}
