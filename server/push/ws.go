package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"comet"
)

// The WebSocket transport: a held stream like the others — written by the
// writer pool, watched by the poller, no goroutine while idle — that also
// reads. When the poller reports its socket readable, a task worker reads
// what is there without blocking, feeds the frame decoder (wsframe.go) and
// hands each complete text message to the application's OnMessage, in
// order; pings are answered with pongs, a close with a close. Between
// messages nothing is buffered.

// wsConn is the WebSocket framing of one stream (unlike the HTTP framings,
// which are stateless, each stream has its own). Its reading state lives in
// a wsState only while there is some: an idle socket holds one nil pointer.
type wsConn struct {
	s *wsState // under the stream's lock; nil while idle (see wsConn.idle)
}

// wsState is what a WebSocket holds between two reads or until the next
// flush: a frame read in part, pongs to send, the close code to end with.
type wsState struct {
	dec       WSDecoder // used by the one reader, outside the lock
	ctrl      []byte    // pongs waiting to go out before the next batch
	closeCode uint16    // the close code the end sends (0: by the end reason)
	closeWhy  string
}

// wsStates recycles the state of sockets that went idle again, so a socket
// that sends a message now and then allocates nothing for it.
var wsStates = sync.Pool{New: func() any { return new(wsState) }}

// state returns the socket's state, taking one when idle; st.mu is held.
func (w *wsConn) state(maxMessage int) *wsState {
	if w.s == nil {
		w.s = wsStates.Get().(*wsState)
		w.s.dec.MaxMessage = maxMessage
	}
	return w.s
}

// idle lets go of the state when it holds nothing: the decoder between
// messages, no pong waiting, no close code; st.mu is held and no read runs.
func (w *wsConn) idle() {
	s := w.s
	if s == nil || !s.dec.Idle() || len(s.ctrl) > 0 || s.closeCode != 0 {
		return
	}
	w.s = nil
	*s = wsState{}
	wsStates.Put(s)
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
// carrying the client's code or the violation's. st.mu is held: a read may
// be taking or setting the state.
func (w *wsConn) appendEnd(dst []byte, why EndReason) []byte {
	if s := w.s; s != nil && s.closeCode != 0 {
		return AppendWSClose(dst, s.closeCode, s.closeWhy)
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
	ws := &wsConn{}
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

// takeCtrl returns the pongs waiting to go out, letting go of the state
// when nothing else is in it; st.mu is held.
func (w *wsConn) takeCtrl(reading bool) []byte {
	if w.s == nil {
		return nil
	}
	c := w.s.ctrl
	w.s.ctrl = nil
	if !reading {
		w.idle()
	}
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
	state := ws.state(st.hub.cfg.MaxMessage)
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
		fail = st.takeFrames(state, buf[:n])
		if n < len(buf) {
			break // drained what was there
		}
	}

	st.mu.Lock()
	st.reading = false
	if fail != nil && state.closeCode == 0 {
		state.closeCode, state.closeWhy = fail.Code, fail.Reason
	}
	ws.idle()
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
func (st *stream) takeFrames(ws *wsState, p []byte) *WSCloseError {
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
			if last, isAck, err := parseWSAck(m.Payload); isAck {
				if err != nil {
					st.sess.SendError(0, err)
				} else {
					st.ack(last)
				}
				continue
			}
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

// ack drops from the session's replay buffer the events up to last, which
// the client says it has processed, as ?last= does on a reconnect: never
// past what this stream wrote, and nothing once another downstream replaced it.
func (st *stream) ack(last uint64) {
	st.mu.Lock()
	upTo := min(last, st.cursor)
	st.mu.Unlock()
	st.sess.release(st, upTo)
}

// errWSAck answers an upstream object that is not an acknowledgement.
var errWSAck = comet.Errorf(comet.EINVALID, `a message is a JSON array of events or an acknowledgement {"last": <seq>}`)

// parseWSAck reads an acknowledgement, the object {"last": N} (JSON
// whitespace allowed, N a non-negative integer). isAck is false when p is
// not an object at all (an event batch, for OnMessage); an object of any
// other shape is an ack with an error.
func parseWSAck(p []byte) (last uint64, isAck bool, err error) {
	p = trimJSONSpace(p)
	if len(p) == 0 || p[0] != '{' {
		return 0, false, nil
	}
	p = trimJSONSpace(p[1:])
	const key = `"last"`
	if len(p) < len(key) || string(p[:len(key)]) != key {
		return 0, true, errWSAck
	}
	p = trimJSONSpace(p[len(key):])
	if len(p) == 0 || p[0] != ':' {
		return 0, true, errWSAck
	}
	p = trimJSONSpace(p[1:])
	n := 0
	for n < len(p) && p[n] >= '0' && p[n] <= '9' {
		n++
	}
	if n == 0 || n > 1 && p[0] == '0' { // JSON has no leading zeros
		return 0, true, errWSAck
	}
	last, perr := strconv.ParseUint(string(p[:n]), 10, 64)
	if perr != nil || string(trimJSONSpace(p[n:])) != "}" {
		return 0, true, errWSAck
	}
	return last, true, nil
}

// trimJSONSpace drops JSON whitespace from both ends of p.
func trimJSONSpace(p []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(p) > 0 && isSpace(p[0]) {
		p = p[1:]
	}
	for len(p) > 0 && isSpace(p[len(p)-1]) {
		p = p[:len(p)-1]
	}
	return p
}
