package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"comet/internal/check"
)

// ws opens c's WebSocket through n, resuming after what c read, and feeds
// what it carries into c's events (take checks the numbering) until the
// test ends.
func (c *client) ws(n *node) *websocket.Conn {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := strings.Replace(n.ts.URL, "http://", "ws://", 1) + fmt.Sprintf("/comet/%s/ws?last=%d", c.sid, c.last)
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + c.token}}})
	if err != nil {
		c.t.Fatalf("websocket via %s: %v", n.name, err)
	}
	c.t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// readWS reads batches from conn into c until text is among the lines c
// read.
func (c *client) readWS(conn *websocket.Conn, text string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !c.saw(text) {
		_, data, err := conn.Read(ctx)
		if err != nil {
			c.t.Fatalf("waiting for %q on the websocket: %v", text, err)
		}
		var evs []event
		if err := json.Unmarshal(data, &evs); err != nil {
			c.t.Fatalf("batch %q: %v", data, err)
		}
		c.take(evs)
	}
}

// withWSMove starts the nodes with Config.WSMove.
func withWSMove(o *nodeSetup) { o.server.WSMove = true }

// TestWebSocketRelayedByDefault: a session homed on A opens its WebSocket
// on B; by default B relays it from A (its home stays a), and a line said
// on C arrives on it.
func TestWebSocketRelayedByDefault(t *testing.T) {
	nodes := threeNodes(t)
	a, other := newClient(t, nodes[0]), newClient(t, nodes[2])
	a.poll(nodes[0])
	conn := a.ws(nodes[1])
	other.say(nodes[2], "relayed")
	a.readWS(conn, "relayed")
	if h, _ := home(t, nodes[2], a.sid); h != "a" {
		t.Errorf("home %q, want a: without WSMove the socket is relayed", h)
	}
}

// TestWebSocketMovesSessionWhereItLands: with WSMove, a session homed on A
// opens its WebSocket on B. Outside a room, the session moves to B (its
// home becomes b; same sid, numbering going on, no sys.reset) and B serves
// the socket itself; in a room, it stays on the room's node and the socket
// is relayed. Either way a line said on C arrives once, and one the
// socket's client says over it reaches the others.
func TestWebSocketMovesSessionWhereItLands(t *testing.T) {
	nodes := threeNodes(t, withWSMove)
	a, other := newClient(t, nodes[0]), newClient(t, nodes[2])
	a.say(nodes[0], "before")
	a.waitFor(nodes[0], "before")

	conn := a.ws(nodes[1])
	check.For(t, 10*time.Second, func() error {
		if h, _ := home(t, nodes[2], a.sid); h != "b" {
			return fmt.Errorf("home %q, want b: the session did not move where its socket landed", h)
		}
		return nil
	})
	other.say(nodes[2], "landed")
	a.readWS(conn, "landed")
	if err := conn.Write(context.Background(), websocket.MessageText,
		fmt.Appendf(nil, `[{"seq":%d,"type":"chat.say","data":{"channel":"lobby","text":"over the socket"}}]`, a.seq)); err != nil {
		t.Fatal(err)
	}
	a.seq++
	other.waitFor(nodes[0], "over the socket")
	if n := a.resets(); n != 0 {
		t.Errorf("%d sys.reset, want none: the session moved whole", n)
	}

	// In a room, the session stays with the room's owner: relayed.
	conn.CloseNow()
	r := newClient(t, nodes[0])
	r.emit(nodes[0], "room.join", map[string]any{"mode": "tag"})
	room, _ := r.joined(nodes[0])
	roomConn := r.ws(nodes[1])
	other.say(nodes[2], "in a room")
	r.readWS(roomConn, "in a room")
	if h, _ := home(t, nodes[2], r.sid); h != "a" {
		t.Errorf("home of a session in room %s %q, want a (the room's node)", room, h)
	}
}
