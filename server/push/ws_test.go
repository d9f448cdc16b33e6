package push

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"comet"
)

// wsClient is a minimal WebSocket client on a raw socket: it masks what it
// sends and reads the server's frames, so the tests see every byte.
type wsClient struct {
	conn net.Conn
	r    *bufio.Reader
}

// holdWSConn upgrades a loopback connection for s (the test plays the HTTP
// handler: the upgrade is taken as checked) and reads the 101 head.
func holdWSConn(t testing.TB, h *Hub, s *Session, last uint64) *wsClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.HoldWS(HoldWS{Conn: srv, Session: s, Upgrade: WSUpgrade{Accept: WSAccept("dGhlIHNhbXBsZSBub25jZQ==")}, Last: last}); err != nil {
		t.Fatalf("HoldWS: %v", err)
	}
	c := &wsClient{conn: cli, r: bufio.NewReader(cli)}
	_ = cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade answer %q: %v", status, err)
	}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	return c
}

// send writes one masked frame (fin set unless fragment).
func (c *wsClient) send(t testing.TB, op WSOpcode, payload []byte, fin bool) {
	t.Helper()
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	frame := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xFFFF:
		frame = binary.BigEndian.AppendUint16(append(frame, 0x80|126), uint16(n))
	default:
		frame = binary.BigEndian.AppendUint64(append(frame, 0x80|127), uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	frame = append(frame, key[:]...)
	for i, b := range payload {
		frame = append(frame, b^key[i&3])
	}
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

// frame reads one server frame (servers never mask).
func (c *wsClient) frame(t testing.TB) (WSOpcode, []byte) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		t.Fatalf("server frame %x: want final and unmasked", h)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		io.ReadFull(c.r, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		io.ReadFull(c.r, l[:])
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return WSOpcode(h[0] & 0x0f), p
}

// events reads text frames until one holds events, skipping heartbeats.
func (c *wsClient) events(t testing.TB) []wireEvent {
	t.Helper()
	for {
		op, p := c.frame(t)
		if op != WSText {
			t.Fatalf("got opcode %d %q, want a text batch", op, p)
		}
		var evs []wireEvent
		if err := json.Unmarshal(p, &evs); err != nil {
			t.Fatalf("batch %q: %v", p, err)
		}
		if len(evs) > 0 {
			return evs
		}
	}
}

// closeCode reads frames until the close frame and returns its code.
func (c *wsClient) closeCode(t testing.TB) uint16 {
	t.Helper()
	for {
		op, p := c.frame(t)
		if op == WSClose {
			if len(p) < 2 {
				return WSCloseNoStatus
			}
			return binary.BigEndian.Uint16(p)
		}
	}
}

type wsRecorder struct {
	mu   sync.Mutex
	msgs []string
	got  chan string
}

func (r *wsRecorder) onMessage(_ context.Context, _ *Session, msg []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(msg))
	r.mu.Unlock()
	r.got <- string(msg)
}

func newWSHub(t testing.TB) (*Hub, *wsRecorder) {
	rec := &wsRecorder{got: make(chan string, 64)}
	return newTestHub(t, Config{OnMessage: rec.onMessage}), rec
}

// TestWebSocketBothWays: events go down as text batches with the same seqs
// as the other transports (resuming after last), client messages come up in
// order, pings are answered with pongs carrying their data.
func TestWebSocketBothWays(t *testing.T) {
	h, rec := newWSHub(t)
	s := h.NewSession("p", nil)
	s.Send(comet.MustMessage("test.n", 1))
	s.Send(comet.MustMessage("test.n", 2))
	c := holdWSConn(t, h, s, 1)
	if evs := c.events(t); evs[0].Seq != 2 || evs[0].Type != "test.n" {
		t.Fatalf("first batch after last=1: %v", evs)
	}
	for i := range 3 {
		c.send(t, WSText, []byte(`[{"seq":`+string(rune('1'+i))+`,"type":"t","data":{}}]`), true)
	}
	for i := range 3 {
		if got := recv(t, rec.got, 5*time.Second, "message"); !strings.Contains(got, `"seq":`+string(rune('1'+i))) {
			t.Fatalf("message %d was %s: out of order", i, got)
		}
	}
	// A fragmented message arrives whole, a ping between its fragments.
	c.send(t, WSText, []byte(`[{"seq":9,`), false)
	c.send(t, WSPing, []byte("hi"), true)
	c.send(t, WSContinuation, []byte(`"type":"t"}]`), true)
	if op, p := c.frame(t); op != WSPong || string(p) != "hi" {
		t.Fatalf("answer to ping: %d %q", op, p)
	}
	if got := recv(t, rec.got, 5*time.Second, "fragmented message"); got != `[{"seq":9,"type":"t"}]` {
		t.Fatalf("fragmented message arrived as %q", got)
	}
	s.Send(comet.MustMessage("test.n", 3))
	if evs := c.events(t); evs[0].Seq != 3 {
		t.Fatalf("next batch %v", evs)
	}
}

// TestWebSocketBadInputClosesThatConnection: each violation ends its own
// connection with the RFC's close code, and another session's stream goes
// on untouched (its next event is the fence).
func TestWebSocketBadInputClosesThatConnection(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(t testing.TB, c *wsClient)
		code uint16
	}{
		{"oversized message", func(t testing.TB, c *wsClient) { c.send(t, WSText, make([]byte, 17<<10), true) }, WSCloseTooBig},
		{"invalid UTF-8", func(t testing.TB, c *wsClient) { c.send(t, WSText, []byte{'[', 0xff, ']'}, true) }, WSCloseInvalidPayload},
		{"binary message", func(t testing.TB, c *wsClient) { c.send(t, WSBinary, []byte("[]"), true) }, WSCloseUnsupportedData},
		{"unmasked frame", func(t testing.TB, c *wsClient) { c.conn.Write([]byte{0x81, 0x02, '[', ']'}) }, WSCloseProtocolError},
		{"long ping", func(t testing.TB, c *wsClient) { c.send(t, WSPing, make([]byte, 126), true) }, WSCloseProtocolError},
		{"client close", func(t testing.TB, c *wsClient) {
			c.send(t, WSClose, binary.BigEndian.AppendUint16(nil, 4001), true)
		}, 4001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newWSHub(t)
			bystander := h.NewSession("b", nil)
			other := holdWSConn(t, h, bystander, 0)
			s := h.NewSession("p", nil)
			c := holdWSConn(t, h, s, 0)
			tc.send(t, c)
			if code := c.closeCode(t); code != tc.code {
				t.Fatalf("closed with %d, want %d", code, tc.code)
			}
			checkFor(t, 5*time.Second, func() error {
				if s.Stats().Attached {
					return io.ErrNoProgress
				}
				return nil
			})
			bystander.Send(comet.MustMessage("test.fence", 1))
			if evs := other.events(t); evs[0].Type != "test.fence" {
				t.Fatalf("bystander got %v", evs)
			}
		})
	}
}

