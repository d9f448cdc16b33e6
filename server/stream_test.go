package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"comet"
	"comet/server/push"
)

// stalledStream opens a multipart stream on a socket with a tiny receive
// buffer and never reads it past the response head: the server's writes to
// it soon stop being taken.
func stalledStream(t *testing.T, c *client) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return err
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(c.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /comet/%s/multipart?last=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", c.SID, c.Token)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("open stalled stream: %v %v", resp, err)
	}
	return conn
}

// bigMessage is an event large enough to fill socket buffers quickly.
func bigMessage(i int) *comet.Message {
	return comet.MustMessage("test.big", map[string]any{"i": i, "pad": strings.Repeat("x", 32<<10)})
}

// fillUntilBacklogged sends big events until the session's stream has bytes
// its socket would not take (the kernel buffers several MB first).
func fillUntilBacklogged(t *testing.T, s *push.Session) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !s.Backlogged(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the stalled stream never backed up")
		}
		s.Send(bigMessage(i))
		if i%8 == 7 {
			time.Sleep(5 * time.Millisecond) // pacing, not an assertion: let the writer catch up with the ring
		}
	}
}

// TestSlowConsumerDelaysNoOne: with a single writer and a long write timeout,
// a client that stops reading must not hold up delivery to another client;
// the stalled stream keeps its bytes pending instead of blocking the writer.
func TestSlowConsumerDelaysNoOne(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Hub.Writers = 1
		c.Hub.WriteTimeout = 20 * time.Second
		c.Hub.RecycleBytes = 1 << 30 // a recycle would end the stall
	})
	slow := newClient(t, ts.URL)
	stalledStream(t, slow)
	slowSess, _ := ts.Hub().Session(slow.SID)
	fillUntilBacklogged(t, slowSess)

	fast := newClient(t, ts.URL)
	st := fast.open("sse", 0)
	defer st.close()
	fastSess, _ := ts.Hub().Session(fast.SID)
	start := time.Now()
	for i := 0; i < 20; i++ {
		fastSess.Send(comet.MustMessage("test.n", i))
		slowSess.Send(bigMessage(i)) // the stalled session keeps getting events too
	}
	for {
		ev := st.next(t, 10*time.Second)
		if ev.Type == "test.n" && string(ev.Data) == "19" {
			break
		}
	}
	// The old blocking writer would have held the only writer for the
	// 20 s write timeout; anything near it means the stall leaked.
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("fast client waited %s behind a stalled one", took)
	}
}

// TestStalledStreamIsCut: a stream whose client takes no bytes for the write
// timeout is closed and counted; its session is left to resume or expire.
func TestStalledStreamIsCut(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Hub.WriteTimeout = 300 * time.Millisecond
		c.Hub.RecycleBytes = 1 << 30
	})
	slow := newClient(t, ts.URL)
	stalledStream(t, slow)
	sess, _ := ts.Hub().Session(slow.SID)
	fillUntilBacklogged(t, sess)
	checkFor(t, 10*time.Second, func() error {
		if n := metricNamed(t, ts.metrics.Registry, "comet_slow_consumers_cut_total", ""); n < 1 {
			return fmt.Errorf("slow consumers cut = %v", n)
		}
		if sess.Stats().Attached {
			return fmt.Errorf("session still has its stalled stream")
		}
		return nil
	})
	if sess.Backlogged() {
		t.Fatal("session still marked backlogged after its stream was cut")
	}
}

// TestPeerHangupClosesStreamAtOnce: a client that closes its socket is
// noticed without waiting for a heartbeat write to fail.
func TestPeerHangupClosesStreamAtOnce(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Hub.Heartbeat = time.Minute })
	c := newClient(t, ts.URL)
	st := c.open("multipart", 0)
	sess, _ := ts.Hub().Session(c.SID)
	st.waitType(t, "lobby.rooms", 5*time.Second)
	st.close()
	checkFor(t, 2*time.Second, func() error { // the old 5-second probe would miss this
		if sess.Stats().Attached {
			return fmt.Errorf("stream still attached after the client hung up")
		}
		return nil
	})
	if n := metricNamed(t, ts.metrics.Registry, "comet_streams", "multipart"); n != 0 {
		t.Fatalf("comet_streams{multipart} = %v after hang-up", n)
	}
}

// TestWrappedConnectionKeepsItsWrites: a listener that wraps its sockets
// (here a byte counter embedding *net.TCPConn, which still has SyscallConn)
// must see every byte of the stream: the pool takes the descriptor only from
// the net package's own socket types, never from around a wrapper.
func TestWrappedConnectionKeepsItsWrites(t *testing.T) {
	var written atomic.Int64
	ts := startServerOn(t, nil, func(ln net.Listener) net.Listener {
		return countingListener{ln, &written}
	})
	c := newClient(t, ts.URL)
	st := c.open("sse", 0)
	defer st.close()
	st.waitType(t, "lobby.rooms", 5*time.Second)
	afterHead := written.Load()
	sess, _ := ts.Hub().Session(c.SID)
	sess.Send(comet.MustMessage("test.n", strings.Repeat("x", 1000)))
	if ev := st.waitType(t, "test.n", 5*time.Second); len(ev.Data) < 1000 {
		t.Fatalf("event of %d bytes", len(ev.Data))
	}
	if got := written.Load() - afterHead; got < 1000 {
		t.Fatalf("the wrapper saw %d bytes of a 1,000-byte event: writes went around it", got)
	}
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{TCPConn: c.(*net.TCPConn), n: l.n}, nil
}

type countingConn struct {
	*net.TCPConn
	n *atomic.Int64
}

// Write counts before writing: once the client has read bytes, they are
// already counted.
func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.TCPConn.Write(p)
}

// metricNamed reads a counter or gauge from a registry by name (and, for a
// vector, the value of its one label); -1 when absent.
func metricNamed(t testing.TB, g prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return -1
}
