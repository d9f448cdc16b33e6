package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docs/PROTOCOL.md is a contract: this test reads it and holds the real
// server to it. Each ```json wire <name> block is compared with what the
// server answers (shape and key set, "…" standing for any value; every other
// value exact); each row of a <!-- catalogue: … --> table is triggered and the
// status, code and text compared exactly; every other ```json block must be
// JSON (with N standing for a seq). The framing examples are checked by
// server/push's protocol_doc_test.go against its golden files and the wire.

func readProtocolDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type docBlock struct {
	info, body string
	line       int
}

// fencedBlocks returns every fenced block (indented ones included) with its
// info string.
func fencedBlocks(doc string) []docBlock {
	var out []docBlock
	var cur *docBlock
	var body strings.Builder
	indent := ""
	for i, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &docBlock{info: strings.TrimSpace(trimmed[3:]), line: i + 1}
			indent = line[:len(line)-len(trimmed)]
			body.Reset()
		case cur != nil && strings.TrimSpace(trimmed) == "```":
			cur.body = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(strings.TrimPrefix(line, indent) + "\n")
		}
	}
	return out
}

// sameShape compares a documented JSON value with the server's: "…" in the
// doc matches any scalar; objects must have the same keys; arrays the same
// length; every other value must be equal.
func sameShape(path string, doc, real any) error {
	if s, ok := doc.(string); ok && s == "…" {
		switch real.(type) {
		case map[string]any, []any:
			return fmt.Errorf("%s: the doc has a placeholder, the server %T", path, real)
		}
		return nil
	}
	switch d := doc.(type) {
	case map[string]any:
		r, ok := real.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: the doc has an object, the server %v", path, real)
		}
		dk, rk := keysOf(d), keysOf(r)
		if !slices.Equal(dk, rk) {
			return fmt.Errorf("%s: the doc's keys %v, the server's %v", path, dk, rk)
		}
		for _, k := range dk {
			if err := sameShape(path+"."+k, d[k], r[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		r, ok := real.([]any)
		if !ok || len(r) != len(d) {
			return fmt.Errorf("%s: the doc has %v, the server %v", path, d, real)
		}
		for i := range d {
			if err := sameShape(fmt.Sprintf("%s[%d]", path, i), d[i], r[i]); err != nil {
				return err
			}
		}
		return nil
	default:
		if fmt.Sprint(doc) != fmt.Sprint(real) {
			return fmt.Errorf("%s: the doc says %v, the server %v", path, doc, real)
		}
		return nil
	}
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestProtocolDocWireExamples: every ```json wire block is what the server
// sends, and every other ```json block is at least JSON.
func TestProtocolDocWireExamples(t *testing.T) {
	ts := startServer(t, nil)
	post := func(body string) []byte {
		t.Helper()
		resp, err := http.Post(ts.URL+"/comet/session", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	wire := map[string]func() []byte{
		"session":             func() []byte { return post("") },
		"unsupported_version": func() []byte { return post(`{"v":2}`) },
	}
	seen := map[string]bool{}
	for _, b := range fencedBlocks(readProtocolDoc(t)) {
		fields := strings.Fields(b.info)
		switch {
		case len(fields) == 3 && fields[0] == "json" && fields[1] == "wire":
			name := fields[2]
			real, ok := wire[name]
			if !ok {
				t.Errorf("line %d: no scenario for ```json wire %s", b.line, name)
				continue
			}
			seen[name] = true
			var d, r any
			if err := json.Unmarshal([]byte(b.body), &d); err != nil {
				t.Errorf("line %d: ```json wire %s is not JSON: %v", b.line, name, err)
				continue
			}
			raw := real()
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("%s: the server's answer %q is not JSON", name, raw)
			}
			if err := sameShape(name, d, r); err != nil {
				t.Errorf("line %d: ```json wire %s differs from the server: %v\nserver: %s", b.line, name, err, raw)
			}
		case len(fields) >= 1 && fields[0] == "json":
			// Examples of events: one or more JSON values, N for a seq.
			text := regexp.MustCompile(`"seq":\s*N\b`).ReplaceAllString(b.body, `"seq":0`)
			dec := json.NewDecoder(strings.NewReader(text))
			for {
				var v any
				if err := dec.Decode(&v); err == io.EOF {
					break
				} else if err != nil {
					t.Errorf("line %d: ```json block is not JSON: %v\n%s", b.line, err, b.body)
					break
				}
			}
		}
	}
	for name := range wire {
		if !seen[name] {
			t.Errorf("PROTOCOL.md has no ```json wire %s block", name)
		}
	}
}

// answer is one error as a client sees it: an HTTP status (0 for a
// sys.error on the stream), its code and its text.
type answer struct {
	status int
	code   string
	text   string
}

// catalogueRow is one row of a <!-- catalogue: name --> table.
type catalogueRow struct {
	catalogue string
	line      int
	answer
}

var backticked = regexp.MustCompile("`([^`]*)`")

// catalogues parses every error catalogue of the doc.
func catalogues(t *testing.T, doc string) []catalogueRow {
	t.Helper()
	var rows []catalogueRow
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		m := regexp.MustCompile(`^<!-- catalogue: (.+) -->$`).FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		var header []string
		for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			cells := strings.Split(strings.Trim(lines[j], "|"), "|")
			for k := range cells {
				cells[k] = strings.TrimSpace(cells[k])
			}
			switch {
			case header == nil:
				header = cells
				continue
			case strings.HasPrefix(cells[0], "---"):
				continue
			}
			row := catalogueRow{catalogue: m[1], line: j + 1}
			for k, h := range header {
				if k >= len(cells) {
					break
				}
				inner := ""
				if bm := backticked.FindStringSubmatch(cells[k]); bm != nil {
					inner = bm[1]
				}
				switch h {
				case "status":
					row.status, _ = strconv.Atoi(cells[k])
				case "`code`":
					row.code = inner
				case "`error`", "`message`":
					row.text = inner
				}
			}
			if row.code == "" || row.text == "" {
				t.Fatalf("PROTOCOL.md line %d: a catalogue row without a code or text: %s", j+1, lines[j])
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// TestProtocolDocErrorCatalogue: every error of every catalogue in the doc
// is triggered against a real server and answered with exactly the
// documented status, code and text; a row the test cannot trigger fails.
func TestProtocolDocErrorCatalogue(t *testing.T) {
	rows := catalogues(t, readProtocolDoc(t))
	if len(rows) < 20 {
		t.Fatalf("only %d catalogue rows found in PROTOCOL.md", len(rows))
	}
	ts := startServerHooked(t, nil, nil, func(s *Server) {
		s.handlers["test.fail"] = func(context.Context, *tab, json.RawMessage) error { return errors.New("a detail nobody sees") }
	})
	a := newClient(t, ts.URL)
	b := newClient(t, ts.URL)
	st := a.open("sse", 0)
	defer st.close()

	do := func(method, url, token, body string, hdr ...string) answer {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var e struct{ Error, Code string }
		if err := json.Unmarshal(raw, &e); err != nil {
			return answer{resp.StatusCode, "", string(raw)}
		}
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			return answer{resp.StatusCode, e.Code, e.Error + " (no Retry-After)"}
		}
		return answer{resp.StatusCode, e.Code, e.Error}
	}
	session := func(body string, hdr ...string) answer {
		return do("POST", ts.URL+"/comet/session", "", body, hdr...)
	}
	stream := func(path, token string) answer { return do("GET", ts.URL+"/comet/"+path, token, "") }
	send := func(sid, token, body string, hdr ...string) answer {
		return do("POST", ts.URL+"/comet/"+sid+"/send", token, body, hdr...)
	}
	// sysError posts events as client a and returns the sys.error answering ref.
	sysError := func(ref uint64, body string) answer {
		t.Helper()
		if got := send(a.SID, a.Token, body); got.status != 204 {
			t.Fatalf("send %s: %+v", body, got)
		}
		for {
			ev := st.next(t, eventWait)
			if ev.Type != "sys.error" {
				continue
			}
			var e sysError
			_ = json.Unmarshal(ev.Data, &e)
			if e.Ref == ref {
				return answer{0, e.Code, e.Message}
			}
		}
	}
	var many []string
	for i := 1; i <= 65; i++ {
		many = append(many, fmt.Sprintf(`{"seq":%d,"type":"sys.ping","data":{"t":1}}`, i))
	}
	evil := []string{"Origin", "http://evil.example"}
	adm := startServer(t, func(c *Config) { c.AdminToken = "secret-admin-token" })
	admin := func(action, token, body string) answer {
		return do("POST", adm.URL+"/api/admin/"+action, token, body, "Content-Type", "application/json")
	}

	// streamsFull starts a server whose address holds its 50 streams, and a
	// session there that may open none.
	streamsFull := func() (string, *client) {
		o := startServer(t, func(c *Config) { c.Limits.SessionsPerMinute = -1 })
		for range 50 {
			c := newClient(t, o.URL)
			s := c.open("sse", 0)
			t.Cleanup(s.close)
		}
		return o.URL, newClient(t, o.URL)
	}

	scenarios := map[string]map[string]func() answer{
		"POST /comet/session": {
			"cross-origin request refused": func() answer { return session("", evil...) },
			"too many new sessions from your address; try again shortly": func() answer {
				o := startServer(t, func(c *Config) { c.Limits.SessionsPerMinute = 1 })
				var last answer
				for range 3 {
					last = do("POST", o.URL+"/comet/session", "", "")
				}
				return last
			},
			"too many live sessions from your address (at most 200); close some tabs": func() answer {
				o := startServer(t, func(c *Config) { c.Limits.SessionsPerMinute = -1 })
				tok := newClient(t, o.URL).Token
				for range 199 {
					openSession(t, o.URL, tok)
				}
				return do("POST", o.URL+"/comet/session", tok, "")
			},
			`body must be a JSON object like {"v": 1, "name": "Ada"}`:    func() answer { return session(`[1]`) },
			"protocol version 2 is not supported (this server speaks 1)": func() answer { return session(`{"v":2}`) },
			"this player is banned": func() answer {
				c := newClient(t, ts.URL)
				if err := ts.DB.SetBanned(context.Background(), c.Player.ID, true); err != nil {
					t.Fatal(err)
				}
				return do("POST", ts.URL+"/comet/session", c.Token, "")
			},
		},
		"GET /comet/{sid}/{transport}": {
			"session not found":                   func() answer { return stream("s_nope/sse", "") },
			"missing player token":                func() answer { return stream(a.SID+"/sse", "") },
			"invalid player token":                func() answer { return stream(a.SID+"/sse", "garbage") },
			"session belongs to another player":   func() answer { return stream(a.SID+"/sse", b.Token) },
			"last must be a non-negative integer": func() answer { return stream(a.SID+"/nope?last=-1", a.Token) },
			"not found":                           func() answer { return stream(a.SID+"/longpoll?last=0", a.Token) },
			"too many open streams from your address (at most 50)": func() answer {
				url, c := streamsFull()
				return do("GET", url+"/comet/"+c.SID+"/sse?last=0", c.Token, "")
			},
			"wait must be 0 to 30 seconds": func() answer { return stream(b.SID+"/poll?last=0&wait=1.5", b.Token) },
		},
		"GET /comet/mux/{transport}": {
			"not found": func() answer { return stream("mux/poll?s="+a.SID+":0", a.Token) },
			"a mux needs at least one s=<sid>:<last>": func() answer { return stream("mux/sse", a.Token) },
			"a mux carries at most 32 sessions":       func() answer { return stream("mux/sse?"+strings.Repeat("s=s_A:0&", 33), a.Token) },
			"s must be <sid>:<last>":                  func() answer { return stream("mux/sse?s="+a.SID, a.Token) },
			"s names session s_A twice":               func() answer { return stream("mux/sse?s=s_A:0&s=s_A:1", a.Token) },
			"s must be <sid>:<last>, last a non-negative integer": func() answer {
				return stream("mux/sse?s="+a.SID+":-1", a.Token)
			},
			"s must be <sid>:<last>, sid a session id (s_ and up to 62 of A-Z a-z 0-9 - _)": func() answer {
				return stream("mux/sse?s=s_%3Cb%3E:0", a.Token)
			},
			"missing player token": func() answer { return stream("mux/sse?s="+a.SID+":0", "") },
			"too many open streams from your address (at most 50)": func() answer {
				url, c := streamsFull()
				return do("GET", url+"/comet/mux/sse?s="+c.SID+":0", c.Token, "")
			},
		},
		"POST /comet/{sid}/close": {
			"cross-origin request refused":      func() answer { return do("POST", ts.URL+"/comet/"+b.SID+"/close", b.Token, "", evil...) },
			"session not found":                 func() answer { return do("POST", ts.URL+"/comet/s_nope/close", b.Token, "") },
			"missing player token":              func() answer { return do("POST", ts.URL+"/comet/"+b.SID+"/close", "", "") },
			"invalid player token":              func() answer { return do("POST", ts.URL+"/comet/"+b.SID+"/close", "t_nope", "") },
			"session belongs to another player": func() answer { return do("POST", ts.URL+"/comet/"+b.SID+"/close", a.Token, "") },
		},
		"POST /comet/{sid}/send": {
			"cross-origin request refused":        func() answer { return send(a.SID, a.Token, `[]`, evil...) },
			"session not found":                   func() answer { return send("s_nope", a.Token, `[]`) },
			"missing player token":                func() answer { return send(a.SID, "", `[]`) },
			"body over 16384 bytes":               func() answer { return send(a.SID, a.Token, `[`+strings.Repeat(" ", 16<<10)+`]`) },
			"body must be a JSON array of events": func() answer { return send(a.SID, a.Token, `{}`) },
			"body is not valid JSON: syntax error at byte 11": func() answer {
				return send(a.SID, a.Token, `[{"seq":1,]`)
			},
			"at most 64 events per request, got 65":   func() answer { return send(a.SID, a.Token, "["+strings.Join(many, ",")+"]") },
			"event 0: expected object, got number":    func() answer { return send(a.SID, a.Token, `[1]`) },
			"event 0: seq must be integer":            func() answer { return send(a.SID, a.Token, `[{"seq":"1","type":"sys.ping"}]`) },
			"event 0: seq must be a positive integer": func() answer { return send(a.SID, a.Token, `[{"type":"sys.ping"}]`) },
			"event 0: type is required":               func() answer { return send(a.SID, a.Token, `[{"seq":1}]`) },
			"event 0: type longer than 64 bytes":      func() answer { return send(a.SID, a.Token, `[{"seq":1,"type":"`+strings.Repeat("a", 65)+`"}]`) },
		},
		"sys.error": {
			`unknown event type "x.nope"`:      func() answer { return sysError(101, `[{"seq":101,"type":"x.nope"}]`) },
			`bad data: unknown field "x"`:      func() answer { return sysError(102, `[{"seq":102,"type":"sys.ping","data":{"t":1,"x":1}}]`) },
			"bad data: t must be number":       func() answer { return sysError(103, `[{"seq":103,"type":"sys.ping","data":{"t":"1"}}]`) },
			"sys.ping needs a finite number t": func() answer { return sysError(104, `[{"seq":104,"type":"sys.ping","data":{}}]`) },
			"internal error":                   func() answer { return sysError(301, `[{"seq":301,"type":"test.fail"}]`) },
			"seq 2 is more than 64 below the highest seq taken: it may have run; send one POST at a time": func() answer {
				return sysError(2, `[{"seq":200,"type":"sys.ping","data":{"t":1}},{"seq":2,"type":"sys.ping","data":{"t":1}}]`)
			},
		},
		"POST /api/admin/{action}": {
			"not found": func() answer {
				return do("POST", ts.URL+"/api/admin/kick", "secret-admin-token", `{"player":"id:p_x"}`)
			},
			"admin token required": func() answer { return admin("kick", "wrong", `{"player":"id:p_x"}`) },
			`body must be {"player": "id:<player id>"} or {"player": "name:<player name>"}`: func() answer {
				return admin("kick", "secret-admin-token", `{"player":"Troll"}`)
			},
			"action must be mute, unmute, kick, ban or unban": func() answer { return admin("smite", "secret-admin-token", `{"player":"id:p_x"}`) },
			`no player with id "p_nobody"`:                    func() answer { return admin("kick", "secret-admin-token", `{"player":"id:p_nobody"}`) },
			`no player named "Nobody" online or claimed`:      func() answer { return admin("kick", "secret-admin-token", `{"player":"name:Nobody"}`) },
		},
		"any path": {
			"Method Not Allowed": func() answer { return do("GET", ts.URL+"/comet/session", "", "") },
			"not found":          func() answer { return do("GET", ts.URL+"/api/nope", "", "") },
		},
	}
	seen := map[string]bool{}
	for _, row := range rows {
		fn := scenarios[row.catalogue][row.text]
		if fn == nil {
			t.Errorf("PROTOCOL.md line %d: no scenario triggers %q of %s: add one to this test", row.line, row.text, row.catalogue)
			continue
		}
		seen[row.catalogue+"\x00"+row.text] = true
		got := fn()
		if got != row.answer {
			t.Errorf("PROTOCOL.md line %d (%s): the doc says %d %s %q, the server answers %d %s %q",
				row.line, row.catalogue, row.status, row.code, row.text, got.status, got.code, got.text)
		}
	}
	for cat, m := range scenarios {
		for text := range m {
			if !seen[cat+"\x00"+text] {
				t.Errorf("the %s catalogue in PROTOCOL.md lacks %q", cat, text)
			}
		}
	}
}

// TestProtocolDocCatalogueCatchesDrift: the catalogue check fails on a text
// that differs from the server's by one character (the test is not vacuous).
func TestProtocolDocCatalogueCatchesDrift(t *testing.T) {
	doc := "<!-- catalogue: x -->\n| status | `code` | `error` | when |\n|---|---|---|---|\n| 404 | `not_found` | `session not found.` | x |\n"
	rows := catalogues(t, doc)
	want := answer{404, "not_found", "session not found"}
	if len(rows) != 1 || rows[0].answer == want || rows[0].text != "session not found." {
		t.Fatalf("parsed %+v", rows)
	}
	var d, r any
	_ = json.Unmarshal([]byte(`{"a":"…","b":[1,2]}`), &d)
	_ = json.Unmarshal([]byte(`{"a":"x","b":[1,3]}`), &r)
	if sameShape("x", d, r) == nil {
		t.Fatal("sameShape accepts a different array value")
	}
	_ = json.Unmarshal([]byte(`{"a":5,"b":[1,2],"c":1}`), &r)
	if sameShape("x", d, r) == nil {
		t.Fatal("sameShape accepts an extra key")
	}
	if !bytes.Contains([]byte(readProtocolDoc(t)), []byte("<!-- catalogue: sys.error -->")) {
		t.Fatal("PROTOCOL.md has no sys.error catalogue")
	}
}
