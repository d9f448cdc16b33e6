package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The client side of docs/PROTOCOL.md, kept small: a held stream costs one
// goroutine, one 4 KiB bufio.Reader and one line buffer on the client.

// maxLine bounds one line of a stream (a batch is capped near 64 KiB by the
// server; game snapshots of a large room can be bigger).
const maxLine = 4 << 20

// errStreamEnd is returned by a frame decoder when the server ended the
// stream cleanly (end marker or chunked terminator): reconnect with last.
var errStreamEnd = errors.New("stream ended cleanly")

// wireEvent is one server event of a batch.
type wireEvent struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// decodeBatch parses one batch line `[{"seq":N,"type":"t","data":...},...]`.
// An empty batch `[]` is a heartbeat and returns no events. Batches in the
// exact layout the server writes are split without encoding/json (the
// client of a 1,000-player room reads 25,000 views a second); anything else
// goes through encoding/json.
func decodeBatch(b []byte) ([]wireEvent, error) {
	if evs, ok := splitBatch(b); ok {
		return evs, nil
	}
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, fmt.Errorf("batch is not a JSON array: %.40q", b)
	}
	if len(bytes.TrimSpace(b[1:len(b)-1])) == 0 {
		return nil, nil
	}
	var evs []wireEvent
	if err := json.Unmarshal(b, &evs); err != nil {
		return nil, fmt.Errorf("decode batch: %w", err)
	}
	for _, ev := range evs {
		if ev.Seq == 0 || ev.Type == "" {
			return nil, fmt.Errorf("decode batch: event without seq or type")
		}
	}
	return evs, nil
}

// splitBatch reads the server's own layout, `[{"seq":N,"type":"T","data":V},…]`
// with no spaces, without copying: each Data aliases b. It reports false for
// anything else (spaces, other key order, escapes in a type, malformed V),
// and the caller falls back to encoding/json.
func splitBatch(b []byte) ([]wireEvent, bool) {
	if len(b) < 2 || b[0] != '[' {
		return nil, false
	}
	if len(b) == 2 && b[1] == ']' {
		return nil, true
	}
	var evs []wireEvent
	i := 1
	for {
		var ev wireEvent
		var ok bool
		if i, ok = expect(b, i, `{"seq":`); !ok {
			return nil, false
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 20 {
			ev.Seq = ev.Seq*10 + uint64(b[i]-'0')
			i++
		}
		if i == start || ev.Seq == 0 {
			return nil, false
		}
		if i, ok = expect(b, i, `,"type":"`); !ok {
			return nil, false
		}
		start = i
		for i < len(b) && b[i] != '"' {
			if b[i] == '\\' || b[i] < 0x20 || b[i] >= 0x80 { // types are plain ASCII
				return nil, false
			}
			i++
		}
		if i == start || i == len(b) {
			return nil, false
		}
		ev.Type = string(b[start:i])
		if i, ok = expect(b, i, `","data":`); !ok {
			return nil, false
		}
		end, ok := skipValue(b, i)
		if !ok {
			return nil, false
		}
		ev.Data = b[i:end:end]
		i = end
		if i, ok = expect(b, i, "}"); !ok || i >= len(b) {
			return nil, false
		}
		evs = append(evs, ev)
		switch b[i] {
		case ',':
			i++
		case ']':
			if i != len(b)-1 {
				return nil, false
			}
			return evs, true
		default:
			return nil, false
		}
	}
}

func expect(b []byte, i int, s string) (int, bool) {
	if len(b)-i < len(s) || string(b[i:i+len(s)]) != s {
		return i, false
	}
	return i + len(s), true
}

// skipValue returns the end of the JSON value starting at b[i] (objects and
// arrays by bracket depth, strings with their escapes, scalars up to the next
// delimiter). It checks structure only as far as it needs to.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return i, false
				}
				i = end - 1
			}
		}
		return i, false
	case '"':
		return skipString(b, i)
	default:
		start := i
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] > ' ' {
			i++
		}
		return i, i > start
	}
}

// skipString returns the end of the JSON string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}

// respHead is the part of an HTTP/1.1 response head the client needs.
type respHead struct {
	Status        int
	ContentType   string
	ContentLength int64 // -1 when absent
	Chunked       bool
	Close         bool
	Upgrade       bool   // Upgrade: websocket
	WSAccept      string // Sec-WebSocket-Accept
}

