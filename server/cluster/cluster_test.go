package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/internal/check"
	"comet/internal/pgtest"
	"comet/server"
	"comet/server/bus"
	"comet/server/cluster"
	"comet/server/natsbus"
	"comet/server/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// startNATS runs an embedded nats-server with JetStream, in-process only.
func startNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		DontListen: true, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// node is one Comet node of the test cluster: its server on real HTTP.
type node struct {
	name  string
	store *postgres.DB
	nc    *nats.Conn
	cl    *cluster.Node
	srv   *server.Server
	ts    *httptest.Server
	once  sync.Once
}

// nodeOpt changes how a test node is started: its cluster config, the
// NATS URL it connects to (instead of in-process), or its server config.
type nodeOpt func(o *nodeSetup)

type nodeSetup struct {
	cluster cluster.Config
	url     string
	server  server.Config
}

func startNode(t testing.TB, ns *natsserver.Server, store *postgres.DB, name string, opts ...nodeOpt) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var o nodeSetup
	o.server = server.Config{
		Store: store, Game: gameloop.ManagerConfig{Modes: modes.All()}, Handover: true,
		Limits: server.Limits{SessionsPerMinute: -1, StreamsPerIP: -1, SessionsPerIP: -1},
	}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, url := o.cluster, o.url
	conn := append(natsbus.ConnOptions(), nats.InProcessServer(ns))
	if url != "" {
		conn = natsbus.ConnOptions()
	}
	nc, err := nats.Connect(url, conn...)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("n", name)
	}
	b, err := natsbus.New(natsbus.Config{Conn: nc, Local: bus.New(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	metrics := server.NewMetrics() // the server's and the node's, on the node's /metrics
	cfg.Conn, cfg.Node, cfg.Logger, cfg.Registerer = nc, name, log, metrics.Registry
	if cfg.LeaseTTL == 0 {
		// Short, for tests that wait for a dead node's lease; not so short that
		// a busy machine's late renewal fences a live node.
		cfg.LeaseTTL = 2 * time.Second
	}
	cl, err := cluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	scfg := o.server
	scfg.Bus, scfg.Cluster, scfg.Logger, scfg.Metrics = b, cl, log, metrics
	srv, err := server.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.Serve(cluster.Service{HTTP: srv.ClusterHandler(), Relay: srv.RelaySession, EndMirror: srv.EndMirror,
		Fence: srv.Fence, Recover: srv.Recover, Take: srv.TakeSession, Topics: srv.TakenTopics})
	n := &node{name: name, store: store, nc: nc, cl: cl, srv: srv, ts: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() {
		n.once.Do(func() {
			n.ts.CloseClientConnections()
			n.ts.Close()
			srv.Close()
			cl.Close()
			nc.Close()
		})
	})
	return n
}

// kill stops a node as a SIGKILL would: connections cut, no lease
// renewed or deleted (it expires), nothing handed over.
func (n *node) kill() {
	n.once.Do(func() {
		n.cl.Abandon()
		n.ts.CloseClientConnections()
		n.ts.Close()
		n.nc.Close()
		n.srv.Close()
	})
}

// threeNodes starts three nodes on one NATS and one PostgreSQL.
func threeNodes(t testing.TB, opts ...nodeOpt) []*node {
	return threeNodesOn(t, startNATS(t), opts...)
}

// threeNodesOn is threeNodes on a NATS server the test started.
func threeNodesOn(t testing.TB, ns *natsserver.Server, opts ...nodeOpt) []*node {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := postgres.Open(ctx, pgtest.New(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	var out []*node
	for _, name := range []string{"a", "b", "c"} {
		out = append(out, startNode(t, ns, store, name, opts...))
	}
	for _, n := range out {
		check.For(t, 10*time.Second, func() error {
			if got := n.cl.Nodes(); len(got) != 3 {
				return fmt.Errorf("%s sees %v", n.name, got)
			}
			return nil
		})
	}
	return out
}

type event struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// client is one tab, whose requests go to whichever node the test says.
type client struct {
	t          testing.TB
	sid, token string
	seq        uint64 // client seq of the next event sent
	last       uint64 // the newest server seq read
	got        []event
}

func newClient(t testing.TB, n *node) *client {
	t.Helper()
	resp, err := http.Post(n.ts.URL+"/comet/session", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ SID, Token string }
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("session: %d %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, sid: s.SID, token: s.Token, seq: 1}
}

func (c *client) do(method, url string, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// say sends a lobby chat line through n; it must be taken (204).
func (c *client) say(n *node, text string) {
	c.t.Helper()
	body := fmt.Sprintf(`[{"seq":%d,"type":"chat.say","data":{"channel":"lobby","text":%q}}]`, c.seq, text)
	c.seq++
	if code, b := c.do(http.MethodPost, n.ts.URL+"/comet/"+c.sid+"/send", []byte(body)); code != http.StatusNoContent {
		c.t.Fatalf("send via %s: %d %s", n.name, code, b)
	}
}

// sayRetrying is say resending the same seq while the answer is 503 (a
// node fenced for a moment on a busy machine: the protocol's retry).
func (c *client) sayRetrying(n *node, text string) {
	c.t.Helper()
	body := fmt.Sprintf(`[{"seq":%d,"type":"chat.say","data":{"channel":"lobby","text":%q}}]`, c.seq, text)
	check.For(c.t, 20*time.Second, func() error {
		code, b := c.do(http.MethodPost, n.ts.URL+"/comet/"+c.sid+"/send", []byte(body))
		switch code {
		case http.StatusNoContent:
			return nil
		case http.StatusServiceUnavailable:
			return fmt.Errorf("send via %s: %d %s", n.name, code, b)
		}
		c.t.Fatalf("send via %s: %d %s", n.name, code, b)
		return nil
	})
	c.seq++
}

// take appends events to what the client read, checking the numbering
// continues: each seq is last+1, except a sys.reset, which is above last.
func (c *client) take(evs []event) {
	c.t.Helper()
	for _, e := range evs {
		if e.Seq <= c.last {
			continue // a resend of what was read (allowed: the client filters)
		}
		if e.Seq != c.last+1 && e.Type != "sys.reset" {
			c.t.Fatalf("seq %d (%s) after %d: a gap", e.Seq, e.Type, c.last)
		}
		c.last = e.Seq
		c.got = append(c.got, e)
	}
}

// poll reads one batch through n.
func (c *client) poll(n *node) int {
	c.t.Helper()
	code, b := c.do(http.MethodGet, fmt.Sprintf("%s/comet/%s/poll?last=%d", n.ts.URL, c.sid, c.last), nil)
	if code != http.StatusOK {
		return code
	}
	var evs []event
	if err := json.Unmarshal(b, &evs); err != nil {
		c.t.Fatalf("poll via %s: %v: %s", n.name, err, b)
	}
	c.take(evs)
	return code
}

// saw reports whether the client read a chat line with text, on its own
// or in a channel's history.
func (c *client) saw(text string) bool {
	for _, e := range c.got {
		if (e.Type == "chat.msg" || e.Type == "chat.history") && bytes.Contains(e.Data, []byte(fmt.Sprintf(`"text":%q`, text))) {
			return true
		}
	}
	return false
}

func (c *client) waitFor(n *node, text string) {
	c.t.Helper()
	check.For(c.t, 20*time.Second, func() error {
		if code := c.poll(n); code != http.StatusOK {
			return fmt.Errorf("poll via %s: %d", n.name, code)
		}
		if !c.saw(text) {
			var types []string
			for _, e := range c.got[max(0, len(c.got)-4):] {
				types = append(types, e.Type+" "+string(e.Data))
			}
			return fmt.Errorf("%q not read via %s; last read: %v", text, n.name, types)
		}
		return nil
	})
}

// TestRequestsOnAnyNode: a client whose requests alternate between three
// nodes chats and reads with one continuous numbering, and a client homed
// on another node reads its lines.
func TestRequestsOnAnyNode(t *testing.T) {
	nodes := threeNodes(t)
	a, b := newClient(t, nodes[0]), newClient(t, nodes[1])
	for i := range 5 { // the chat limit is 5 lines per 5 s
		text := fmt.Sprintf("line %d", i)
		a.say(nodes[(i+1)%3], text)
		a.waitFor(nodes[(i+2)%3], text)
		b.waitFor(nodes[i%3], text) // homed on b, read anywhere: natsbus carries the lobby line
	}
	if code, body := a.do(http.MethodPost, nodes[2].ts.URL+"/comet/"+a.sid+"/close", nil); code != http.StatusNoContent {
		t.Fatalf("close via c: %d %s", code, body)
	}
	check.For(t, 10*time.Second, func() error {
		if code := a.poll(nodes[1]); code != http.StatusNotFound {
			return fmt.Errorf("poll after close: %d, want 404", code)
		}
		return nil
	})
}

// sse holds an SSE stream and sends what it reads to a channel.
func sse(t *testing.T, c *client, n *node) <-chan event {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/comet/%s/sse?last=%d", n.ts.URL, c.sid, c.last), nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("sse via %s: %d %s", n.name, resp.StatusCode, b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan event, 1024)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || !strings.HasPrefix(line, "[") {
				continue
			}
			var evs []event
			if json.Unmarshal([]byte(line), &evs) == nil {
				for _, e := range evs {
					out <- e
				}
			}
		}
	}()
	return out
}

// readUntil takes events from a stream until one is a chat line with text.
func (c *client) readUntil(ch <-chan event, text string) {
	c.t.Helper()
	deadline := time.After(20 * time.Second)
	for !c.saw(text) {
		select {
		case e, ok := <-ch:
			if !ok {
				c.t.Fatalf("stream ended before %q", text)
			}
			c.take([]event{e})
		case <-deadline:
			c.t.Fatalf("%q not read on the stream", text)
		}
	}
}

// TestStreamRelayedFromHome: an SSE stream held on node B for a session
// homed on A carries A's events with A's seqs; the client resumes on C with
// its cursor and misses nothing.
func TestStreamRelayedFromHome(t *testing.T) {
	nodes := threeNodes(t)
	a := newClient(t, nodes[0])
	a.poll(nodes[0])
	onB := sse(t, a, nodes[1])
	a.say(nodes[2], "relayed one")
	a.readUntil(onB, "relayed one")
	a.say(nodes[0], "relayed two")
	a.readUntil(onB, "relayed two")
	// Resume elsewhere: the home replays after the cursor.
	a.say(nodes[1], "after the move")
	onC := sse(t, a, nodes[2])
	a.readUntil(onC, "after the move")
}

// homeDies makes a client homed on nodes[0], which says "before" and reads
// it, then kills nodes[0] and waits until the others see it gone; cursor
// is the client's last seq read from the dead home.
func homeDies(t *testing.T, nodes []*node) (a *client, cursor uint64) {
	t.Helper()
	a = newClient(t, nodes[0])
	a.sayRetrying(nodes[1], "before")
	a.waitFor(nodes[2], "before")
	nodes[0].kill()
	check.For(t, 15*time.Second, func() error {
		for _, n := range nodes[1:] {
			if n.cl.Alive(nodes[0].name) {
				return fmt.Errorf("%s still sees %s alive", n.name, nodes[0].name)
			}
		}
		return nil
	})
	return a, a.last
}

// TestDeadHomeRehomes: a node is killed; once its lease expires the
// session it was home of is re-homed by the node the client reaches next,
// which answers with sys.reset numbered after the client's cursor and fresh
// state, and the session goes on there.
func TestDeadHomeRehomes(t *testing.T) {
	nodes := threeNodes(t)
	a, cursor := homeDies(t, nodes)
	a.got = nil
	check.For(t, 20*time.Second, func() error {
		if code := a.poll(nodes[1]); code != http.StatusOK {
			return fmt.Errorf("poll after the home died: %d", code)
		}
		if len(a.got) == 0 || a.got[0].Type != "sys.reset" || a.got[0].Seq != cursor+1 {
			return fmt.Errorf("want sys.reset numbered %d first, got %v", cursor+1, a.got)
		}
		if !a.saw("before") {
			return fmt.Errorf("fresh state lacks the lobby history: %v", a.got)
		}
		return nil
	})
	a.say(nodes[2], "after")
	a.waitFor(nodes[2], "after")
}