// TestWebSocketLastMessageBeforeHangup: a client that sends a message and
// shuts its socket at once (FIN right behind the frame) still has the
// message taken: the read comes before the hang-up.
func TestWebSocketLastMessageBeforeHangup(t *testing.T) {
	h, rec := newWSHub(t)
	s := h.NewSession("p", nil)
	c := holdWSConn(t, h, s, 0)
	c.send(t, WSText, []byte(`[{"seq":1,"type":"last","data":{}}]`), true)
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, rec.got, 5*time.Second, "the last message"); !strings.Contains(got, "last") {
		t.Fatalf("got %q", got)
	}
	checkFor(t, 5*time.Second, func() error {
		if s.Stats().Attached {
			return io.ErrNoProgress
		}
		return nil
	})
}

// TestWebSocketIsNeverRecycled: past the recycle budget a WebSocket keeps
// going, and a burst still goes out in full batches, not one event each.
func TestWebSocketIsNeverRecycled(t *testing.T) {
	rec := &wsRecorder{got: make(chan string, 64)}
	h := newTestHub(t, Config{OnMessage: rec.onMessage, RecycleBytes: 4 << 10})
	s := h.NewSession("p", nil)
	c := holdWSConn(t, h, s, 0)
	for i := range 100 { // 100 events of ~120 bytes: past the budget
		s.Send(comet.MustMessage("test.n", map[string]any{"i": i, "pad": strings.Repeat("x", 100)}))
	}
	seen, batches := 0, 0
	for seen < 100 {
		seen += len(c.events(t))
		batches++
	}
	h.Flush(context.Background())
	for i := range 50 { // a second burst, all buffered before the writer runs
		s.Send(comet.MustMessage("test.m", i))
	}
	got := 0
	batches = 0
	for got < 50 {
		got += len(c.events(t))
		batches++
	}
	if batches > 10 {
		t.Fatalf("50 queued events came in %d batches past the recycle budget", batches)
	}
	if !s.Stats().Attached {
		t.Fatal("the WebSocket was recycled")
	}
}
