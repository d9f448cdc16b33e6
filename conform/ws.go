package conform

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// openWS dials the WebSocket transport, checks the 101 and reads the empty
// batch that must follow it, byte for byte.
func (s *session) openWS(ctx context.Context, st *stream, last int64, o streamOpt) error {
	u, err := url.Parse(s.r.cfg.Base)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[u.Scheme == "https"])
	}
	var conn net.Conn
	d := &net.Dialer{Timeout: 5 * time.Second}
	if u.Scheme == "https" {
		conn, err = (&tls.Dialer{NetDialer: d}).DialContext(ctx, "tcp", host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", host)
	}
	if err != nil {
		return err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/comet/%s/ws?last=%d%s", s.r.cfg.Base, s.Sid, last, o.query), nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", k)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	for h, v := range o.hdr {
		req.Header[h] = v
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return err
	}
	st.conn = conn
	st.stop = context.AfterFunc(ctx, func() { conn.Close() })
	st.cnt = &cutReader{r: conn, limit: o.cut}
	st.br = bufio.NewReaderSize(st.cnt, 64<<10)
	resp, err := http.ReadResponse(st.br, req)
	if errors.Is(err, errCut) || (err != nil && st.cnt.limit > 0 && st.cnt.n >= st.cnt.limit) {
		st.done = true // cut inside the handshake's answer: the stream ends at once
		return nil
	}
	if err != nil {
		st.Close()
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		st.Close()
		return fmt.Errorf("GET ws: status %d %s, want 101", resp.StatusCode, b)
	}
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		st.badf("Sec-WebSocket-Accept %q does not answer the key", got)
	}
	if v := resp.Header.Get("Sec-WebSocket-Extensions"); v != "" {
		st.badf("Sec-WebSocket-Extensions %q answered (no extensions)", v)
	}
	first := make([]byte, 4)
	if _, err := io.ReadFull(st.br, first); err != nil {
		return nil // a cut; next() reports it
	}
	if string(first) != "\x81\x02[]" {
		st.badf("first frame % x, want 81 02 5b 5d (the empty batch)", first)
	}
	return nil
}

// readWS reads one WebSocket frame as a frame of the stream.
func (st *stream) readWS() (frame, error) {
	op, payload, err := st.wsFrame()
	if err != nil {
		return frame{}, err
	}
	switch op {
	case 1:
		if why, ok := st.endFrame(payload); ok {
			op, p, err := st.wsFrame()
			if err != nil || op != 8 || len(p) < 2 {
				st.badf("no close frame after the end frame: opcode %d % x %v", op, p, err)
				return frame{end: true, why: why}, nil
			}
			code, reason := binary.BigEndian.Uint16(p), string(p[2:])
			want := uint16(1000)
			if why == "shutdown" {
				want = 1001
			}
			if code != want || reason != why {
				st.badf("close frame %d %q after {\"end\":%q}, want %d %q", code, reason, why, want, why)
			}
			return frame{end: true, why: why}, nil
		}
		return st.decode(payload)
	case 8:
		st.badf("a close frame % x without an end frame before it", payload)
		return frame{}, errors.New("closed without an end frame")
	default:
		st.badf("a frame with opcode %d (the server sends text frames, and pings none)", op)
		return frame{}, errors.New("bad framing")
	}
}

// wsFrame reads one server frame and checks it is final, unmasked, without
// RSV bits and with the shortest length encoding.
func (st *stream) wsFrame() (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(st.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		st.badf("frame header % x: want final, no RSV bits, unmasked", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(st.br, b[:]); err != nil {
			return 0, nil, err
		}
		if n = uint64(binary.BigEndian.Uint16(b[:])); n < 126 {
			st.badf("a 16-bit length for %d bytes (not the shortest)", n)
		}
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(st.br, b[:]); err != nil {
			return 0, nil, err
		}
		if n = binary.BigEndian.Uint64(b[:]); n <= 0xffff {
			st.badf("a 64-bit length for %d bytes (not the shortest)", n)
		}
	}
	if n > 16<<20 {
		return 0, nil, fmt.Errorf("a %d-byte frame", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(st.br, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, p, nil
}

// wsSend writes events upstream as one masked text message.
func (st *stream) wsSend(evs []Event) error {
	payload, _ := json.Marshal(evs)
	var hdr []byte
	switch n := len(payload); {
	case n < 126:
		hdr = []byte{0x81, 0x80 | byte(n)}
	case n <= 0xffff:
		hdr = []byte{0x81, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		hdr = binary.BigEndian.AppendUint64([]byte{0x81, 0x80 | 127}, uint64(n))
	}
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	out := append(append(hdr, mask...), payload...)
	for i := range payload {
		out[len(hdr)+4+i] ^= mask[i%4]
	}
	_, err := st.conn.Write(out)
	return err
}

// checkWSHandshake: the handshake's refusals, and events both ways on one socket.
func checkWSHandshake(t *T) {
	s := t.session()
	p := "/comet/" + s.Sid + "/ws?last=0"
	resp, b, err := t.c.do(t.ctx, "GET", p, s.Token, nil, nil)
	if err != nil || resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Errorf("GET ws without Upgrade: %v %v %.80q, want 426 with Sec-WebSocket-Version: 13", err, resp.StatusCode, b)
	}
	resp, b, err = t.c.do(t.ctx, "POST", p, s.Token, []byte("[]"), nil)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || !allows(resp.Header.Get("Allow"), "GET") {
		t.Errorf("POST ws: %v %v %.80q, want 405 with Allow: GET", err, resp.StatusCode, b)
	}
	resp, b, err = t.c.do(t.ctx, "GET", p, s.Token, nil, http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}})
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET ws without Sec-WebSocket-Key: %v %v %.80q, want 400", err, resp.StatusCode, b)
	}
	// Upstream on the socket: a ping message answered on it, and a message
	// that is not an array answered with sys.error invalid, ref 0.
	st := t.open(s, "ws", 0, streamOpt{})
	t.readType(st, "chat.history")
	if err := st.wsSend([]Event{s.ev("sys.ping", map[string]float64{"t": 9.5})}); err != nil {
		t.Fatalf("%v", err)
	}
	t.readUntil(st, "the pong of a ping sent on the socket", func(e Event) bool { return e.Type == "sys.pong" && pongT(e) == 9.5 })
	payload := []byte(`{"not":"an array"}`)
	frameOut := []byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}
	if _, err := st.conn.Write(append(frameOut, payload...)); err != nil {
		t.Fatalf("%v", err)
	}
	se := t.readError(st, 0)
	if se.Code != "invalid" {
		t.Errorf("a message that is not an array: sys.error %+v, want invalid with ref 0", se)
	}
	t.fence(s, st)
	t.wantClean(st)
}

// allows reports whether an Allow header's method list holds method.
func allows(header, method string) bool {
	for _, m := range strings.Split(header, ",") {
		if strings.TrimSpace(m) == method {
			return true
		}
	}
	return false
}
