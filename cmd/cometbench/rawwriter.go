package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The raw writer is the throughput limit: no framework, no sessions, no bus.
// It accepts GET rawPath and answers the same response head and prelude as
// the real multipart transport (or GET rawWSPath, the same 101 head and
// first empty batch as the real WebSocket), then forgets the goroutine; POST
// /publish?k=K&t=NANOS writes one chat.msg event of the real server's shape
// and size, in the same chunk and part framing, to every held socket, one
// write per socket, on GOMAXPROCS goroutines.

// rawBoundary has the real server's length ("comet-" and 16 hex digits).
const rawBoundary = "comet-0123456789abcdef"

type rawWriter struct {
	pub   sync.Mutex // one publish at a time, as one writer per stream in the server
	mu    sync.Mutex
	conns []*rawConn
	msgID int64
}

type rawConn struct {
	c    net.Conn
	seq  uint64
	dead bool
	ws   bool // a WebSocket: text frames instead of chunks and parts
}

// serveRaw serves the raw writer on ln until ctx ends.
func serveRaw(ctx context.Context, ln net.Listener) error {
	w := &rawWriter{}
	go func() {
		<-ctx.Done()
		_ = ln.Close()
		w.mu.Lock()
		for _, rc := range w.conns {
			_ = rc.c.Close()
		}
		w.mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("raw writer: accept: %w", err)
		}
		go w.serve(c)
	}
}

// serve reads one request head and answers it.
func (w *rawWriter) serve(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 1024)
	line, err := br.ReadString('\n')
	if err != nil {
		_ = c.Close()
		return
	}
	wsKey := ""
	for { // only a WebSocket's key is needed
		h, err := br.ReadString('\n')
		if err != nil {
			_ = c.Close()
			return
		}
		if strings.TrimSpace(h) == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Sec-WebSocket-Key") {
			wsKey = strings.TrimSpace(v)
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	f := strings.Fields(line)
	if len(f) < 2 {
		_ = c.Close()
		return
	}
	path, query, _ := strings.Cut(f[1], "?")
	switch {
	case f[0] == "GET" && path == rawPath:
		head := "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=\"" + rawBoundary + "\"\r\n" +
			"Cache-Control: no-store\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n" +
			"X-Accel-Buffering: no\r\nX-Content-Type-Options: nosniff\r\n\r\n"
		pre := naivePrelude + "\r\n"
		head += strconv.FormatInt(int64(len(pre)), 16) + "\r\n" + pre + "\r\n"
		if _, err := c.Write([]byte(head)); err != nil {
			_ = c.Close()
			return
		}
		w.mu.Lock()
		w.conns = append(w.conns, &rawConn{c: c})
		w.mu.Unlock()
	case f[0] == "GET" && path == rawWSPath && wsKey != "":
		// The 101 head and the first empty batch, as the real server sends them.
		head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wsAccept(wsKey) + "\r\n\r\n\x81\x02[]"
		if _, err := c.Write([]byte(head)); err != nil {
			_ = c.Close()
			return
		}
		w.mu.Lock()
		w.conns = append(w.conns, &rawConn{c: c, ws: true})
		w.mu.Unlock()
	case f[0] == "POST" && path == "/publish":
		q, _ := url.ParseQuery(query)
		k, err1 := strconv.Atoi(q.Get("k"))
		t, err2 := strconv.ParseInt(q.Get("t"), 10, 64)
		status := "204 No Content"
		if err1 != nil || err2 != nil {
			status = "400 Bad Request"
		} else {
			w.publish(k, t)
		}
		_, _ = c.Write([]byte("HTTP/1.1 " + status + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		_ = c.Close()
	case f[0] == "GET" && path == "/healthz":
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
		_ = c.Close()
	default:
		_, _ = c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		_ = c.Close()
	}
}

// publish writes message k (sent at unix nanos t) to every held socket.
func (w *rawWriter) publish(k int, t int64) {
	w.pub.Lock()
	defer w.pub.Unlock()
	w.mu.Lock()
	conns := w.conns
	w.msgID++
	id := w.msgID
	w.mu.Unlock()
	// The data member as the real server writes a chat.msg (same fields,
	// same lengths of ids and names).
	data := fmt.Appendf(nil, `{"id":%d,"channel":"lobby","from":{"id":"p_AAAAAAAAAAAA","name":"Guest-0000"},"text":"cb %d %d","at":%d}`,
		id, k, t, t/1e6)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 512)
			for i := wk; i < len(conns); i += workers {
				rc := conns[i]
				if rc.dead {
					continue
				}
				rc.seq++
				if rc.ws {
					buf = appendRawWSFrame(buf[:0], rc.seq, data)
				} else {
					buf = appendRawFrame(buf[:0], rc.seq, data)
				}
				if _, err := rc.c.Write(buf); err != nil {
					rc.dead = true
					_ = rc.c.Close()
				}
			}
		}()
	}
	wg.Wait()
}

// appendRawFrame appends one chunk holding one multipart part with the
// batch [{"seq":seq,"type":"chat.msg","data":data}].
func appendRawFrame(dst []byte, seq uint64, data []byte) []byte {
	const part = "--" + rawBoundary + "\r\nContent-Type: application/json\r\n\r\n"
	n := len(part) + len(`[{"seq":,"type":"chat.msg","data":}]`) + decimalLen(seq) + len(data) + 2
	dst = strconv.AppendInt(dst, int64(n), 16)
	dst = append(dst, "\r\n"...)
	dst = append(dst, part...)
	dst = append(dst, `[{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"type":"chat.msg","data":`...)
	dst = append(dst, data...)
	dst = append(dst, "}]\r\n\r\n"...)
	return dst
}

// appendRawWSFrame appends one unmasked text frame holding the batch
// [{"seq":seq,"type":"chat.msg","data":data}], as the real server frames it.
func appendRawWSFrame(dst []byte, seq uint64, data []byte) []byte {
	n := len(`[{"seq":,"type":"chat.msg","data":}]`) + decimalLen(seq) + len(data)
	switch {
	case n < 126:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x81, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x81, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, `[{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"type":"chat.msg","data":`...)
	dst = append(dst, data...)
	return append(dst, "}]"...)
}

func decimalLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