// readRespHead reads a response's status line and headers.
func readRespHead(br *bufio.Reader) (respHead, error) {
	h := respHead{ContentLength: -1}
	line, err := readHeadLine(br)
	if err != nil {
		return h, fmt.Errorf("read status line: %w", err)
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
		return h, fmt.Errorf("bad status line %.60q", line)
	}
	code, _, _ := strings.Cut(rest, " ")
	h.Status, err = strconv.Atoi(code)
	if err != nil || h.Status < 100 || h.Status > 999 {
		return h, fmt.Errorf("bad status line %.60q", line)
	}
	for n := 0; ; n++ {
		if n > 100 {
			return h, fmt.Errorf("more than 100 header lines")
		}
		line, err := readHeadLine(br)
		if err != nil {
			return h, fmt.Errorf("read header: %w", err)
		}
		if line == "" {
			return h, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return h, fmt.Errorf("bad header line %.60q", line)
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-type":
			h.ContentType = v
		case "content-length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return h, fmt.Errorf("bad Content-Length %q", v)
			}
			h.ContentLength = n
		case "transfer-encoding":
			h.Chunked = strings.EqualFold(v, "chunked")
		case "connection":
			h.Close = strings.EqualFold(v, "close")
		case "upgrade":
			h.Upgrade = strings.EqualFold(v, "websocket")
		case "sec-websocket-accept":
			h.WSAccept = v
		}
	}
}

func readHeadLine(br *bufio.Reader) (string, error) {
	b, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", fmt.Errorf("header line longer than %d bytes", br.Size())
		}
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// lineReader yields the lines of a response body, undoing chunked transfer
// encoding on the way, with one copy into a reused line buffer.
type lineReader struct {
	br       *bufio.Reader
	chunked  bool
	left     int64 // bytes left in the current chunk (or body when not chunked; -1: until EOF)
	needCRLF bool  // a chunk's data ended; its CRLF is still to be read
	done     bool  // the terminating chunk was read
	line     []byte
}

func newLineReader(br *bufio.Reader, h respHead) *lineReader {
	lr := &lineReader{br: br, chunked: h.Chunked, left: -1}
	switch {
	case h.Chunked:
		lr.left = 0 // the first chunk's size comes first
	case h.ContentLength >= 0:
		lr.left = h.ContentLength
	}
	return lr
}

// next returns the next line without its LF (and CR), valid until the next
// call. io.EOF (or errStreamEnd for a chunked terminator) ends the body.
func (lr *lineReader) next() ([]byte, error) {
	lr.line = lr.line[:0]
	if cap(lr.line) > 64<<10 {
		lr.line = nil // do not keep a snapshot-sized buffer per idle stream
	}
	for {
		if lr.done {
			return lr.partial(errStreamEnd)
		}
		if lr.chunked && lr.left == 0 {
			if err := lr.chunkHeader(); err != nil {
				return nil, err
			}
			continue
		}
		if !lr.chunked && lr.left == 0 {
			return lr.partial(io.EOF)
		}
		n := lr.br.Buffered()
		if n == 0 {
			if _, err := lr.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) && !lr.chunked && lr.left < 0 {
					return lr.partial(io.EOF)
				}
				return nil, fmt.Errorf("read body: %w", unexpected(err))
			}
			n = lr.br.Buffered()
		}
		if lr.left >= 0 && int64(n) > lr.left {
			n = int(lr.left)
		}
		buf, _ := lr.br.Peek(n)
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			lr.line = append(lr.line, buf[:i]...)
			lr.consume(i + 1)
			return bytes.TrimSuffix(lr.line, []byte{'\r'}), nil
		}
		lr.line = append(lr.line, buf...)
		lr.consume(n)
		if len(lr.line) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
	}
}

// partial returns an unterminated last line before end, if there is one.
func (lr *lineReader) partial(end error) ([]byte, error) {
	if len(lr.line) > 0 {
		line := bytes.TrimSuffix(lr.line, []byte{'\r'})
		lr.line = lr.line[:0]
		return line, nil
	}
	return nil, end
}

func (lr *lineReader) consume(n int) {
	_, _ = lr.br.Discard(n)
	if lr.left > 0 {
		lr.left -= int64(n)
	}
}

