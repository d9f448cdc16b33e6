package push

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"comet"
	"comet/server/bus"
)

func benchHub(b *testing.B) *Hub {
	h := NewHub(Config{Bus: bus.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// BenchmarkSessionSend is the cost of numbering one event into one session
// with no stream attached (buffered for replay).
func BenchmarkSessionSend(b *testing.B) {
	h := benchHub(b)
	s := h.NewSession("p", nil)
	m := comet.MustMessage("chat.msg", map[string]string{"text": "hello"})
	b.ReportAllocs()
	for b.Loop() {
		s.Send(m)
	}
}

// BenchmarkBroadcast15k publishes one message to a topic of 15,000 sessions
// (no streams attached): the fan-out cost of a lobby chat line, per publish.
func BenchmarkBroadcast15k(b *testing.B) {
	h := benchHub(b)
	for i := 0; i < 15000; i++ {
		h.NewSession("p", nil).Subscribe(comet.TopicLobby)
	}
	m := comet.MustMessage("chat.msg", map[string]string{"text": "hello"})
	b.ReportAllocs()
	for b.Loop() {
		h.bus.Publish(comet.TopicLobby, m)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/15000, "ns/delivery")
}

// BenchmarkFrameBatch is one flush's framing of a 16-event batch per transport.
func BenchmarkFrameBatch(b *testing.B) {
	evs := make([]event, 16)
	for i := range evs {
		evs[i] = event{seq: uint64(1000 + i), msg: comet.MustMessage("room.diff", map[string]any{"t": i, "c": [][]int{{1, 0, 23, 1, 45}}})}
	}
	for _, tr := range fixedTransports() {
		b.Run(tr.name(), func(b *testing.B) {
			buf := make([]byte, 0, 8192)
			b.ReportAllocs()
			for b.Loop() {
				buf = tr.appendBatch(buf[:0], evs)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkFanout4k publishes one message to 4,000 sessions with attached
// streams over socket pairs (a goroutine reads each client end) and waits
// until the writers have written every stream: the server's whole fan-out,
// enqueueing and writing, per publish. Loopback TCP's receive work is not
// in it, so it isolates the server's own cost.
func BenchmarkFanout4k(b *testing.B) {
	const n = 4000
	h := benchHub(b)
	for i := 0; i < n; i++ {
		s := h.NewSession(fmt.Sprint("p", i), nil)
		s.Subscribe(comet.TopicLobby)
		srv, cli := socketPair(b)
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		st := &stream{hub: h, sess: s, t: sse{}, conn: srv, chunked: true, started: time.Now().UnixNano()}
		st.lastWrite.Store(time.Now().UnixNano())
		h.writers.register(st)
		st.mu.Lock()
		cursor, _, _, _ := s.attach(st, 0)
		st.cursor = cursor
		st.mu.Unlock()
	}
	m := comet.MustMessage("chat.msg", map[string]string{"text": "hello"})
	ctx := context.Background()
	h.Flush(ctx)
	b.ReportAllocs()
	for b.Loop() {
		h.bus.Publish(comet.TopicLobby, m)
		h.Flush(ctx)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/delivery")
}

// socketPair returns the two ends of a connected stream socket pair.
func socketPair(b *testing.B) (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	return conn(fds[0]), conn(fds[1])
}
