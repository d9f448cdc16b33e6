package push

import (
	"encoding/binary"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The WebSocket framing (RFC 6455 §5) as a codec the core drives from the
// poller: no goroutine, no reader, nothing buffered between messages.
//
// WSDecoder's state machine, fed whatever a non-blocking read returned:
//
//	header:  collect 2–14 bytes in a fixed array; after byte 2 check RSV,
//	         opcode, control FIN and size, the mask bit and fragment order;
//	         after the length, the message limit; after the key → payload
//	payload: unmask in place, check text's UTF-8 as it comes; at the frame's
//	         end → header, yielding a control frame or a message's last
//	         fragment (from the caller's buffer when the frame was whole in it)
//
// A control frame may come between fragments; its bytes are kept after the
// message's. A violation ends the decoder with a *WSCloseError carrying the
// close code; a close frame ends it too, and input after it is ignored (§5.5.1).

// WSOpcode is a frame's opcode (RFC 6455 §5.2).
type WSOpcode uint8

// The opcodes of RFC 6455 §5.2; every other value is reserved.
const (
	WSContinuation WSOpcode = 0x0
	WSText         WSOpcode = 0x1
	WSBinary       WSOpcode = 0x2
	WSClose        WSOpcode = 0x8
	WSPing         WSOpcode = 0x9
	WSPong         WSOpcode = 0xA
)

// Close codes of RFC 6455 §7.4.1 and the IANA registry that Comet uses.
const (
	WSCloseNormal          uint16 = 1000
	WSCloseGoingAway       uint16 = 1001
	WSCloseProtocolError   uint16 = 1002
	WSCloseUnsupportedData uint16 = 1003
	WSCloseNoStatus        uint16 = 1005 // never on the wire: a close frame without a code
	WSCloseInvalidPayload  uint16 = 1007
	WSClosePolicyViolation uint16 = 1008
	WSCloseTooBig          uint16 = 1009
	WSCloseInternalError   uint16 = 1011
	WSCloseServiceRestart  uint16 = 1012
	WSCloseTryAgainLater   uint16 = 1013
)

// WSDefaultMaxMessage is the largest message a WSDecoder accepts by default,
// the same as the upstream POST's body limit.
const WSDefaultMaxMessage = 16 << 10

// wsMaxControl is the largest control frame payload (RFC 6455 §5.5).
const wsMaxControl = 125

// WSCloseError is why a WebSocket connection must end: the close code to send
// and a short reason for the close frame and the log.
type WSCloseError struct {
	Code   uint16
	Reason string
}

func (e *WSCloseError) Error() string {
	return "websocket: " + e.Reason + " (close " + strconv.Itoa(int(e.Code)) + ")"
}

// The decoder's errors; their reasons are the close frame's reason.
var (
	errWSReserved    = &WSCloseError{WSCloseProtocolError, "reserved bits set"}
	errWSOpcode      = &WSCloseError{WSCloseProtocolError, "unknown opcode"}
	errWSFragControl = &WSCloseError{WSCloseProtocolError, "fragmented control frame"}
	errWSLongControl = &WSCloseError{WSCloseProtocolError, "control frame over 125 bytes"}
	errWSUnmasked    = &WSCloseError{WSCloseProtocolError, "unmasked client frame"}
	errWSNoStart     = &WSCloseError{WSCloseProtocolError, "continuation without a start"}
	errWSInterleaved = &WSCloseError{WSCloseProtocolError, "new message inside a fragmented message"}
	errWSLength      = &WSCloseError{WSCloseProtocolError, "64-bit length with the high bit set"}
	errWSCloseLength = &WSCloseError{WSCloseProtocolError, "close frame with a 1-byte payload"}
	errWSCloseCode   = &WSCloseError{WSCloseProtocolError, "invalid close code"}
	errWSBinary      = &WSCloseError{WSCloseUnsupportedData, "binary message, text expected"}
	errWSUTF8        = &WSCloseError{WSCloseInvalidPayload, "text is not UTF-8"}
	errWSCloseUTF8   = &WSCloseError{WSCloseInvalidPayload, "close reason is not UTF-8"}
	errWSTooBig      = &WSCloseError{WSCloseTooBig, "message too big"}
)

// WSMessage is one complete message or control frame from the client.
type WSMessage struct {
	// Op is WSText, WSBinary, WSPing, WSPong or WSClose; 0 when no message is complete.
	Op WSOpcode
	// Payload is the message, the ping or pong data, or the close reason.
	Payload []byte
	// Code is a close frame's code, WSCloseNoStatus when it had none.
	Code uint16
}

// WSDecoder decodes client frames incrementally, holding only an unfinished
// frame and message (at most the limit plus one control payload); the zero
// value takes text messages up to WSDefaultMaxMessage bytes. Non-minimal
// length encodings are accepted (RFC 6455 §5.2 binds senders, not receivers),
// but a control frame's length must fit the 7-bit field.
type WSDecoder struct {
	// MaxMessage is the largest message payload, summed over its fragments;
	// a larger one is refused with 1009. 0 means WSDefaultMaxMessage.
	MaxMessage int
	// AcceptBinary admits binary messages; otherwise they are refused with 1003.
	AcceptBinary bool

	buf     []byte        // unfinished message data, then an unfinished control payload
	err     *WSCloseError // set once the decoder has failed
	frame   int           // the current frame's payload length
	remain  int           // payload bytes of the current frame still to come
	msgLen  int           // payload bytes declared so far by the message's frames
	ctlAt   int           // where a control payload starts in buf
	hdr     [14]byte      // header bytes collected so far
	nhdr    uint8         // len of hdr in use
	hdrLen  uint8         // the header's full length, known after two bytes
	key     [4]byte       // the current frame's masking key
	phase   uint8         // payload bytes unmasked so far, mod 4
	op      WSOpcode      // the current frame's opcode
	msgOp   WSOpcode      // the message's opcode (WSText or WSBinary)
	fin     bool          // the current frame is final
	inFrame bool          // header done, payload state
	inMsg   bool          // between the fragments of a message
	closed  bool          // a close frame was decoded
	text    wsUTF8        // the UTF-8 state of a text message
}

// Next decodes p, unmasking it in place, until one message or control frame
// is complete or p is used up, and returns it with the bytes of p consumed;
// the payload is valid until the next call. After an error it returns the
// same *WSCloseError, and after a close frame it ignores its input.
func (d *WSDecoder) Next(p []byte) (m WSMessage, n int, err error) {
	if d.err != nil {
		return WSMessage{}, 0, d.err
	}
	for {
		if d.closed {
			return WSMessage{}, len(p), nil
		}
		if !d.inFrame {
			if n == len(p) {
				return WSMessage{}, n, nil
			}
			c, err := d.header(p[n:])
			n += c
			if err != nil {
				return WSMessage{}, n, d.fail(err)
			}
			if !d.inFrame {
				return WSMessage{}, n, nil
			}
		}
		k := min(d.remain, len(p)-n)
		if k == 0 && d.remain > 0 {
			return WSMessage{}, n, nil
		}
		chunk := p[n : n+k]
		n += k
		whole := k == d.frame // the whole payload is in p: no copy
		d.phase = wsMask(d.key, d.phase, chunk)
		d.remain -= k
		if d.op >= WSClose {
			if !whole {
				d.keep(chunk, d.ctlAt+d.frame)
				if d.remain > 0 {
					return WSMessage{}, n, nil
				}
				chunk = d.buf[d.ctlAt:]
				d.buf = d.buf[:d.ctlAt]
				if d.ctlAt == 0 {
					d.buf = nil
				}
			}
			d.inFrame = false
			m, err := d.control(chunk)
			if err != nil {
				return WSMessage{}, n, d.fail(err)
			}
			return m, n, nil
		}
		if d.msgOp == WSText && !d.text.feed(chunk) {
			return WSMessage{}, n, d.fail(errWSUTF8)
		}
		single := d.fin && d.op != WSContinuation
		if !(single && whole) {
			d.keep(chunk, d.msgLen)
		}
		if d.remain > 0 {
			return WSMessage{}, n, nil
		}
		d.inFrame = false
		if !d.fin {
			continue
		}
		if !d.text.complete() {
			return WSMessage{}, n, d.fail(errWSUTF8)
		}
		if !(single && whole) {
			chunk = d.buf
		}
		m = WSMessage{Op: d.msgOp, Payload: chunk}
		d.buf, d.msgLen, d.inMsg, d.msgOp, d.text = nil, 0, false, 0, wsUTF8{}
		return m, n, nil
	}
}

// Buffered is how many bytes the decoder holds of unfinished frames: 0 when
// idle between messages.
func (d *WSDecoder) Buffered() int { return len(d.buf) + int(d.nhdr) }

// Idle reports whether the decoder is between messages with nothing held,
// not failed and not closed: a zero WSDecoder with the same limits would
// go on the same way.
func (d *WSDecoder) Idle() bool {
	return !d.inFrame && !d.inMsg && d.nhdr == 0 && d.err == nil && !d.closed
}

// fail ends the decoder with e and lets go of what it held.
func (d *WSDecoder) fail(e *WSCloseError) error {
	d.err, d.buf, d.nhdr = e, nil, 0
	return e
}

// keep appends payload bytes to buf, growing it at most to limit, the size
// buf will have when the current frame ends.
func (d *WSDecoder) keep(b []byte, limit int) {
	need := len(d.buf) + len(b)
	if need > cap(d.buf) {
		c := min(max(2*cap(d.buf), need, 512), max(limit, need))
		nb := make([]byte, len(d.buf), c)
		copy(nb, d.buf)
		d.buf = nb
	}
	d.buf = append(d.buf, b...)
}

// header collects header bytes from p and returns how many it took, checking
// the length as soon as it is in; when the header is complete it enters the
// payload state.
func (d *WSDecoder) header(p []byte) (int, *WSCloseError) {
	before, n := d.nhdr, 0
	if d.nhdr < 2 {
		n = copy(d.hdr[d.nhdr:2], p)
		d.nhdr += uint8(n)
		if d.nhdr < 2 {
			return n, nil
		}
		if err := d.start(d.hdr[0], d.hdr[1]); err != nil {
			return n, err
		}
	}
	lenEnd := d.hdrLen - 4
	if d.nhdr < lenEnd {
		c := copy(d.hdr[d.nhdr:lenEnd], p[n:])
		d.nhdr += uint8(c)
		n += c
		if d.nhdr < lenEnd {
			return n, nil
		}
	}
	if before < lenEnd {
		if err := d.length(); err != nil {
			return n, err
		}
	}
	c := copy(d.hdr[d.nhdr:d.hdrLen], p[n:])
	d.nhdr += uint8(c)
	n += c
	if d.nhdr < d.hdrLen {
		return n, nil
	}
	copy(d.key[:], d.hdr[lenEnd:d.hdrLen])
	d.nhdr, d.phase, d.inFrame, d.remain = 0, 0, true, d.frame
	if d.op >= WSClose {
		d.ctlAt = len(d.buf)
	}
	return n, nil
}

// length reads the payload length from the header and checks it against the
// message limit.
func (d *WSDecoder) length() *WSCloseError {
	size := uint64(d.hdr[1] & 0x7F)
	switch size {
	case 126:
		size = uint64(binary.BigEndian.Uint16(d.hdr[2:]))
	case 127:
		size = binary.BigEndian.Uint64(d.hdr[2:])
		if size>>63 != 0 {
			return errWSLength
		}
	}
	if d.op < WSClose {
		limit := d.MaxMessage
		if limit <= 0 {
			limit = WSDefaultMaxMessage
		}
		if size > uint64(limit-d.msgLen) {
			return errWSTooBig
		}
		d.msgLen += int(size)
	}
	d.frame = int(size)
	return nil
}

// start checks the first two header bytes, which decide every rule but the
// length's, and sets the header's full length.
func (d *WSDecoder) start(b0, b1 byte) *WSCloseError {
	fin, op, size := b0&0x80 != 0, WSOpcode(b0&0x0F), b1&0x7F
	if b0&0x70 != 0 {
		return errWSReserved
	}
	switch op {
	case WSClose, WSPing, WSPong:
		if !fin {
			return errWSFragControl
		}
		if size > wsMaxControl {
			return errWSLongControl
		}
	case WSContinuation, WSText, WSBinary:
	default:
		return errWSOpcode
	}
	if b1&0x80 == 0 {
		return errWSUnmasked
	}
	switch op {
	case WSContinuation:
		if !d.inMsg {
			return errWSNoStart
		}
	case WSText, WSBinary:
		if d.inMsg {
			return errWSInterleaved
		}
		if op == WSBinary && !d.AcceptBinary {
			return errWSBinary
		}
		d.msgOp, d.inMsg = op, !fin
	}
	d.fin, d.op = fin, op
	d.hdrLen = 2 + 4
	switch size {
	case 126:
		d.hdrLen += 2
	case 127:
		d.hdrLen += 8
	}
	return nil
}

// control turns a complete control payload into its message; a close frame's
// code and reason are checked (RFC 6455 §5.5.1, §7.4).
func (d *WSDecoder) control(p []byte) (WSMessage, *WSCloseError) {
	if d.op != WSClose {
		return WSMessage{Op: d.op, Payload: p}, nil
	}
	m := WSMessage{Op: WSClose, Code: WSCloseNoStatus}
	switch len(p) {
	case 0:
	case 1:
		return WSMessage{}, errWSCloseLength
	default:
		m.Code, m.Payload = binary.BigEndian.Uint16(p), p[2:]
		if !WSValidCloseCode(m.Code) {
			return WSMessage{}, errWSCloseCode
		}
		if !utf8.Valid(m.Payload) {
			return WSMessage{}, errWSCloseUTF8
		}
	}
	d.closed = true
	return m, nil
}

// WSValidCloseCode reports whether code may appear in a close frame: 1000–1003
// and 1007–1011 (RFC 6455 §7.4.1), 1012–1014 (registered with IANA since), and
// 3000–4999 for libraries and applications. 1005, 1006 and 1015 never do.
func WSValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// wsMask XORs b with the masking key from the given phase (RFC 6455 §5.3)
// and returns the phase after b.
func wsMask(key [4]byte, phase uint8, b []byte) uint8 {
	if len(b) >= 16 {
		k := binary.LittleEndian.Uint32(key[:])
		k = k>>(8*uint(phase&3)) | k<<(32-8*uint(phase&3))
		k64 := uint64(k) | uint64(k)<<32
		i := 0
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k64)
		}
		b = b[i:]
	}
	for i := range b {
		b[i] ^= key[(int(phase)+i)&3]
	}
	return uint8((int(phase) + len(b)) & 3)
}