// chunkHeader reads the CRLF after the previous chunk and the next size line.
func (lr *lineReader) chunkHeader() error {
	if lr.needCRLF {
		crlf, err := readHeadLine(lr.br)
		if err != nil {
			return fmt.Errorf("read chunk end: %w", unexpected(err))
		}
		if crlf != "" {
			return fmt.Errorf("chunk data longer than its size")
		}
		lr.needCRLF = false
	}
	line, err := readHeadLine(lr.br)
	if err != nil {
		return fmt.Errorf("read chunk size: %w", unexpected(err))
	}
	size, _, _ := strings.Cut(line, ";") // chunk extensions are allowed and ignored
	n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("bad chunk size %.20q", line)
	}
	if n == 0 {
		for i := 0; ; i++ { // trailers, up to the empty line
			t, err := readHeadLine(lr.br)
			if err != nil {
				return fmt.Errorf("read trailer: %w", unexpected(err))
			}
			if t == "" {
				break
			}
			if i > 100 {
				return fmt.Errorf("more than 100 trailer lines")
			}
		}
		lr.done = true
		return nil
	}
	lr.left, lr.needCRLF = n, true
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// framer turns one body line of a held transport into a batch. It returns
// ok=false for lines that carry no batch (prelude, boundaries, part headers,
// SSE ids) and errStreamEnd for the transport's clean-end marker.
type framer interface {
	frame(line []byte) (batch []byte, ok bool, err error)
}

// newFramer returns the framer of transport, given the response head.
func newFramer(transport string, h respHead) (framer, error) {
	switch transport {
	case "multipart":
		_, params, _ := strings.Cut(h.ContentType, ";")
		b := boundaryParam(params)
		if !strings.HasPrefix(h.ContentType, "multipart/x-mixed-replace") || b == "" {
			return nil, fmt.Errorf("multipart: Content-Type %q has no boundary", h.ContentType)
		}
		return multipartFramer{end: []byte("--" + b + "--")}, nil
	case "sse":
		if !strings.HasPrefix(h.ContentType, "text/event-stream") {
			return nil, fmt.Errorf("sse: Content-Type %q", h.ContentType)
		}
		return sseFramer{}, nil
	case "iframe":
		if !strings.HasPrefix(h.ContentType, "text/html") {
			return nil, fmt.Errorf("iframe: Content-Type %q", h.ContentType)
		}
		return iframeFramer{}, nil
	default:
		return nil, fmt.Errorf("no held transport %q", transport)
	}
}

func boundaryParam(params string) string {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(k, "boundary") {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// isEndFrame reports whether a frame's payload is the end frame,
// {"end":"<reason>"} (every held transport sends one before it ends).
func isEndFrame(b []byte) bool { return bytes.HasPrefix(b, []byte(`{"end":`)) }

type multipartFramer struct{ end []byte }

func (f multipartFramer) frame(line []byte) ([]byte, bool, error) {
	switch {
	case len(line) > 0 && line[0] == '[':
		return line, true, nil
	case isEndFrame(line), bytes.Equal(line, f.end):
		return nil, false, errStreamEnd
	}
	return nil, false, nil
}

type sseFramer struct{}

func (sseFramer) frame(line []byte) ([]byte, bool, error) {
	if b, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
		if isEndFrame(b) {
			return nil, false, errStreamEnd
		}
		return b, true, nil
	}
	return nil, false, nil
}

type iframeFramer struct{}

var (
	iframeCall = []byte(`parent.__comet("`)
	iframeEnd  = []byte(`)</script>`)
)

func (iframeFramer) frame(line []byte) ([]byte, bool, error) {
	i := bytes.Index(line, iframeCall)
	if i < 0 {
		return nil, false, nil
	}
	rest := line[i+len(iframeCall):]
	j := bytes.Index(rest, []byte(`",`))
	k := bytes.LastIndex(rest, iframeEnd)
	if j < 0 || k < j+2 {
		return nil, false, fmt.Errorf("iframe: malformed script line %.60q", line)
	}
	b := rest[j+2 : k]
	if string(b) == "null" || isEndFrame(b) {
		return nil, false, errStreamEnd
	}
	return b, true, nil
}
