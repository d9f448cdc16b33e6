package conform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/server"
	"comet/server/bus"
	"comet/server/push"
	"comet/server/sqlite"
)

// startComet runs the real server in this process on a fresh database with
// a short heartbeat and quick rooms, and returns its base URL.
func startComet(t testing.TB) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "comet.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Store: db, Bus: bus.New(), Logger: log,
		Hub:        push.Config{Heartbeat: time.Second, Grace: 5 * time.Second},
		AdminToken: testAdminToken,
		Limits:     server.Limits{SessionsPerMinute: -1, StreamsPerIP: -1, SessionsPerIP: -1, RoomsPerMinute: -1},
		Abuse:      server.AbuseLimits{ChatPerIPPerMinute: -1, JoinCodeFailsPerMinute: -1},
		Game:       gameloop.ManagerConfig{Modes: modes.All(), BotFillDelay: 100 * time.Millisecond, MaxRoomsPerCreator: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = db.Close()
	})
	return "http://" + ln.Addr().String()
}

const testAdminToken = "conform-admin-token-0123456789"

var summaryRE = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

// knownDivergent names the checks the real server fails because it and
// PROTOCOL.md disagree, with a text every one of their failures holds; the
// test requires exactly those failures (so a fix, or a new failure, shows).
var knownDivergent = map[string]string{}

