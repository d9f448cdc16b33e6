package cluster_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"comet/internal/check"
)

// TestRestartedHomeRehomesPoll: a node dies and comes back under its name
// (its lease expired, so the name is free) before a polling client of one
// of its sessions returns. The directory still names it, so the client's
// requests reach it, forwarded by the node the client hits, and it must
// not answer 404 (the session would be lost): a POST is answered 503 with
// Retry-After, a held stream relayed from it likewise, and a poll re-homes
// the session there — sys.reset numbered after the client's cursor, fresh
// state — after which the POST's retry is taken.
func TestRestartedHomeRehomesPoll(t *testing.T) {
	ns := startNATS(t)
	nodes := threeNodesOn(t, ns)
	a, cursor := homeDies(t, nodes)
	again := startNode(t, ns, nodes[0].store, "a")
	for _, n := range nodes[1:] {
		check.For(t, 10*time.Second, func() error {
			if !n.cl.Alive("a") {
				return fmt.Errorf("%s does not see a back", n.name)
			}
			return nil
		})
	}
	if got, _ := home(t, nodes[1], a.sid); got != "a" {
		t.Fatalf("home of the session: %q, want a (the directory kept it)", got)
	}
	say := fmt.Sprintf(`[{"seq":%d,"type":"chat.say","data":{"channel":"lobby","text":"after"}}]`, a.seq)
	for _, n := range []*node{nodes[1], again} {
		if code, body := a.do(http.MethodPost, n.ts.URL+"/comet/"+a.sid+"/send", []byte(say)); code != http.StatusServiceUnavailable {
			t.Fatalf("send via %s before any poll: %d %s, want 503 (retry)", n.name, code, body)
		}
	}
	if code, body := a.do(http.MethodGet, fmt.Sprintf("%s/comet/%s/sse?last=%d", nodes[2].ts.URL, a.sid, cursor), nil); code != http.StatusServiceUnavailable {
		t.Fatalf("sse via c before any poll: %d %s, want 503 (retry)", code, body)
	}
	a.got = nil
	check.For(t, 20*time.Second, func() error {
		switch code := a.poll(nodes[1]); code {
		case http.StatusOK:
			return nil
		case http.StatusServiceUnavailable: // retry, as a client does
			return fmt.Errorf("poll via b, forwarded to the restarted home: %d", code)
		default:
			t.Fatalf("poll via b, forwarded to the restarted home: %d, want 200", code)
			return nil
		}
	})
	if len(a.got) == 0 || a.got[0].Type != "sys.reset" || a.got[0].Seq != cursor+1 {
		t.Fatalf("want sys.reset numbered %d first, got %v", cursor+1, a.got)
	}
	a.waitFor(nodes[2], "before") // the fresh state's lobby history
	if got, _ := home(t, nodes[1], a.sid); got != "a" {
		t.Fatalf("home after the re-home: %q, want a", got)
	}
	if n := metric(t, again, `comet_cluster_rehomes_total{outcome="ok"}`); n != 1 {
		t.Errorf("re-homes counted on the restarted a: %v, want 1", n)
	}
	if code, body := a.do(http.MethodPost, nodes[2].ts.URL+"/comet/"+a.sid+"/send", []byte(say)); code != http.StatusNoContent {
		t.Fatalf("send's retry via c after the re-home: %d %s", code, body)
	}
	a.waitFor(nodes[1], "after")
	if n := a.resets(); n != 1 {
		t.Errorf("%d sys.reset, want 1", n)
	}
}

// TestPostWaitsForRehome: a POST for a session whose home just died
// (its lease not yet expired) is neither failed at once nor left to time
// out: it waits until the home is known gone and the client's downstream
// has re-homed the session on another node, and is taken there (204, no
// 503 for the client to retry).
func TestPostWaitsForRehome(t *testing.T) {
	nodes := threeNodes(t)
	a := newClient(t, nodes[0])
	a.say(nodes[1], "before")
	a.waitFor(nodes[2], "before")
	nodes[0].kill()
	say := fmt.Sprintf(`[{"seq":%d,"type":"chat.say","data":{"channel":"lobby","text":"during"}}]`, a.seq)
	a.seq++
	sent := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, nodes[1].ts.URL+"/comet/"+a.sid+"/send", strings.NewReader(say))
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			sent <- 0
			return
		}
		resp.Body.Close()
		sent <- resp.StatusCode
	}()
	if code := a.poll(nodes[2]); code != http.StatusOK {
		t.Fatalf("poll via c after the home died: %d, want 200 (re-homed on c)", code)
	}
	if code := <-sent; code != http.StatusNoContent {
		t.Fatalf("send via b while the home died: %d, want 204 (taken once c re-homed the session)", code)
	}
	if got, _ := home(t, nodes[1], a.sid); got != "c" {
		t.Fatalf("home: %q, want c", got)
	}
	a.waitFor(nodes[1], "during")
}