// AppendWSFrame appends one final, unmasked server frame with the shortest
// header for payload's length. A control payload is cut to 125 bytes.
func AppendWSFrame(b []byte, op WSOpcode, payload []byte) []byte {
	if op >= WSClose && len(payload) > wsMaxControl {
		payload = payload[:wsMaxControl]
	}
	b = appendWSHeader(b, op, len(payload))
	return append(b, payload...)
}

// WrapWSFrame makes b[start:], already appended, the payload of one final
// server frame by inserting its header at start; it allocates only when b
// has no room for the header's 2–10 bytes.
func WrapWSFrame(b []byte, start int, op WSOpcode) []byte {
	n := len(b) - start
	h := wsHeaderLen(n)
	b = slices.Grow(b, h)[:len(b)+h]
	copy(b[start+h:], b[start:start+n])
	appendWSHeader(b[start:start], op, n)
	return b
}

// AppendWSClose appends a close frame with code and reason, the reason cut to
// 123 bytes at a character boundary; code 0 or WSCloseNoStatus sends no code.
func AppendWSClose(b []byte, code uint16, reason string) []byte {
	if code == 0 || code == WSCloseNoStatus {
		return appendWSHeader(b, WSClose, 0)
	}
	if len(reason) > wsMaxControl-2 {
		i := wsMaxControl - 2
		for i > 0 && !utf8.RuneStart(reason[i]) {
			i--
		}
		reason = reason[:i]
	}
	b = appendWSHeader(b, WSClose, 2+len(reason))
	b = binary.BigEndian.AppendUint16(b, code)
	return append(b, reason...)
}

// wsHeaderLen is the length of a server frame header for an n-byte payload.
func wsHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// appendWSHeader appends a final, unmasked frame header with the minimal
// length encoding (RFC 6455 §5.2).
func appendWSHeader(b []byte, op WSOpcode, n int) []byte {
	b = append(b, 0x80|byte(op))
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
}