// TestConformRealServer runs every check against the real server: none may
// fail but the known divergences.
func TestConformRealServer(t *testing.T) {
	base := startComet(t)
	var out bytes.Buffer
	rep := Run(context.Background(), Config{Base: base, Out: &out, Timeout: 20 * time.Second, AdminToken: testAdminToken})
	for _, r := range rep.Results {
		why, known := knownDivergent[r.Name]
		switch {
		case !r.Pass && !known:
			t.Errorf("FAIL %s — %s", r.Name, r.Detail)
		case r.Pass && known:
			t.Errorf("%s passes now: remove it from knownDivergent (%s)", r.Name, why)
		case known && strings.Count(r.Detail, why) != strings.Count(r.Detail, "; ")+1:
			t.Errorf("%s fails beyond its known divergence: %s", r.Name, r.Detail)
		}
	}
	if n := len(allChecks()) + len(adminChecks()); rep.Passed+rep.Failed != n {
		t.Errorf("%d results for %d checks", rep.Passed+rep.Failed, n)
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if m := summaryRE.FindStringSubmatch(lines[len(lines)-1]); m == nil {
		t.Fatalf("last line %q, want `N passed, M failed`", lines[len(lines)-1])
	}
	for _, l := range lines[1 : len(lines)-1] {
		if !(strings.HasPrefix(l, "PASS ") || strings.HasPrefix(l, "FAIL ")) || !strings.Contains(l, " — ") {
			t.Errorf("line %q, want PASS|FAIL name — detail", l)
		}
	}
}

// proxy forwards every request to base, passing each response line through
// edit (nil keeps it): a deliberately broken server made of the real one.
func proxy(t testing.TB, base string, edit func(r *http.Request, status *int, line []byte) []byte) string {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		out.Header = r.Header.Clone()
		resp, err := tr.RoundTrip(out)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		if resp.Close {
			w.Header().Set("Connection", "close")
		}
		status := resp.StatusCode
		br := bufio.NewReader(resp.Body)
		first, rerr := br.ReadBytes('\n')
		if edit != nil {
			first = edit(r, &status, first)
		}
		w.WriteHeader(status)
		line := first
		for {
			w.Write(line)
			if br.Buffered() == 0 {
				http.NewResponseController(w).Flush()
			}
			if rerr != nil {
				if rerr != io.EOF {
					panic(http.ErrAbortHandler)
				}
				return
			}
			line, rerr = br.ReadBytes('\n')
			if edit != nil {
				s := status
				line = edit(r, &s, line)
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// TestConformBrokenServers runs the suite against the real server behind
// proxies that each break one promise: the matching checks must fail, and a
// check the breakage does not touch must still pass.
func TestConformBrokenServers(t *testing.T) {
	base := startComet(t)
	cases := []struct {
		name       string
		edit       func(r *http.Request, status *int, line []byte) []byte
		only       string
		fail, pass []string
	}{
		{
			name: "500 for a bad token",
			edit: func(r *http.Request, status *int, line []byte) []byte {
				if *status == http.StatusUnauthorized {
					*status = http.StatusInternalServerError
				}
				return line
			},
			only: `^session\.(auth|create)$`,
			fail: []string{"session.auth"}, pass: []string{"session.create"},
		},
		{
			name: "SSE without its retry line",
			edit: func(r *http.Request, status *int, line []byte) []byte {
				if strings.HasSuffix(r.URL.Path, "/sse") && string(line) == "retry: 1000\n" {
					return nil
				}
				return line
			},
			only: `^transport\.(sse|multipart)\.framing$`,
			fail: []string{"transport.sse.framing"}, pass: []string{"transport.multipart.framing"},
		},
		{
			name: "poll drops the first event on resume",
			edit: func(r *http.Request, status *int, line []byte) []byte {
				if !strings.HasSuffix(r.URL.Path, "/poll") || r.URL.Query().Get("last") == "0" || *status != 200 {
					return line
				}
				var batch []json.RawMessage
				if json.Unmarshal(line, &batch) != nil || len(batch) == 0 {
					return line
				}
				b, _ := json.Marshal(batch[1:])
				return b
			},
			only: `^resume\.(poll|sse)\.cuts$`,
			fail: []string{"resume.poll.cuts"}, pass: []string{"resume.sse.cuts"},
		},
		{
			name: "multipart boundary without its CRLF",
			edit: func(r *http.Request, status *int, line []byte) []byte {
				if strings.HasSuffix(r.URL.Path, "/multipart") && bytes.HasPrefix(line, []byte("--comet-")) {
					return bytes.Replace(line, []byte("\r\n"), []byte("\n"), 1)
				}
				return line
			},
			only: `^transport\.(multipart|iframe)\.framing$`,
			fail: []string{"transport.multipart.framing"}, pass: []string{"transport.iframe.framing"},
		},
	}
	type sseState struct {
		empties   int
		dropBlank bool
	}
	var sse sync.Map // per SSE request: empty batches seen, and whether the next blank line goes too
	cases = append(cases, struct {
		name       string
		edit       func(r *http.Request, status *int, line []byte) []byte
		only       string
		fail, pass []string
	}{
		name: "SSE without heartbeats after the first empty batch",
		edit: func(r *http.Request, status *int, line []byte) []byte {
			if !strings.HasSuffix(r.URL.Path, "/sse") {
				return line
			}
			v, _ := sse.LoadOrStore(r, &sseState{})
			st := v.(*sseState)
			if st.dropBlank && string(line) == "\n" {
				st.dropBlank = false
				return nil
			}
			if string(line) == "data: []\n" {
				if st.empties++; st.empties > 1 {
					st.dropBlank = true
					return nil
				}
			}
			return line
		},
		only: `^transport\.(sse|multipart)\.heartbeat$`,
		fail: []string{"transport.sse.heartbeat"}, pass: []string{"transport.multipart.heartbeat"},
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			rep := Run(context.Background(), Config{Base: proxy(t, base, tc.edit), Out: &out, Timeout: 10 * time.Second, Only: regexp.MustCompile(tc.only)})
			got := map[string]Result{}
			for _, r := range rep.Results {
				got[r.Name] = r
			}
			for _, n := range tc.fail {
				if r, ok := got[n]; !ok || r.Pass {
					t.Errorf("%s passed against a broken server:\n%s", n, out.String())
				}
			}
			for _, n := range tc.pass {
				if r, ok := got[n]; !ok || !r.Pass {
					t.Errorf("%s failed though the breakage does not touch it:\n%s", n, out.String())
				}
			}
			if !strings.Contains(out.String(), "\n"+strings.TrimSpace(summaryRE.FindString(out.String()))) || rep.Failed == 0 {
				t.Errorf("no failure counted:\n%s", out.String())
			}
		})
	}
}
