package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sys/unix"
)

// The WebSocket transport: a held stream like the others — written by the
// writer pool, watched by the poller, no goroutine while idle — that also
// reads. When the poller reports its socket readable, a task worker reads
// what is there without blocking, feeds the frame decoder (wsframe.go) and
// hands each complete text message to the application's OnMessage, in
// order; pings are answered with pongs, a close with a close. Between
// messages nothing is buffered.

// wsConn is the WebSocket framing of one stream and its reading state. Each
// stream has its own (unlike the HTTP framings, which are stateless).
type wsConn struct {
	dec WSDecoder

	// Under the stream's lock:
	ctrl      []byte // pongs waiting to go out before the next batch
	closeCode uint16 // the close code the end sends (0: by the end reason)
	closeWhy  string
}

// wsMaxCtrl bounds the pongs waiting for a client that pings faster than it
// reads: past it the connection is closed (1008).
const wsMaxCtrl = 1024

// wsReadRounds bounds the reads one wake-up makes, so one busy client cannot
// hold a worker; the poller reports the rest.
const wsReadRounds = 4

func (w *wsConn) name() string { return "ws" }

func (w *wsConn) header(http.Header) {}

// appendPrelude sends nothing: the 101 head opens the connection.
func (w *wsConn) appendPrelude(dst []byte) []byte { return dst }

// appendBatch sends one batch as one text message: the same JSON array the
// other transports carry.
func (w *wsConn) appendBatch(dst []byte, evs []event) []byte {
	start := len(dst)
	dst = appendJSONBatch(dst, evs)
	return WrapWSFrame(dst, start, WSText)
}

// appendEnd sends the end frame as a text message, then the close frame:
// 1000, or 1001 when the server goes away, or the code a failed read set.
// A connection the client closed or broke ends with the close frame alone,
// carrying the client's code or the violation's.
func (w *wsConn) appendEnd(dst []byte, why EndReason) []byte {
	if w.closeCode != 0 {
		return AppendWSClose(dst, w.closeCode, w.closeWhy)
	}
	start := len(dst)
	dst = appendEndObject(dst, why)
	dst = WrapWSFrame(dst, start, WSText)
	code := WSCloseNormal
	if why == EndShutdown || why == endUnset {
		code = WSCloseGoingAway
	}
	return AppendWSClose(dst, code, why.String())
}

// HoldWS is an upgraded WebSocket request handed to the core: a hijacked
// connection on which nothing has been written yet.
type HoldWS struct {
	Conn    net.Conn
	Session *Session
	Upgrade WSUpgrade // from CheckWSUpgrade
	Last    uint64    // the client's resume cursor
	Release func()    // called once when the stream ends
}

// HoldWS completes the opening handshake and makes the connection the
// session's downstream, which also carries the client's events upstream (to
// Config.OnMessage). It needs the poller (Linux): elsewhere it fails.
func (h *Hub) HoldWS(o HoldWS) error {
	fail := func(err error) error {
		if o.Conn != nil {
			_ = o.Conn.Close()
		}
		if o.Release != nil {
			o.Release()
		}
		return err
	}
	if h.Draining() {
		return fail(ErrDraining)
	}
	if h.writers.poll == nil {
		return fail(errors.New("websocket needs the socket poller"))
	}
	if h.cfg.OnMessage == nil {
		return fail(errors.New("websocket needs Config.OnMessage"))
	}
	ws := &wsConn{dec: WSDecoder{MaxMessage: h.cfg.MaxMessage}}
	st := &stream{hub: h, sess: o.Session, t: ws, conn: o.Conn, started: time.Now().UnixNano(), release: o.Release}
	head := AppendWSUpgrade(nil, o.Upgrade)
	head = ws.appendBatch(head, nil) // an empty batch: the stream flows
	_ = o.Conn.SetDeadline(time.Time{})
	_ = o.Conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if _, err := o.Conn.Write(head); err != nil {
		return fail(fmt.Errorf("write websocket head: %w", err))
	}
	_ = o.Conn.SetWriteDeadline(time.Time{})
	st.lastWrite.Store(time.Now().UnixNano())
	h.writers.register(st)
	if st.fd < 0 { // a wrapped connection the poller cannot read
		st.close(errors.New("websocket needs a plain socket"))
		return errors.New("websocket needs a plain socket")
	}
	return h.attachStream(st, o.Last)
}

