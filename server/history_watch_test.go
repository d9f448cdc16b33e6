package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"comet/internal/natstest"
	"comet/server/natsbus"
	"comet/server/sqlite"
)

// sharedNode is a Server on a natsbus, one of several sharing a store.
type sharedNode struct {
	*testServer
	bus  *natsbus.Bus
	gate *gatedConn // this node's connection to NATS, as the server reads it
}

// twoSharedNodes starts two Servers sharing one store and one embedded
// nats-server, each on its own natsbus: chat said on one reaches the other
// through NATS, as between cluster nodes (no Cluster: each client talks to
// its own node).
func twoSharedNodes(t *testing.T) (one, two *sharedNode) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "shared.db"), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ns := natstest.Run(t, nil)
	node := func() *sharedNode {
		p := &gateProvider{ns: ns}
		nc, err := nats.Connect("", append(natsbus.ConnOptions(), nats.InProcessServer(p))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		b := natstest.Bus(t, nc, natsbus.Config{Logger: quietLogger()})
		ts := startServer(t, func(c *Config) { c.Store, c.Bus = db, b })
		return &sharedNode{testServer: ts, bus: b, gate: p.conn}
	}
	return node(), node()
}

// gateProvider connects nats.go to the embedded server through a gatedConn.
type gateProvider struct {
	ns   *natsserver.Server
	conn *gatedConn
}

func (p *gateProvider) InProcessConn() (net.Conn, error) {
	c, err := p.ns.InProcessConn()
	if err != nil {
		return nil, err
	}
	p.conn = &gatedConn{Conn: c}
	return p.conn, nil
}

// gatedConn holds back what the client writes to the NATS server while held,
// as a loaded machine may, until release or until a PING goes by (a flush:
// the client waits for the server to have everything before it).
type gatedConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	held []byte
}

func (g *gatedConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.hold {
		return g.Conn.Write(p)
	}
	g.held = append(g.held, p...)
	if !bytes.Contains(g.held, []byte("PING\r\n")) {
		return len(p), nil
	}
	if err := g.releaseLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (g *gatedConn) holdWrites() {
	g.mu.Lock()
	g.hold = true
	g.mu.Unlock()
}

func (g *gatedConn) release() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.releaseLocked()
}

func (g *gatedConn) releaseLocked() error {
	g.hold = false
	b := g.held
	g.held = nil
	if len(b) == 0 {
		return nil
	}
	_, err := g.Conn.Write(b)
	return err
}

// lobbyLines reads st until the lobby line fence arrives live and returns the
// lobby lines before it, from chat.history and chat.msg alike, by text.
func lobbyLines(t *testing.T, st *tstream, fence string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for {
		ev := st.next(t, eventWait)
		switch ev.Type {
		case "chat.history":
			var h struct {
				Channel  string
				Messages []struct{ Text string }
			}
			if err := json.Unmarshal(ev.Data, &h); err != nil {
				t.Fatal(err)
			}
			if h.Channel == "lobby" {
				for _, m := range h.Messages {
					seen[m.Text]++
				}
			}
		case "chat.msg":
			var m struct{ Channel, Text string }
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				t.Fatal(err)
			}
			if m.Channel != "lobby" {
				continue
			}
			if m.Text == fence {
				return seen
			}
			seen[m.Text]++
		}
	}
}

func say(c *client, text string) {
	c.t.Helper()
	c.send("chat.say", map[string]string{"channel": "lobby", "text": text})
}

// TestHistoryCacheSeesLinesFromOtherNodes: a node's cached lobby history
// must not outlive a line said on another node. A tab on node two caches
// the history; a line said on node one reaches node two live; a tab that
// joins node two afterwards was not subscribed when the line went by, so
// the line must be in its history (the cache used to be dropped only by a
// line said on its own node, and served the newcomer a history without it).
func TestHistoryCacheSeesLinesFromOtherNodes(t *testing.T) {
	one, two := twoSharedNodes(t)
	x := newClient(t, two.URL) // the lobby history cached on two
	xs := x.open("sse", 0)
	defer xs.close()
	y := newClient(t, one.URL)
	say(y, "said on one")
	say(y, "fence one")
	if got := lobbyLines(t, xs, "fence one"); got["said on one"] != 1 {
		t.Fatalf("x on two: lobby lines %v, want %q once", got, "said on one")
	}

	z := newClient(t, two.URL) // joins after the line went by
	zs := z.open("sse", 0)
	defer zs.close()
	say(y, "fence two")
	if got := lobbyLines(t, zs, "fence two"); got["said on one"] != 1 {
		t.Fatalf("z, joining two after the line: lobby lines %v, want %q once (in its history)", got, "said on one")
	}
}

// TestHistoryWaitsForSubscription: a tab's history is read only once its
// node's subscription to the channel is in effect on the NATS server. Node
// two's writes to NATS are held back (as on a loaded machine) while a tab,
// the first on two in the lobby, joins; a line is then said on one and
// reaches the NATS server before two's subscription does. Without the wait
// the history was read before the line and the line went to no one on
// two: the tab lost it for good. With it the read comes after the
// subscription, so the line is in the history or comes live.
func TestHistoryWaitsForSubscription(t *testing.T) {
	one, two := twoSharedNodes(t)
	y := newClient(t, one.URL)

	two.gate.holdWrites()
	joined := make(chan *client, 1)
	go func() { joined <- openSession(t, two.URL, "") }() // its history waits for the subscription
	var z *client
	select {
	case z = <-joined:
	case <-time.After(eventWait):
		t.Fatal("no session on two")
	}
	say(y, "late")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := one.bus.Sync(ctx); err != nil { // the NATS server has the line
		t.Fatal(err)
	}
	if err := two.gate.release(); err != nil {
		t.Fatal(err)
	}
	if err := two.bus.Sync(ctx); err != nil { // and two's subscription, before the fence
		t.Fatal(err)
	}
	zs := z.open("sse", 0)
	defer zs.close()
	say(y, "fence")
	if got := lobbyLines(t, zs, "fence"); got["late"] != 1 {
		t.Fatalf("z on two: lobby lines %v, want %q once (history or live)", got, "late")
	}
}
