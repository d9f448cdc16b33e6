package cluster_test

import (
	"bufio"
	"context"
	"fmt"
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
// forward's deadline (the poll's 25 s and more): it answers 503 +
// Retry-After as soon as a probe finds the home gone, well before the
// client's own 20 s deadline, and counts the forward as unreachable.
func TestForwardFailsFastWhenHomeDies(t *testing.T) {
	nodes := threeNodes(t)
	b := newClient(t, nodes[1])
	if code := b.poll(nodes[1]); code != http.StatusOK {
		t.Fatalf("poll: %d", code)
	}
	type answer struct {
		code  int
		retry string
		err   error
	}
	got := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			fmt.Sprintf("%s/comet/%s/poll?last=%d&wait=25", nodes[0].ts.URL, b.sid, b.last), nil)
		req.Header.Set("Authorization", "Bearer "+b.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		resp.Body.Close()
		got <- answer{code: resp.StatusCode, retry: resp.Header.Get("Retry-After")}
	}()
	// The long-poll is held on the home, forwarded there by A.
	check.For(t, 10*time.Second, func() error {
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
	if a.code != http.StatusServiceUnavailable || a.retry == "" {
		t.Fatalf("forwarded long-poll whose home died: %d Retry-After %q, want 503 with Retry-After", a.code, a.retry)
	}
	if n := metric(t, nodes[0], `comet_cluster_forwards_total{kind="http",outcome="unreachable"}`); n != 1 {
		t.Errorf("unreachable forwards counted on a: %v, want 1", n)
	}
}
