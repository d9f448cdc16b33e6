package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"comet"
	"comet/server/push"
)

// muxListRefusals are the texts muxList may refuse with; the one naming a
// session twice ends with that (valid) sid.
var muxListRefusals = []string{
	"a mux needs at least one s=<sid>:<last>",
	"a mux carries at most 32 sessions",
	"s must be <sid>:<last>",
	"s must be <sid>:<last>, sid a session id (s_ and up to 62 of A-Z a-z 0-9 - _)",
	"s must be <sid>:<last>, last a non-negative integer",
}

// checkMuxList fails unless muxList's answer for vals keeps its rules: a
// refusal is 400 invalid with one of the known texts, and an accepted list
// is 1 to MaxMuxSessions valid, distinct sids with exactly the lasts asked.
func checkMuxList(t *testing.T, vals []string) ([]muxAsk, error) {
	t.Helper()
	got, err := muxList(vals)
	if err != nil {
		if comet.ErrorCode(err) != comet.EINVALID {
			t.Fatalf("%q: refused with code %q (%v), want invalid", vals, comet.ErrorCode(err), err)
		}
		msg := comet.ErrorMessage(err)
		known := false
		for _, r := range muxListRefusals {
			known = known || msg == r
		}
		if sid, ok := strings.CutPrefix(msg, "s names session "); ok {
			sid, _ = strings.CutSuffix(sid, " twice")
			known = push.ValidSID(sid)
		}
		if !known {
			t.Fatalf("%q: refused with an unknown text %q", vals, msg)
		}
		return nil, err
	}
	if len(got) != len(vals) || len(got) == 0 || len(got) > push.MaxMuxSessions {
		t.Fatalf("%q: accepted %d sessions", vals, len(got))
	}
	seen := map[string]bool{}
	for i, a := range got {
		sid, n, _ := strings.Cut(vals[i], ":")
		last, perr := strconv.ParseUint(n, 10, 64)
		if a.sid != sid || perr != nil || a.last != last || !push.ValidSID(a.sid) || seen[a.sid] {
			t.Fatalf("%q: entry %d accepted as %+v", vals, i, a)
		}
		seen[a.sid] = true
	}
	return got, nil
}

// FuzzMuxList feeds arbitrary query strings to the mux's ?s= list parser and
// to the real route: neither panics, a refusal is a 400 {"error","code"} with
// one of the known texts, and a list that parses goes on to the token check.
func FuzzMuxList(f *testing.F) {
	for _, q := range []string{
		"s=s_AbC-_09:0",
		"s=s_A:0&s=s_B:12",
		"s=s_A:18446744073709551615",
		"s=s_A:18446744073709551616",
		"s=s_A:-1", "s=s_A:+1", "s=s_A:1.5", "s=s_A:", "s=s_A", "s=:1", "s=", "",
		"s=s_A:1&s=s_A:2",
		"s=s_%3Cb%3E:0", "s=x_A:0", "s=s_:0", "s=s_A:0:1", "s=s_A%00:1",
		"s=s_" + strings.Repeat("a", 62) + ":1",
		"s=s_" + strings.Repeat("a", 63) + ":1",
		"s=s_A:0&t=1", "s=s_A:0;s=s_B:1", "s=s_A%3A0", "%zz", "s=s_A:0&s",
		strings.Repeat("s=s_A:0&", 33),
	} {
		f.Add(q)
	}
	ts := startServer(f, nil)
	h := ts.Handler()
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // as the route reads it: malformed pairs dropped
		_, perr := checkMuxList(t, q["s"])

		req := httptest.NewRequest("GET", "/comet/mux/sse", nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req) // no token: a list that parses is refused 401 before any stream
		var body struct{ Error, Code string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%q: %d answered %q, not an error object", raw, rec.Code, rec.Body.String())
		}
		want := answer{http.StatusUnauthorized, comet.EUNAUTHORIZED, "missing player token"}
		if perr != nil {
			want = answer{http.StatusBadRequest, comet.EINVALID, comet.ErrorMessage(perr)}
		}
		if got := (answer{rec.Code, body.Code, body.Error}); got != want {
			t.Fatalf("%q: answered %+v, want %+v", raw, got, want)
		}
	})
}
