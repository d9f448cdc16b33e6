package cluster_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMuxCarriesSessionsHomedElsewhere: the tabs' shared stream held on
// node C carries two sessions of one player homed on A and B, each relayed
// from its home into a mirror on C with the home's seqs: each tab reads the
// other's lobby line on it, and the sessions keep their homes.
func TestMuxCarriesSessionsHomedElsewhere(t *testing.T) {
	nodes := threeNodes(t)
	a := newClient(t, nodes[0])
	b := sameClient(t, a, nodes[1]) // the same player, a second tab, homed on b
	req, _ := http.NewRequest(http.MethodGet,
		fmt.Sprintf("%s/comet/mux/sse?s=%s:0&s=%s:0", nodes[2].ts.URL, a.sid, b.sid), nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("mux via c: %d %s", resp.StatusCode, body)
	}
	type frame struct {
		SID   string  `json:"sid"`
		Batch []event `json:"batch"`
		End   string  `json:"end"`
	}
	frames := make(chan frame, 1024)
	go func() {
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || !strings.HasPrefix(line, "{") {
				continue
			}
			var f frame
			if json.Unmarshal([]byte(line), &f) == nil && f.SID != "" {
				frames <- f
			}
		}
	}()
	a.say(nodes[0], "from a's tab")
	b.say(nodes[1], "from b's tab")
	tabs := map[string]*client{a.sid: a, b.sid: b}
	deadline := time.After(30 * time.Second)
	for !(a.saw("from b's tab") && b.saw("from a's tab")) {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("the mux ended before both tabs read both lines")
			}
			c := tabs[f.SID]
			if c == nil {
				t.Fatalf("a frame for sid %q, not asked for", f.SID)
			}
			if f.End != "" {
				t.Fatalf("%s refused on the mux: %s", f.SID, f.End)
			}
			c.take(f.Batch) // the home's numbering: no gap, no repeat
		case <-deadline:
			t.Fatalf("not read on the mux: a saw b's line %v, b saw a's %v", a.saw("from b's tab"), b.saw("from a's tab"))
		}
	}
	for c, want := range map[*client]string{a: "a", b: "b"} {
		if got, _ := home(t, nodes[2], c.sid); got != want {
			t.Errorf("home of %s after the mux: %q, want %q (relayed, not moved)", c.sid, got, want)
		}
		if n := c.resets(); n != 0 {
			t.Errorf("%s: %d sys.reset on the mux, want none", c.sid, n)
		}
	}
}

// sameClient opens another session of c's player through n (a second tab).
func sameClient(t *testing.T, c *client, n *node) *client {
	t.Helper()
	code, body := c.do(http.MethodPost, n.ts.URL+"/comet/session", []byte(`{}`))
	if code != http.StatusCreated {
		t.Fatalf("second session via %s: %d %s", n.name, code, body)
	}
	var s struct{ SID, Token string }
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, sid: s.SID, token: s.Token, seq: 1}
}
