package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The client side of the WebSocket transport (docs/PROTOCOL.md, "WebSocket"),
// a minimal RFC 6455 client written here rather than taken from the server's
// framing code, so the bench reads the server with its own reading of the RFC.
// A socket costs what a held HTTP stream costs the client: one goroutine, one
// 4 KiB bufio.Reader and one message buffer. Writes (pongs, the close, a
// bot's inputs) take a mutex, since a bot's input loop writes while the
// stream's goroutine reads.

// WebSocket opcodes (RFC 6455 §5.2).
const (
	wsOpCont   = 0x0
	wsOpText   = 0x1
	wsOpBinary = 0x2
	wsOpClose  = 0x8
	wsOpPing   = 0x9
	wsOpPong   = 0xA
)

// rawWSPath is the WebSocket the raw writer serves.
const rawWSPath = "/comet/raw/ws"

// wsGUID is RFC 6455's constant for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsAccept is the Sec-WebSocket-Accept answering key.
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsCloseError is a close frame from the server.
type wsCloseError struct {
	Code   int
	Reason string
}

func (e *wsCloseError) Error() string {
	return fmt.Sprintf("closed by the server: %d %q", e.Code, e.Reason)
}

// wsAckDelay is how long after the first event not yet acknowledged the
// client sends {"last":N} up the socket, as the browser client does
// (docs/PROTOCOL.md, "Acknowledgement"): at most one a second while events
// arrive, none while idle.
const wsAckDelay = time.Second

// wsClient is the client's end of one WebSocket.
type wsClient struct {
	nc  net.Conn
	br  *bufio.Reader
	msg []byte // the message being read, reused

	applied atomic.Uint64 // the newest seq the stream has processed
	ackDue  atomic.Bool   // an acknowledgement is scheduled

	wmu   sync.Mutex
	wbuf  []byte
	acked uint64 // the newest seq acknowledged (or resumed from)
}

// dialWS sends the opening handshake for path over nc and checks the 101
// answer (status, Upgrade, Sec-WebSocket-Accept); a refusal is returned like
// an HTTP stream's (a 404 wraps errGone).
func dialWS(nc net.Conn, br *bufio.Reader, host, path, token string) (*wsClient, error) {
	var k [16]byte
	binary.LittleEndian.PutUint64(k[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(k[8:], rand.Uint64())
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: cometbench\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		return nil, fmt.Errorf("ws: write handshake: %w", err)
	}
	h, err := readRespHead(br)
	if err != nil {
		return nil, fmt.Errorf("ws: %w", err)
	}
	if h.Status != http.StatusSwitchingProtocols {
		return nil, statusErr("ws", h, br)
	}
	if want := wsAccept(key); h.WSAccept != want {
		return nil, fmt.Errorf("ws: Sec-WebSocket-Accept %q, want %q", h.WSAccept, want)
	}
	if !h.Upgrade {
		return nil, errors.New("ws: 101 without Upgrade: websocket")
	}
	return &wsClient{nc: nc, br: br}, nil
}

// processed records that the stream has processed every event up to seq and
// schedules an acknowledgement wsAckDelay later unless one is due.
func (c *wsClient) processed(seq uint64) {
	if seq <= c.applied.Load() {
		return
	}
	c.applied.Store(seq)
	if c.ackDue.CompareAndSwap(false, true) {
		time.AfterFunc(wsAckDelay, c.ack)
	}
}

// ack sends {"last":N} for the newest seq processed, unless it was sent. A
// socket that ended meanwhile fails the write, which changes nothing.
func (c *wsClient) ack() {
	c.ackDue.Store(false)
	last := c.applied.Load()
	c.wmu.Lock()
	if last <= c.acked {
		c.wmu.Unlock()
		return
	}
	c.acked = last
	c.wmu.Unlock()
	_ = c.write(wsOpText, append(strconv.AppendUint([]byte(`{"last":`), last, 10), '}'))
}

// write sends one final frame, masked with a fresh key as a client must.
func (c *wsClient) write(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendMaskedFrame(c.wbuf[:0], op, payload, rand.Uint32())
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > 4096 {
		c.wbuf = nil // an idle socket keeps no large buffer
	}
	if err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	return nil
}

// appendMaskedFrame appends one final client frame: the header with the
// shortest length encoding, the key, the payload XORed with it.
func appendMaskedFrame(dst []byte, op byte, payload []byte, key uint32) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], key)
	dst = append(dst, k[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= k[i&3]
	}
	return dst
}

