package push

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"comet"
	"comet/internal/check"
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

// bufferedAfter reports whether every event s still buffers for replay is
// numbered above seq (the buffer holds the newest events, up to s's seq).
func bufferedAfter(s *Session, seq uint64) error {
	st := s.Stats()
	if oldest := st.Seq - uint64(st.Buffered) + 1; st.Buffered > 0 && oldest <= seq {
		return fmt.Errorf("replay holds seqs %d..%d, want none up to %d", oldest, st.Seq, seq)
	}
	return nil
}

// wsWritten holds a WebSocket for a new session and sends it n events,
// returning once the client has read them and the stream recorded them.
func wsWritten(t testing.TB, h *Hub, n int) (*Session, *wsClient) {
	t.Helper()
	s := h.NewSession("p", nil)
	c := holdWSConn(t, h, s, 0)
	for i := 1; i <= n; i++ {
		s.Send(comet.MustMessage("test.n", i))
	}
	for got := 0; got < n; {
		got += len(c.events(t))
	}
	waitWritten(t, s, uint64(n))
	return s, c
}

// waitWritten waits until the stream attached to s has recorded seq as
// written: a client reads a batch a moment before its writer records it,
// and an ack is never applied past what the stream has recorded.
func waitWritten(t testing.TB, s *Session, seq uint64) {
	t.Helper()
	check.For(t, 5*time.Second, func() error {
		s.mu.Lock()
		st, _ := s.recv.(*stream)
		s.mu.Unlock()
		if st == nil {
			return fmt.Errorf("no stream attached")
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.cursor < seq {
			return fmt.Errorf("stream wrote up to %d, want %d", st.cursor, seq)
		}
		return nil
	})
}

// TestWebSocketAckTrimsReplay: {"last":N} up the socket drops seqs up to N
// from the replay buffer (they stay there otherwise, ReplayKeep), later ones
// stay, nothing is answered, and batches still go upstream after it.
func TestWebSocketAckTrimsReplay(t *testing.T) {
	h, rec := newWSHub(t)
	s, c := wsWritten(t, h, 5)
	if st := s.Stats(); st.Buffered != 5 {
		t.Fatalf("before the ack the replay holds %d events, want 5", st.Buffered)
	}
	c.send(t, WSText, []byte(`{"last":3}`), true)
	c.send(t, WSText, []byte(`[{"seq":1,"type":"fence","data":{}}]`), true) // taken after the ack
	if got := recv(t, rec.got, 5*time.Second, "the fence"); !strings.Contains(got, "fence") {
		t.Fatalf("OnMessage got %q: the ack went to the application", got)
	}
	if err := bufferedAfter(s, 3); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Buffered != 2 {
		t.Fatalf("after acking 3 of 5 the replay holds %d events, want 2", st.Buffered)
	}
	// JSON whitespace is allowed; everything written acknowledged: the ring goes.
	c.send(t, WSText, []byte(" { \"last\" :\t5 }\n"), true)
	check.For(t, 5*time.Second, func() error { return bufferedAfter(s, 5) })
	s.Send(comet.MustMessage("test.n", 6))
	if evs := c.events(t); evs[0].Seq != 6 {
		t.Fatalf("after the ack: %v", evs)
	}
}

// TestWebSocketAckNeverPastWritten: an ack beyond what the stream wrote (a
// client bug) drops only what was written, so an event not yet sent is
// never lost; on a replaced stream an ack drops nothing.
func TestWebSocketAckNeverPastWritten(t *testing.T) {
	h := newTestHub(t, Config{})
	s := h.NewSession("p", nil)
	for i := 1; i <= 5; i++ {
		s.Send(comet.MustMessage("test.n", i))
	}
	// A stream of no socket, never woken: it "wrote" seqs 1 and 2.
	st := &stream{hub: h, sess: s, t: &wsConn{}, fd: -1}
	if _, _, _, ok := s.attach(st, 0); !ok {
		t.Fatal("attach failed")
	}
	t.Cleanup(func() { s.detach(st) })
	st.cursor = 2
	st.ack(99)
	if err := bufferedAfter(s, 2); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Buffered; got != 3 {
		t.Fatalf("an ack of 99 after 2 written left %d events, want 3 (seqs 3..5 unsent)", got)
	}
	replaced := &stream{hub: h, sess: s, t: &wsConn{}, fd: -1, marks: marks{cursor: 5}}
	replaced.ack(5)
	if got := s.Stats().Buffered; got != 3 {
		t.Fatalf("an ack on a stream that is not attached dropped events: %d left, want 3", got)
	}
}

// TestWebSocketBadAck: an object that is not {"last": N} is refused on the
// stream with sys.error invalid, ref 0, and the connection goes on.
func TestWebSocketBadAck(t *testing.T) {
	for _, bad := range []string{`{"last":-1}`, `{"last":1.5}`, `{"last":"7"}`, `{"Last":7}`, `{"last":7,"x":1}`, `{}`, `{"last":01}`, `{"last":18446744073709551616}`, `{"last":7}}`} {
		t.Run(bad, func(t *testing.T) {
			h, _ := newWSHub(t)
			s := h.NewSession("p", nil)
			c := holdWSConn(t, h, s, 0)
			c.send(t, WSText, []byte(bad), true)
			evs := c.events(t)
			if evs[0].Type != "sys.error" || !strings.Contains(string(evs[0].Data), `"code":"invalid"`) || !strings.Contains(string(evs[0].Data), `"ref":0`) {
				t.Fatalf("answer to %s: %v", bad, evs)
			}
			s.Send(comet.MustMessage("test.after", 1))
			if evs := c.events(t); evs[0].Type != "test.after" {
				t.Fatalf("after the refusal: %v", evs)
			}
		})
	}
}

func TestParseWSAck(t *testing.T) {
	for _, tc := range []struct {
		in    string
		last  uint64
		isAck bool
		ok    bool
	}{
		{`{"last":0}`, 0, true, true},
		{`{"last":18446744073709551615}`, 1<<64 - 1, true, true},
		{"\r\n\t {\"last\": 42 } ", 42, true, true},
		{`[{"seq":1,"type":"sys.ping","data":{"t":1}}]`, 0, false, true},
		{``, 0, false, true},
		{`  `, 0, false, true},
		{`{"last":}`, 0, true, false},
		{`{"last":1e3}`, 0, true, false},
		{`{"last":7`, 0, true, false},
		{`{ "last" 7}`, 0, true, false},
	} {
		last, isAck, err := parseWSAck([]byte(tc.in))
		if last != tc.last || isAck != tc.isAck || (err == nil) != tc.ok {
			t.Errorf("parseWSAck(%q) = %d, %v, %v; want %d, %v, ok %v", tc.in, last, isAck, err, tc.last, tc.isAck, tc.ok)
		}
	}
}

// TestProtocolDocWSAck: PROTOCOL.md's acknowledgement frame, its bytes as
// written there, is {"last":7} masked, and sent on a socket that was written
// seqs 1 to 8 it leaves only seq 8 in the replay buffer.
func TestProtocolDocWSAck(t *testing.T) {
	blocks := docBlocks(t, "text ws ack")
	if len(blocks) != 1 {
		t.Fatalf("PROTOCOL.md has %d ```text ws ack blocks, want 1", len(blocks))
	}
	frame, err := hex.DecodeString(strings.Join(strings.Fields(blocks[0]), ""))
	if err != nil {
		t.Fatal(err)
	}
	var d WSDecoder
	if m, n, err := d.Next(bytes.Clone(frame)); err != nil || n != len(frame) || m.Op != WSText || string(m.Payload) != `{"last":7}` {
		t.Fatalf("the doc's frame decodes to %d %q (%d of %d bytes, %v)", m.Op, m.Payload, n, len(frame), err)
	}
	h, _ := newWSHub(t)
	s, c := wsWritten(t, h, 8)
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	check.For(t, 5*time.Second, func() error { return bufferedAfter(s, 7) })
	if got := s.Stats().Buffered; got != 1 {
		t.Fatalf("the replay holds %d events after the doc's ack of 7 of 8, want 1", got)
	}
}

// TestWebSocketIdleHoldsNoState: a socket that read a message in two parts
// and answered a ping holds no reading state once idle again (one nil
// pointer: the decoder, pongs and close code go back to the pool).
func TestWebSocketIdleHoldsNoState(t *testing.T) {
	h, rec := newWSHub(t)
	s := h.NewSession("p", nil)
	c := holdWSConn(t, h, s, 0)
	s.mu.Lock()
	st := s.recv.(*stream)
	s.mu.Unlock()
	ws := st.wsOf()
	c.send(t, WSText, []byte(`[{"seq":1,`), false)
	c.send(t, WSPing, []byte("p"), true)
	for op, _ := c.frame(t); op != WSPong; op, _ = c.frame(t) { // the empty batch first
	}
	check.For(t, 5*time.Second, func() error { // read in part: the state stays
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.reading { // the decoder is the reader's until it is done
			return fmt.Errorf("reading")
		}
		if ws.s == nil || ws.s.dec.Idle() {
			return fmt.Errorf("no partial message held")
		}
		return nil
	})
	c.send(t, WSContinuation, []byte(`"type":"t"}]`), true)
	recv(t, rec.got, 5*time.Second, "the message")
	check.For(t, 5*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if ws.s != nil {
			return fmt.Errorf("idle socket still holds its state")
		}
		return nil
	})
}
