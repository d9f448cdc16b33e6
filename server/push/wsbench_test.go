package push

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"comet"
	"comet/server/bus"
)

// BenchmarkWSDecode is the cost of decoding one upstream text message of
// 1 KiB as one read returns it: whole (unmasked in place, no copy), cut in
// two reads (kept until the frame ends), and in four fragments.
func BenchmarkWSDecode(b *testing.B) {
	text := `[{"seq":1,"type":"in","data":{"k":"` + strings.Repeat("κx", 336) + `"}}]`
	whole := wsC(0x81, text)
	frags := wsCat(wsC(0x01, text[:256]), wsC(0x00, text[256:512]), wsC(0x00, text[512:768]), wsC(0x80, text[768:]))
	for _, c := range []struct {
		name   string
		in     []byte
		splits []int
	}{
		{"whole", whole, nil},
		{"two reads", whole, []int{len(whole) / 2}},
		{"four fragments", frags, nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, len(c.in))
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, c.in)
				var d WSDecoder
				var got int
				from := 0
				for _, to := range append(c.splits, len(buf)) {
					for p := buf[from:to]; len(p) > 0; {
						m, n, err := d.Next(p)
						if err != nil {
							b.Fatal(err)
						}
						p = p[n:]
						got += len(m.Payload)
					}
					from = to
				}
				if got != len(text) {
					b.Fatalf("decoded %d bytes", got)
				}
			}
		})
	}
}

// BenchmarkWSEncodeBatch is one flush's framing of a 16-event batch as one
// text message, into a reused buffer.
func BenchmarkWSEncodeBatch(b *testing.B) {
	evs := make([]event, 16)
	for i := range evs {
		evs[i] = event{seq: uint64(1000 + i), msg: comet.MustMessage("x.y", map[string]any{"t": i, "c": [][]int{{1, 0, 23, 1, 45}}})}
	}
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		buf = WrapWSFrame(appendJSONBatch(buf[:0], evs), 0, WSText)
	}
	b.SetBytes(int64(len(buf)))
}

// TestWSDecoderSize keeps the per-connection reading state small: a socket
// holds it while a message is read in part or a pong waits (an idle one holds
// none, TestWebSocketIdleHoldsNoState).
func TestWSDecoderSize(t *testing.T) {
	if s := unsafe.Sizeof(WSDecoder{}); s > 128 {
		t.Errorf("WSDecoder is %d bytes, over 128", s)
	}
}

// BenchmarkIdleStreamHeap is what an idle held stream keeps on the heap once
// it is set up, for an HTTP transport (SSE) and a WebSocket: 1,000 sessions,
// then a stream each over a socket pair whose client end never reads, then a
// GC; B/stream is the live heap the streams added, B/session what the
// sessions did before them. The server end's net.Conn is made inside the
// measured part, as an accept makes it, so what the stream lets go of is not
// counted and what it keeps is.
func BenchmarkIdleStreamHeap(b *testing.B) {
	const n = 1000
	for _, tr := range []string{"sse", "ws"} {
		b.Run(tr, func(b *testing.B) {
			var perStream, perSession float64
			for b.Loop() {
				perSession, perStream = idleStreamHeap(b, tr, n)
			}
			b.ReportMetric(perStream, "B/stream")
			b.ReportMetric(perSession, "B/session")
		})
	}
}

// idleStreamHeap holds n idle streams of transport tr on a new hub and
// returns the live heap per session and per stream.
func idleStreamHeap(b *testing.B, tr string, n int) (perSession, perStream float64) {
	b.StopTimer()
	defer b.StartTimer()
	fds := make([][2]int, n)
	for i := range fds {
		p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			b.Fatal(err)
		}
		fds[i] = p
	}
	defer func() {
		for _, p := range fds {
			syscall.Close(p[1]) // the client hangs up: the streams close
		}
	}()
	h := NewHub(Config{Bus: bus.New(), Logger: quietLogger(), OnMessage: func(context.Context, *Session, []byte) {}})
	defer h.Close(context.Background())
	sessions := make([]*Session, n)
	h0 := liveHeap()
	for i := range sessions {
		sessions[i] = h.NewSession(fmt.Sprint("p", i), nil)
	}
	h1 := liveHeap()
	for i, s := range sessions {
		f := os.NewFile(uintptr(fds[i][0]), "server end")
		conn, err := net.FileConn(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if tr == "ws" {
			err = h.HoldWS(HoldWS{Conn: conn, Session: s, Upgrade: WSUpgrade{Accept: WSAccept("dGhlIHNhbXBsZSBub25jZQ==")}})
		} else {
			err = h.Hold(Hold{Conn: conn, Session: s, Transport: sse{}, Chunked: true})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	h.Flush(context.Background())
	h2 := liveHeap()
	return float64(h1-h0) / float64(n), float64(h2-h1) / float64(n)
}

// liveHeap is the heap that survives two collections (the second frees what
// the first left to sync.Pools).
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
