package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"comet/internal/check"
)

// metric reads one series (name and labels as /metrics writes them) from
// n's /metrics; 0 when it is not there.
func metric(t *testing.T, n *node, series string) float64 {
	t.Helper()
	resp, err := http.Get(n.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", series, v, err)
			}
			return f
		}
	}
	return 0
}

// TestForwardFailsFastWhenHomeDies: a long-poll forwarded to its home is
// held there when the home dies. The forwarding node does not wait for the
// forward's deadline (the poll's 25 s and more): a probe finds the home
// gone, the node waits for its lease to expire and re-homes the session
// itself, and the same long-poll is answered — sys.reset numbered after
// the client's cursor — well before the client's own 20 s deadline, with
// no 503 for the client to retry.
func TestForwardFailsFastWhenHomeDies(t *testing.T) {
	nodes := threeNodes(t)
	b := newClient(t, nodes[1])
	if code := b.poll(nodes[1]); code != http.StatusOK {
		t.Fatalf("poll: %d", code)
	}
	type answer struct {
		code int
		last uint64 // the cursor the answered long-poll was sent with
		body []byte
		err  error
	}
	// The tab long-polls through A until an answer carries no event it
	// should read on: a lobby update published after the first poll (b's
	// own presence, back from the bus) answers a held poll before the kill,
	// and a real tab would simply poll again from its new cursor.
	got := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		last := b.last
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
				fmt.Sprintf("%s/comet/%s/poll?last=%d&wait=25", nodes[0].ts.URL, b.sid, last), nil)
			req.Header.Set("Authorization", "Bearer "+b.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				got <- answer{last: last, err: err}
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			var evs []event
			if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(body, &evs) != nil || len(evs) == 0 || evs[0].Type == "sys.reset" {
				got <- answer{code: resp.StatusCode, last: last, body: body, err: err}
				return
			}
			last = evs[len(evs)-1].Seq
		}
	}()
	// The long-poll is held on the home, forwarded there by A.
	check.For(t, 10*time.Second, func() error {
		select {
		case a := <-got:
			t.Fatalf("the long-poll through a ended before b was killed: %d %s %v", a.code, a.body, a.err)
		default:
		}
		if n := metric(t, nodes[1], `comet_streams{transport="longpoll"}`); n != 1 {
			return fmt.Errorf("long-polls held on b: %v", n)
		}
		return nil
	})
	if n := metric(t, nodes[0], `comet_cluster_forwards_total{kind="http",outcome="unreachable"}`); n != 0 {
		t.Fatalf("unreachable forwards before the kill: %v", n)
	}
	nodes[1].kill()
	a := <-got
	if a.err != nil {
		t.Fatalf("the forwarded long-poll was not answered once its home died: %v", a.err)
	}
	if a.code != http.StatusOK {
		t.Fatalf("forwarded long-poll whose home died: %d %s, want 200 (re-homed on a)", a.code, a.body)
	}
	var evs []event
	if err := json.Unmarshal(a.body, &evs); err != nil || len(evs) == 0 || evs[0].Type != "sys.reset" || evs[0].Seq != a.last+1 {
		t.Fatalf("forwarded long-poll whose home died: %s (%v), want sys.reset numbered %d first", a.body, err, a.last+1)
	}
	if got, _ := home(t, nodes[2], b.sid); got != "a" {
		t.Errorf("home after the long-poll: %q, want a", got)
	}
	if n := metric(t, nodes[0], `comet_cluster_rehomes_total{outcome="ok"}`); n != 1 {
		t.Errorf("re-homes counted on a: %v, want 1", n)
	}
	if n := metric(t, nodes[0], `comet_cluster_forwards_total{kind="http",outcome="unreachable"}`); n != 1 {
		t.Errorf("unreachable forwards counted on a: %v, want 1", n)
	}
}

// TestForwardRemembersHome: a node that forwarded a session's POST to its
// home forwards the next one there without reading the directory (counted
// a hit). Once the session has moved (its player joined a room another
// node runs), the remembered node answers that it does not hold it, and
// the POST is routed again from the directory (counted stale): taken once,
// delivered once, never a 404 to the client.
func TestForwardRemembersHome(t *testing.T) {
	nodes := threeNodes(t)
	a, b := newClient(t, nodes[0]), newClient(t, nodes[1])
	a.say(nodes[2], "one") // c reads a's home from the directory
	a.say(nodes[2], "two") // ... and remembers it
	if n := metric(t, nodes[2], `comet_cluster_home_cache_total{outcome="hit"}`); n != 1 {
		t.Fatalf("remembered homes used on c: %v, want 1", n)
	}
	a.waitFor(nodes[0], "two")
	b.emit(nodes[1], "room.create", map[string]any{"mode": "arena"})
	room, _ := b.joined(nodes[1])
	a.emit(nodes[0], "room.join", map[string]any{"room": room})
	if got, _ := a.joined(nodes[0]); got != room {
		t.Fatalf("a joined %s, want %s", got, room)
	}
	if got, _ := home(t, nodes[2], a.sid); got != "b" {
		t.Fatalf("a's home after joining b's room: %q, want b", got)
	}
	a.say(nodes[2], "three") // c remembers a: a no longer holds it
	if n := metric(t, nodes[2], `comet_cluster_home_cache_total{outcome="stale"}`); n != 1 {
		t.Fatalf("stale remembered homes on c: %v, want 1", n)
	}
	a.waitFor(nodes[1], "three")
	a.say(nodes[2], "four") // remembered again: b
	if n := metric(t, nodes[2], `comet_cluster_home_cache_total{outcome="hit"}`); n != 2 {
		t.Fatalf("remembered homes used on c: %v, want 2", n)
	}
	a.waitFor(nodes[1], "four")
	for _, text := range []string{"one", "two", "three", "four"} {
		n := 0
		for _, e := range a.got {
			if e.Type == "chat.msg" && strings.Contains(string(e.Data), fmt.Sprintf(`"text":%q`, text)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%q read %d times, want once", text, n)
		}
	}
}
