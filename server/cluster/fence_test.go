package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"comet/internal/check"
	"comet/server/cluster"
)

// health returns a node's /healthz status code and its "status" member.
func health(t *testing.T, n *node) (int, string) {
	t.Helper()
	resp, err := http.Get(n.ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct{ Status string }
	_ = json.NewDecoder(resp.Body).Decode(&h)
	return resp.StatusCode, h.Status
}

func waitHealth(t *testing.T, nodes []*node, code int, status string) {
	t.Helper()
	for _, n := range nodes {
		check.For(t, 30*time.Second, func() error {
			if got, st := health(t, n); got != code || st != status {
				return fmt.Errorf("%s /healthz %d %q, want %d %q", n.name, got, st, code, status)
			}
			return nil
		})
	}
}

// drainStream reads a stream to its end into the client.
func (c *client) drainStream(ch <-chan event) {
	c.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			c.take([]event{e})
		case <-deadline:
			c.t.Fatal("stream did not end")
		}
	}
}

// TestFenceWhenLeaseTaken: another node takes A's name while A runs. A
// fences: its stream ends after sys.restart, /healthz and new sessions get
// 503 (Retry-After), and its sessions are not served through other nodes
// either. When the name is free again A takes its lease back and serves:
// a session still A's resumes there with no reset; one re-homed elsewhere
// meanwhile is dropped from A (never two homes).
func TestFenceWhenLeaseTaken(t *testing.T) {
	nodes := threeNodes(t)
	a, x := newClient(t, nodes[0]), newClient(t, nodes[0])
	a.say(nodes[0], "before")
	a.waitFor(nodes[0], "before")
	stream := sse(t, a, nodes[0])

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, err := jetstream.New(nodes[1].nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, cluster.NodesBucket)
	if err != nil {
		t.Fatal(err)
	}
	// An impostor takes the name "a" and keeps it while stop is open.
	if err := kv.Purge(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Create(ctx, "a", []byte("impostor"))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				_ = kv.Delete(context.Background(), "a", jetstream.LastRevision(rev))
				return
			case <-tk.C:
				if r, err := kv.Update(ctx, "a", []byte("impostor"), rev); err == nil {
					rev = r
				}
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	a.drainStream(stream)
	if !a.read("sys.restart") {
		t.Fatalf("the fenced node's stream ended without sys.restart: %v", a.got)
	}
	waitHealth(t, nodes[:1], http.StatusServiceUnavailable, "fenced")
	resp, err := http.Post(nodes[0].ts.URL+"/comet/session", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("new session on the fenced node: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code := a.poll(nodes[1]); code != http.StatusServiceUnavailable {
		t.Fatalf("a's poll through b while its home is fenced: %d, want 503", code)
	}
	// x is re-homed on b meanwhile (as if its client reached b after A's
	// lease expired).
	_, player, xrev, err := nodes[1].cl.Home(ctx, x.sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].cl.Rehome(ctx, x.sid, player, xrev); err != nil {
		t.Fatal(err)
	}

	close(stop)
	wg.Wait()
	waitHealth(t, nodes[:1], http.StatusOK, "ok")
	if _, ok := nodes[0].srv.Hub().Session(x.sid); ok {
		t.Fatal("x, re-homed on b while a was fenced, is still held on a")
	}
	if _, ok := nodes[0].srv.Hub().Session(a.sid); !ok {
		t.Fatal("a's own session was dropped by the recovery")
	}
	a.say(nodes[2], "after")
	a.waitFor(nodes[0], "after")
	if n := a.resets(); n != 0 {
		t.Fatalf("a: %d sys.reset across the fence, want none", n)
	}
	if _, _, _, fences := nodes[0].cl.FenceInfo(); fences != 1 {
		t.Fatalf("a fenced %d times, want 1", fences)
	}
}

// freePort returns a TCP port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNATSOn runs a nats-server with JetStream listening on port, its
// store in dir, so a test can stop it and start it again.
func startNATSOn(t *testing.T, port int, dir string) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func withURL(url string) nodeOpt { return func(o *nodeSetup) { o.url = url } }

// TestFenceWhenNATSRestarts: NATS stops; every node fences (/healthz 503,
// sessions refused). NATS starts again with its store; every node takes its
// lease back by itself and serves, and sessions go on across nodes with no
// reset: the directory outlived the restart.
func TestFenceWhenNATSRestarts(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	ns := startNATSOn(t, port, dir)
	nodes := threeNodesOn(t, ns, withURL(fmt.Sprintf("nats://127.0.0.1:%d", port)))
	a, b := newClient(t, nodes[0]), newClient(t, nodes[1])
	a.say(nodes[1], "before")
	b.waitFor(nodes[2], "before")
	a.waitFor(nodes[2], "before")

	ns.Shutdown()
	ns.WaitForShutdown()
	waitHealth(t, nodes, http.StatusServiceUnavailable, "fenced")
	if code := a.poll(nodes[0]); code != http.StatusServiceUnavailable {
		t.Fatalf("a's poll on its fenced home: %d, want 503", code)
	}

	startNATSOn(t, port, dir)
	waitHealth(t, nodes, http.StatusOK, "ok")
	for _, n := range nodes {
		check.For(t, 10*time.Second, func() error {
			if got := n.cl.Nodes(); len(got) != 3 {
				return fmt.Errorf("%s sees %v", n.name, got)
			}
			return nil
		})
	}
	a.say(nodes[2], "after")
	b.waitFor(nodes[0], "after")
	a.waitFor(nodes[1], "after")
	for _, c := range []*client{a, b} {
		if n := c.resets(); n != 0 {
			t.Errorf("%s: %d sys.reset across the NATS restart, want none", c.sid, n)
		}
	}
}
