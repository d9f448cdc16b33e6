package push

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"comet"

	"github.com/coder/websocket"
)

// wsBatch is what the test server pushes first on every connection.
func wsBatch() []byte {
	return appendJSONBatch(nil, []event{
		{seq: 1, msg: comet.MustMessage("sys.hello", map[string]string{"text": "κόσμε"})},
		{seq: 2, msg: comet.MustMessage("sys.pong", map[string]float64{"t": 1.5})},
	})
}

// wsEchoServer answers the handshake with CheckWSUpgrade, hijacks, pushes
// wsBatch, then runs WSDecoder and the encoder on the raw socket in a plain
// blocking loop: text is echoed ("ping me" first draws a server ping, "big"
// a 70,000-byte reply), pings are ponged, a close is answered, and a decoder
// error is sent as a close frame. Everything decoded is sent on got; the
// decoder's error as op 0 with its code.
func wsEchoServer(t *testing.T) (url string, got chan wsGot) {
	got = make(chan wsGot, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := CheckWSUpgrade(r)
		if err != nil {
			err.(*WSHandshakeError).Respond(w)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		out := AppendWSUpgrade(nil, u)
		start := len(out)
		out = WrapWSFrame(append(out, wsBatch()...), start, WSText)
		if _, err := conn.Write(out); err != nil {
			t.Error(err)
			return
		}
		var d WSDecoder
		buf := make([]byte, 1500)
		for {
			var n int
			if brw.Reader.Buffered() > 0 {
				n, err = brw.Read(buf)
			} else {
				n, err = conn.Read(buf)
			}
			if err != nil {
				t.Errorf("server read: %v", err)
				return
			}
			for p := buf[:n]; len(p) > 0; {
				m, k, err := d.Next(p)
				p = p[k:]
				out = out[:0]
				if err != nil {
					ce := err.(*WSCloseError)
					got <- wsGot{code: ce.Code, payload: ce.Reason}
					conn.Write(AppendWSClose(out, ce.Code, ce.Reason))
					// Let the client read the close before the socket goes.
					conn.(*net.TCPConn).CloseWrite()
					io.Copy(io.Discard, conn)
					return
				}
				if m.Op != 0 {
					got <- wsGot{op: m.Op, payload: string(m.Payload), code: m.Code}
				}
				switch m.Op {
				case WSText:
					switch string(m.Payload) {
					case "ping me":
						out = AppendWSFrame(out, WSPing, []byte("srv"))
					case "big":
						m.Payload = []byte(strings.Repeat("b", 70000))
					}
					start := len(out)
					out = WrapWSFrame(append(out, m.Payload...), start, WSText)
				case WSPing:
					out = AppendWSFrame(out, WSPong, m.Payload)
				case WSClose:
					conn.Write(AppendWSClose(out, m.Code, ""))
					return
				}
				if _, err := conn.Write(out); err != nil {
					t.Errorf("server write: %v", err)
					return
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws://" + srv.Listener.Addr().String() + "/comet/s_1/ws", got
}

// wsDial connects coder/websocket to the test server and reads the batch it
// pushes first.
func wsDial(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols:    []string{"comet.v1"},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(1 << 20)
	if c.Subprotocol() != "comet.v1" {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	typ, b, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(b) != string(wsBatch()) {
		t.Fatalf("first message: %v %q %v", typ, b, err)
	}
	return c
}

// TestWSInteropCoder runs the codec against a real client library on a real
// socket: messages both ways, client fragments, pings both ways, the close
// handshake, and each refusal reaching the client as its close code.
func TestWSInteropCoder(t *testing.T) {
	url, got := wsEchoServer(t)
	next := func(t *testing.T) wsGot { t.Helper(); return recv(t, got, 5*time.Second, "the server's decode") }
	echo := func(t *testing.T, ctx context.Context, c *websocket.Conn, want string) {
		t.Helper()
		typ, b, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageText || string(b) != want {
			t.Fatalf("echo: %v %.40q (%d bytes) %v; want %.40q (%d bytes)", typ, b, len(b), err, want, len(want))
		}
	}

	t.Run("text both ways", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := wsDial(t, ctx, url)
		for _, s := range []string{"hello κόσμε", "", strings.Repeat("x", 300), strings.Repeat("y", 16<<10)} {
			if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
				t.Fatal(err)
			}
			if g := next(t); g.op != WSText || g.payload != s {
				t.Fatalf("server decoded %v", g)
			}
			echo(t, ctx, c, s)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte("big")); err != nil {
			t.Fatal(err)
		}
		next(t)
		echo(t, ctx, c, strings.Repeat("b", 70000))
		if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("close handshake: %v", err)
		}
		if g := next(t); g != (wsGot{op: WSClose, code: 1000, payload: "bye"}) {
			t.Errorf("server decoded %v, want close 1000 bye", g)
		}
	})

	t.Run("fragments from the client", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := wsDial(t, ctx, url)
		parts := []string{"hel", "lo \xce", "\xba", "", strings.Repeat("f", 5000), strings.Repeat("g", 5000)}
		w, err := c.Writer(ctx, websocket.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if _, err := w.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		want := strings.Join(parts, "")
		if g := next(t); g.op != WSText || g.payload != want {
			t.Fatalf("server decoded %v", g)
		}
		echo(t, ctx, c, want)
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		if g := next(t); g != (wsGot{op: WSClose, code: 1000}) {
			t.Errorf("server decoded %v", g)
		}
	})

	t.Run("ping and pong both ways", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := wsDial(t, ctx, url)
		read := make(chan string, 4)
		go func() {
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					close(read)
					return
				}
				read <- string(b)
			}
		}()
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("client ping: %v", err)
		}
		if g := next(t); g.op != WSPing || g.payload == "" {
			t.Fatalf("server decoded %v, want a ping", g)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte("ping me")); err != nil {
			t.Fatal(err)
		}
		if g := next(t); g.op != WSText {
			t.Fatalf("server decoded %v", g)
		}
		if g := next(t); g != (wsGot{op: WSPong, payload: "srv"}) {
			t.Fatalf("server decoded %v, want the client's pong", g)
		}
		if s := recv(t, read, 5*time.Second, "echo"); s != "ping me" {
			t.Fatalf("client read %q", s)
		}
		if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
			t.Fatal(err)
		}
		if g := next(t); g != (wsGot{op: WSClose, code: 1000, payload: "done"}) {
			t.Errorf("server decoded %v", g)
		}
	})

	for _, c := range []struct {
		name   string
		send   func(ctx context.Context, c *websocket.Conn) error
		code   websocket.StatusCode
		reason string
	}{
		{"oversized message", func(ctx context.Context, c *websocket.Conn) error {
			return c.Write(ctx, websocket.MessageText, []byte(strings.Repeat("o", 16<<10+1)))
		}, 1009, "message too big"},
		{"oversized over fragments", func(ctx context.Context, c *websocket.Conn) error {
			w, err := c.Writer(ctx, websocket.MessageText)
			if err == nil {
				_, err = w.Write([]byte(strings.Repeat("o", 10000)))
			}
			if err == nil {
				_, err = w.Write([]byte(strings.Repeat("o", 10000)))
			}
			return err
		}, 1009, "message too big"},
		{"invalid UTF-8", func(ctx context.Context, c *websocket.Conn) error {
			return c.Write(ctx, websocket.MessageText, []byte("valid, then \xff"))
		}, 1007, "text is not UTF-8"},
		{"binary message", func(ctx context.Context, c *websocket.Conn) error {
			return c.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3})
		}, 1003, "binary message, text expected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn := wsDial(t, ctx, url)
			if err := c.send(ctx, conn); err != nil {
				t.Fatal(err)
			}
			if g := next(t); g != (wsGot{code: uint16(c.code), payload: c.reason}) {
				t.Errorf("server decoded %v, want close %d", g, c.code)
			}
			_, _, err := conn.Read(ctx)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != c.code || ce.Reason != c.reason {
				t.Errorf("client read %v, want close %d %q", err, c.code, c.reason)
			}
		})
	}

	t.Run("not an upgrade", func(t *testing.T) {
		resp, err := http.Get("http" + strings.TrimPrefix(url, "ws"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 426 || resp.Header.Get("Sec-WebSocket-Version") != "13" || resp.Header.Get("Upgrade") != "websocket" {
			t.Errorf("answered %d %v", resp.StatusCode, resp.Header)
		}
	})
}