// next returns the next complete text message, valid until the next call.
// Pings are answered on the way; a close frame is echoed and returned as a
// *wsCloseError; anything the RFC forbids a server to send is an error.
func (c *wsClient) next() ([]byte, error) {
	c.msg = c.msg[:0]
	if cap(c.msg) > 64<<10 {
		c.msg = nil // do not keep a snapshot-sized buffer per idle socket
	}
	inMsg := false
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0F
		if h[0]&0x70 != 0 {
			return nil, fmt.Errorf("ws: RSV bits set (%#x)", h[0])
		}
		if h[1]&0x80 != 0 {
			return nil, errors.New("ws: masked frame from the server")
		}
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(c.br, l[:]); err != nil {
				return nil, unexpected(err)
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(c.br, l[:]); err != nil {
				return nil, unexpected(err)
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		if op >= wsOpClose {
			if !fin || n > 125 {
				return nil, fmt.Errorf("ws: control frame %#x fragmented or of %d bytes", op, n)
			}
			var buf [125]byte
			p := buf[:n]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return nil, unexpected(err)
			}
			switch op {
			case wsOpPing:
				if err := c.write(wsOpPong, p); err != nil {
					return nil, err
				}
			case wsOpPong:
			case wsOpClose:
				ce := &wsCloseError{Code: 1005}
				if len(p) >= 2 {
					ce.Code, ce.Reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
				}
				_ = c.write(wsOpClose, p[:min(len(p), 2)]) // echo the code: the close handshake
				return nil, ce
			default:
				return nil, fmt.Errorf("ws: unknown control opcode %#x", op)
			}
			continue
		}
		switch {
		case op == wsOpText && !inMsg:
			inMsg = true
		case op == wsOpCont && inMsg:
		case op == wsOpBinary:
			return nil, errors.New("ws: binary message (the protocol sends text)")
		default:
			return nil, fmt.Errorf("ws: opcode %#x out of place", op)
		}
		if uint64(len(c.msg))+n > maxLine {
			return nil, fmt.Errorf("ws: message longer than %d bytes", maxLine)
		}
		start := len(c.msg)
		c.msg = append(c.msg, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, c.msg[start:]); err != nil {
			return nil, unexpected(err)
		}
		if fin {
			return c.msg, nil
		}
	}
}

// holdWS runs one WebSocket until it ends: batches down, as the held
// streams; an end frame and a 1000 or 1001 close are a clean end (resume
// with last).
func (s *clientStream) holdWS(ctx context.Context, onAttach func()) error {
	nc, done, err := s.dialStream(ctx)
	if err != nil {
		return err
	}
	defer done()
	br := bufio.NewReaderSize(nc, 4096)
	c, err := dialWS(nc, br, s.a.host, s.path(), s.sess.Token)
	if err != nil {
		return err
	}
	c.applied.Store(s.last) // resumed from last: nothing before it to acknowledge
	c.acked = s.last
	defer s.setWS(nil)
	attached, ended := false, false
	for {
		msg, err := c.next()
		var ce *wsCloseError
		switch {
		case errors.As(err, &ce):
			if ended || ce.Code == 1000 || ce.Code == 1001 {
				return errStreamEnd
			}
			return fmt.Errorf("ws: %w", err)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("ws: %w", io.ErrUnexpectedEOF) // a WebSocket ends with a close frame
		case err != nil:
			return fmt.Errorf("ws: %w", err)
		}
		if !attached {
			attached = true
			s.setWS(c)
			onAttach() // the first (empty) batch is in: the socket is held
		}
		if isEndFrame(msg) {
			ended = true // the close frame follows
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			continue
		}
		s.batch(msg, time.Now())
		c.processed(s.last)
	}
}

// setWS records the socket upstream events can take (nil: none now).
func (s *clientStream) setWS(c *wsClient) {
	s.wsMu.Lock()
	s.ws = c
	s.wsMu.Unlock()
}

// sendWS sends one event up the stream's WebSocket, as the browser client
// does; ok is false when no socket is attached now (the caller POSTs).
func (s *clientStream) sendWS(typ string, data any) (ok bool, err error) {
	s.wsMu.Lock()
	c := s.ws
	s.wsMu.Unlock()
	if c == nil {
		return false, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return false, fmt.Errorf("send %s: %w", typ, err)
	}
	msg := fmt.Appendf(nil, `[{"seq":%d,"type":%q,"data":%s}]`, s.sess.up.Add(1), typ, raw)
	if err := c.write(wsOpText, msg); err != nil {
		return true, fmt.Errorf("send %s: %w", typ, err)
	}
	return true, nil
}
