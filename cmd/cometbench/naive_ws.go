package main

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
)

// The naive WebSocket baseline, served by the naive server at
// GET /comet/{sid}/ws: gorilla/websocket the way its chat example uses it.
// Each connection has a reader goroutine (ReadMessage in a loop, which also
// answers pings and the close) and a writer goroutine draining a buffered
// channel and writing the heartbeat on a ticker. It speaks the same framing
// as the real server: a first empty batch, batches as text messages.
// POST /publish?k=K&t=NANOS queues one chat.msg of the real server's shape
// (as the raw writer's) to every connection.

// gorillaSendQueue is each connection's channel of messages to write (the
// chat example's is 256; a broadcast of a few lines needs few).
const gorillaSendQueue = 16

type gorillaHub struct {
	up        websocket.Upgrader
	heartbeat time.Duration

	mu      sync.Mutex
	conns   map[*gorillaConn]struct{}
	msgID   int64
	dropped int64 // connections closed because their queue was full
}

type gorillaConn struct {
	ws   *websocket.Conn
	send chan []byte
	done chan struct{} // closed when the reader ends
	seq  uint64        // under the hub's lock
}

func newGorillaHub(heartbeat time.Duration) *gorillaHub {
	return &gorillaHub{
		// The client sends no Origin; buffer sizes are the defaults (the
		// hijacked connection's 4 KiB buffers are reused).
		up:        websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		heartbeat: heartbeat,
		conns:     map[*gorillaConn]struct{}{},
	}
}

// serve upgrades one request and starts its reader and writer.
func (h *gorillaHub) serve(c echo.Context) error {
	ws, err := h.up.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // Upgrade has answered the refusal
	}
	gc := &gorillaConn{ws: ws, send: make(chan []byte, gorillaSendQueue), done: make(chan struct{})}
	h.mu.Lock()
	h.conns[gc] = struct{}{}
	h.mu.Unlock()
	go gc.writeLoop(h.heartbeat)
	go func() {
		gc.readLoop()
		h.mu.Lock()
		delete(h.conns, gc)
		h.mu.Unlock()
	}()
	return nil
}

// readLoop reads (and drops) the client's messages until the connection ends.
func (gc *gorillaConn) readLoop() {
	defer close(gc.done)
	defer gc.ws.Close()
	gc.ws.SetReadLimit(16 << 10)
	for {
		if _, _, err := gc.ws.ReadMessage(); err != nil {
			return
		}
	}
}

// writeLoop writes the first empty batch, then queued messages and a
// heartbeat (an empty batch) every interval, until the reader ends.
func (gc *gorillaConn) writeLoop(heartbeat time.Duration) {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	write := func(msg []byte) bool {
		_ = gc.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := gc.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			_ = gc.ws.Close() // the reader sees it and ends
			return false
		}
		return true
	}
	if !write([]byte("[]")) {
		return
	}
	for {
		select {
		case <-gc.done:
			return
		case msg := <-gc.send:
			if !write(msg) {
				return
			}
		case <-t.C:
			if !write([]byte("[]")) {
				return
			}
		}
	}
}

// publish queues message k (sent at unix nanos t) to every connection; one
// whose queue is full is closed, as the chat example does.
func (h *gorillaHub) publish(k int, t int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgID++
	data := fmt.Appendf(nil, `{"id":%d,"channel":"lobby","from":{"id":"p_AAAAAAAAAAAA","name":"Guest-0000"},"text":"cb %d %d","at":%d}`,
		h.msgID, k, t, t/1e6)
	for gc := range h.conns {
		gc.seq++
		msg := fmt.Appendf(nil, `[{"seq":%d,"type":"chat.msg","data":%s}]`, gc.seq, data)
		select {
		case gc.send <- msg:
		default:
			h.dropped++
			_ = gc.ws.Close()
		}
	}
}

// handlePublish is POST /publish?k=K&t=NANOS.
func (h *gorillaHub) handlePublish(c echo.Context) error {
	k, err1 := strconv.Atoi(c.QueryParam("k"))
	t, err2 := strconv.ParseInt(c.QueryParam("t"), 10, 64)
	if err1 != nil || err2 != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "want k and t")
	}
	h.publish(k, t)
	return c.NoContent(http.StatusNoContent)
}