// wsClientClosed is the reason of the close a client's close frame asked for.
const wsClientClosed = "closed by the client"

// wsOf returns the stream's WebSocket state, nil for the HTTP transports.
func (st *stream) wsOf() *wsConn {
	ws, _ := st.t.(*wsConn)
	return ws
}

// takeCtrl returns the pongs waiting to go out; st.mu is held.
func (w *wsConn) takeCtrl() []byte {
	c := w.ctrl
	w.ctrl = nil
	return c
}

// readWS reads what the socket holds, on a task worker after the poller
// reported it readable: each complete text message goes to OnMessage in
// order, control frames are answered, and a broken or closing client ends
// the stream with the right close code. It re-arms the poller when done.
func (st *stream) readWS(buf []byte) {
	ws := st.wsOf()
	st.mu.Lock()
	if st.closed || ws == nil {
		st.readQueued = false
		st.mu.Unlock()
		return
	}
	st.reading, st.readQueued = true, false
	st.mu.Unlock()

	var fail *WSCloseError
	gone := false
	for round := 0; round < wsReadRounds && fail == nil && !gone; round++ {
		n, err := unix.Read(int(st.fd), buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil || n == 0 { // reset or EOF: the client left
			gone = true
			break
		}
		fail = st.takeFrames(ws, buf[:n])
		if n < len(buf) {
			break // drained what was there
		}
	}

	st.mu.Lock()
	st.reading = false
	if fail != nil && ws.closeCode == 0 {
		ws.closeCode, ws.closeWhy = fail.Code, fail.Reason
	}
	if fail != nil && fail.Code == WSCloseGoingAway && fail.Reason == wsClientClosed {
		st.goingAway.Store(true) // the page went away: a hang-up, not a lost connection
	}
	shut, clean := st.shutLater && !st.writing, st.shutClean
	if shut {
		st.shutLater = false
	}
	if !st.closed && !gone && fail == nil && !st.ending {
		if err := st.hub.writers.poll.rearm(st); err != nil {
			st.hub.log.Debug("re-arm websocket read", "err", err)
		}
	}
	st.mu.Unlock()
	switch {
	case shut:
		st.shut(clean)
	case gone:
		st.close(errPeerGone)
	case fail != nil:
		st.stop()
	}
}

// takeFrames decodes p and acts on each complete message; a non-nil result
// is why the connection must close (a protocol violation, a close frame, a
// ping flood).
func (st *stream) takeFrames(ws *wsConn, p []byte) *WSCloseError {
	for len(p) > 0 {
		m, n, err := ws.dec.Next(p)
		p = p[n:]
		if err != nil {
			var ce *WSCloseError
			if errors.As(err, &ce) {
				return ce
			}
			return &WSCloseError{WSCloseProtocolError, err.Error()}
		}
		switch m.Op {
		case 0: // the rest of the frame is still to come
		case WSText:
			ctx, cancel := context.WithTimeout(context.Background(), st.hub.cfg.CallbackTimeout)
			st.hub.cfg.OnMessage(ctx, st.sess, m.Payload)
			cancel()
		case WSPing:
			st.mu.Lock()
			if len(ws.ctrl) > wsMaxCtrl {
				st.mu.Unlock()
				return &WSCloseError{WSClosePolicyViolation, "pings faster than pongs can be read"}
			}
			ws.ctrl = AppendWSFrame(ws.ctrl, WSPong, m.Payload)
			st.mu.Unlock()
			st.wake()
		case WSPong: // an answer to nothing we asked; allowed unsolicited (§5.5.3)
		case WSClose:
			code := m.Code
			if code == WSCloseNoStatus {
				code = WSCloseNormal
			}
			return &WSCloseError{code, wsClientClosed}
		}
	}
	return nil
}
