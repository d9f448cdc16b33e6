package conform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// streamingTransports are the transports that hold one response open.
var streamingTransports = []string{"multipart", "sse", "iframe"}

// heldTransports are the held connections: the WebSocket and the streaming responses.
var heldTransports = []string{"ws", "multipart", "sse", "iframe"}

// allTransports are the documented transport names, in fallback order.
var allTransports = []string{"multipart", "sse", "iframe", "longpoll", "poll"}

// frame is one batch (or the clean end) as read from a transport.
type frame struct {
	batch []Event
	raw   []byte // the batch's bytes as sent
	end   bool   // the transport's clean-end marker
	why   string // the end frame's reason ({"end":"<reason>"}), when it has one
	at    time.Time
	id    string // SSE: the id line ("" when none)
}

func (f frame) heartbeat() bool { return !f.end && len(f.batch) == 0 }

// stream is one downstream: a held response, or for poll/longpoll a loop of
// requests. It parses the transport's framing byte by byte and records
// every departure from PROTOCOL.md in bad.
type stream struct {
	tr       string
	s        *session
	ctx      context.Context
	resp     *http.Response
	body     io.ReadCloser
	br       *bufio.Reader
	cnt      *cutReader
	boundary string
	nonce    string
	last     int64    // poll: the cursor the next request sends
	seen     int64    // the newest seq read; each event must be the next
	rest     []Event  // events of a batch that readUntil has not handed out yet
	conn     net.Conn // ws: the upgraded connection
	wait     int
	bad      []string
	done     bool
	stop     func() bool
	mu       sync.Mutex
}

// cutReader counts bytes and, with a limit, ends the body there (a cut).
type cutReader struct {
	r     io.Reader
	n     int64
	limit int64 // 0: none
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.limit > 0 {
		if c.n >= c.limit {
			return 0, errCut
		}
		if rem := c.limit - c.n; int64(len(p)) > rem {
			p = p[:rem]
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var errCut = errors.New("cut by the client")

func (st *stream) badf(format string, args ...any) {
	st.mu.Lock()
	st.bad = append(st.bad, st.tr+": "+fmt.Sprintf(format, args...))
	st.mu.Unlock()
}

// problems returns the framing departures seen so far.
func (st *stream) problems() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.bad...)
}

// streamOpt tunes how a stream is opened.
type streamOpt struct {
	hdr   http.Header
	cut   int64 // end the body after this many bytes
	query string
	wait  int // longpoll's wait (default 1)
}

// open attaches a downstream of transport tr with ?last=last; for the
// streaming transports it reads and checks the headers and the prelude.
func (t *T) open(s *session, tr string, last int64, o streamOpt) *stream {
	st, err := s.open(t.ctx, tr, last, o)
	if err != nil {
		t.Fatalf("%s: %v", tr, err)
	}
	t.Cleanup(st.Close)
	return st
}

func (s *session) open(ctx context.Context, tr string, last int64, o streamOpt) (*stream, error) {
	st := &stream{tr: tr, s: s, ctx: ctx, last: last, seen: last, wait: o.wait}
	if tr == "poll" {
		st.wait = 0
	} else if tr == "longpoll" && st.wait == 0 {
		st.wait = 1
	}
	if tr == "poll" || tr == "longpoll" {
		st.cnt = &cutReader{limit: o.cut}
		return st, nil
	}
	if tr == "ws" {
		return st, s.openWS(ctx, st, last, o)
	}
	u := fmt.Sprintf("%s/comet/%s/%s?last=%d%s", s.r.cfg.Base, s.Sid, tr, last, o.query)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept-Encoding", "gzip")
	for k, v := range o.hdr {
		req.Header[k] = v
	}
	resp, err := s.r.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: status %d %s, want 200", tr, resp.StatusCode, b)
	}
	st.resp, st.body = resp, resp.Body
	st.stop = context.AfterFunc(ctx, func() { resp.Body.Close() })
	st.cnt = &cutReader{r: resp.Body, limit: o.cut}
	st.br = bufio.NewReaderSize(st.cnt, 64<<10)
	st.checkHeaders()
	if err := st.prelude(); err != nil {
		return st, nil // the problem is recorded; next() reports the end
	}
	return st, nil
}

var (
	boundaryRE = regexp.MustCompile(`^multipart/x-mixed-replace; boundary="(comet-[0-9a-f]{16})"$`)
	cspRE      = regexp.MustCompile(`^default-src 'none'; script-src 'nonce-([A-Za-z0-9_\-+/=]+)'$`)
)

// checkHeaders checks what "Streaming responses" promises of the headers.
func (st *stream) checkHeaders() {
	h := st.resp.Header
	if v := h.Get("Cache-Control"); v != "no-store" {
		st.badf("Cache-Control %q, want no-store", v)
	}
	if v := h.Get("X-Accel-Buffering"); v != "no" {
		st.badf("X-Accel-Buffering %q, want no", v)
	}
	if v := h.Get("X-Content-Type-Options"); v != "nosniff" {
		st.badf("X-Content-Type-Options %q, want nosniff", v)
	}
	if v := h.Get("Content-Encoding"); v != "" {
		st.badf("Content-Encoding %q on a request with Accept-Encoding: gzip, want none (never compressed)", v)
	}
	if len(st.resp.TransferEncoding) != 1 || st.resp.TransferEncoding[0] != "chunked" {
		st.badf("Transfer-Encoding %v, want chunked (the streams end with a chunked terminator)", st.resp.TransferEncoding)
	}
	if !st.resp.Close {
		st.badf("no Connection: close")
	}
	ct := h.Get("Content-Type")
	switch st.tr {
	case "multipart":
		m := boundaryRE.FindStringSubmatch(ct)
		if m == nil {
			st.badf("Content-Type %q, want multipart/x-mixed-replace; boundary=\"comet-<16 hex>\"", ct)
			st.boundary = "\x00"
			if i := strings.Index(ct, `boundary="`); i >= 0 {
				st.boundary = strings.TrimSuffix(ct[i+len(`boundary="`):], `"`)
			}
		} else {
			st.boundary = m[1]
		}
	case "sse":
		if ct != "text/event-stream; charset=utf-8" {
			st.badf("Content-Type %q, want text/event-stream; charset=utf-8", ct)
		}
	case "iframe":
		if ct != "text/html; charset=utf-8" {
			st.badf("Content-Type %q, want text/html; charset=utf-8", ct)
		}
		m := cspRE.FindStringSubmatch(h.Get("Content-Security-Policy"))
		if m == nil {
			st.badf("Content-Security-Policy %q, want default-src 'none'; script-src 'nonce-<nonce>'", h.Get("Content-Security-Policy"))
			st.nonce = "\x00"
		} else {
			st.nonce = m[1]
		}
	}
}

// line reads one line including its LF.
func (st *stream) line() (string, error) {
	l, err := st.br.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && l != "" {
			return l, io.ErrUnexpectedEOF
		}
		return l, err
	}
	return l, nil
}

// expect reads one line and records a departure unless it is want.
func (st *stream) expect(want, what string) error {
	l, err := st.line()
	if err != nil {
		return err
	}
	if l != want {
		st.badf("%s: got %.80q, want %.80q", what, l, want)
		return errors.New("bad framing")
	}
	return nil
}

// prelude reads and checks the transport's prelude.
func (st *stream) prelude() error {
	switch st.tr {
	case "multipart":
		return st.expect(strings.Repeat(" ", 2048)+"\r\n", "prelude (2048 spaces, CRLF)")
	case "sse":
		if err := st.expect(":"+strings.Repeat(" ", 2048)+"\n", "prelude (':' and 2048 spaces, LF)"); err != nil {
			return err
		}
		if err := st.expect("retry: 1000\n", "retry line"); err != nil {
			return err
		}
		return st.expect("\n", "blank line after retry")
	case "iframe":
		if err := st.expect(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>comet</title></head><body>`+"\n", "document head"); err != nil {
			return err
		}
		return st.expect("<!--"+strings.Repeat(" ", 1026)+"-->\n", "prelude (<!-- 1026 spaces -->)")
	}
	return nil
}

// next returns the next frame; io.EOF after the clean end (or, for SSE, a
// clean end of the response), another error on a cut or broken framing.
func (st *stream) next() (frame, error) {
	f, err := st.next1()
	for _, e := range f.batch {
		// "no gaps, no duplicates": each event is the one after the last;
		// only sys.reset may jump (it has its own, new seq).
		if e.Seq != st.seen+1 && !(e.Type == "sys.reset" && e.Seq > st.seen) {
			st.badf("seq %d (%s) after seq %d, want %d", e.Seq, e.Type, st.seen, st.seen+1)
		}
		st.seen = max(st.seen, e.Seq)
	}
	return f, err
}

func (st *stream) next1() (frame, error) {
	if st.tr == "poll" || st.tr == "longpoll" {
		return st.poll()
	}
	if st.done {
		return frame{}, io.EOF
	}
	f, err := st.read()
	f.at = time.Now()
	if err != nil {
		st.done = true
		return f, err
	}
	if f.end && st.tr == "ws" {
		st.done = true
		_, _ = st.conn.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}) // the client's close, 1000
		return f, nil
	}
	if f.end {
		st.done = true
		// After the end marker only the chunked terminator may follow.
		rest, err := io.ReadAll(st.br)
		if len(bytes.TrimRight(rest, "\n")) > 0 {
			st.badf("%d bytes after the end marker: %.60q", len(rest), rest)
		}
		if err != nil {
			st.badf("no chunked terminator after the end marker: %v", err)
		}
		return f, nil
	}
	st.checkBatch(f.raw)
	return f, nil
}

func (st *stream) read() (frame, error) {
	switch st.tr {
	case "ws":
		return st.readWS()
	case "multipart":
		l, err := st.line()
		if err != nil {
			return frame{}, err
		}
		if l == "--"+st.boundary+"--\r\n" {
			return frame{end: true}, nil
		}
		if l != "--"+st.boundary+"\r\n" {
			st.badf("part starts %.80q, want --%s CRLF", l, st.boundary)
			return frame{}, errors.New("bad framing")
		}
		if err := st.expect("Content-Type: application/json\r\n", "part header"); err != nil {
			return frame{}, err
		}
		if err := st.expect("\r\n", "blank line after the part header"); err != nil {
			return frame{}, err
		}
		l, err = st.line()
		if err != nil {
			return frame{}, err
		}
		if !strings.HasSuffix(l, "\r\n") {
			st.badf("part body %.60q does not end in CRLF", l)
		}
		body := []byte(strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r"))
		if why, ok := st.endFrame(body); ok {
			if err := st.expect("--"+st.boundary+"--\r\n", "closing boundary after the end frame"); err != nil {
				return frame{}, err
			}
			return frame{end: true, why: why}, nil
		}
		return st.decode(body)
	case "sse":
		var f frame
		var data []byte
		seen := false
		for {
			l, err := st.line()
			if err != nil {
				if errors.Is(err, io.EOF) && !seen {
					st.badf("the response ended without an end frame")
					return frame{end: true}, nil
				}
				return frame{}, err
			}
			seen = true
			switch {
			case l == "\n":
				if data == nil {
					st.badf("an SSE event without a data line")
					return frame{}, errors.New("bad framing")
				}
				if why, ok := st.endFrame(data); ok {
					if f.id != "" {
						st.badf("the end frame has an id %q", f.id)
					}
					return frame{end: true, why: why}, nil
				}
				g, err := st.decode(data)
				g.id = f.id
				st.checkSSEID(g)
				return g, err
			case strings.HasPrefix(l, "id: "):
				f.id = strings.TrimSuffix(l[4:], "\n")
			case strings.HasPrefix(l, "data: "):
				if data != nil {
					st.badf("an SSE event with two data lines")
				}
				data = []byte(strings.TrimSuffix(l[6:], "\n"))
			default:
				st.badf("unexpected SSE line %.60q", l)
				return frame{}, errors.New("bad framing")
			}
		}
	case "iframe":
		l, err := st.line()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && strings.HasSuffix(l, "</body></html>") {
				st.badf("no LF after </body></html>")
				err = nil
				l += "\n"
			} else {
				return frame{}, err
			}
		}
		pre := `<script nonce="` + st.nonce + `">parent.__comet("` + st.s.Sid + `",`
		if !strings.HasPrefix(l, pre) {
			st.badf("line %.100q, want %q…", l, pre)
			return frame{}, errors.New("bad framing")
		}
		rest := strings.TrimSuffix(l[len(pre):], "\n")
		if obj, ok := strings.CutSuffix(rest, ")</script></body></html>"); ok {
			if why, ok := st.endFrame([]byte(obj)); ok {
				return frame{end: true, why: why}, nil
			}
		}
		if !strings.HasSuffix(rest, ")</script>") {
			st.badf("script %.100q does not end in )</script> LF", l)
			return frame{}, errors.New("bad framing")
		}
		return st.decode([]byte(strings.TrimSuffix(rest, ")</script>")))
	}
	return frame{}, fmt.Errorf("unknown transport %q", st.tr)
}

// endFrame recognises the end frame's payload {"end":"<reason>"}.
func (st *stream) endFrame(b []byte) (string, bool) {
	if len(b) == 0 || b[0] != '{' {
		return "", false
	}
	var e struct {
		End *string `json:"end"`
	}
	if json.Unmarshal(b, &e) != nil || e.End == nil {
		return "", false
	}
	switch *e.End {
	case "recycle", "replaced", "ended", "shutdown":
	default:
		st.badf("end frame %s: reason %q is not recycle, replaced, ended or shutdown", b, *e.End)
	}
	return *e.End, true
}

func (st *stream) checkSSEID(f frame) {
	switch {
	case len(f.batch) == 0 && f.id != "":
		st.badf("heartbeat with id %q (heartbeats carry no id)", f.id)
	case len(f.batch) > 0 && f.id != strconv.FormatInt(f.batch[len(f.batch)-1].Seq, 10):
		st.badf("id %q, want the seq of the batch's last event %d", f.id, f.batch[len(f.batch)-1].Seq)
	}
}

// decode parses a batch.
func (st *stream) decode(raw []byte) (frame, error) {
	f := frame{raw: raw}
	if err := json.Unmarshal(raw, &f.batch); err != nil {
		st.badf("batch %.80q is not a JSON array of events: %v", raw, err)
		return f, errors.New("bad framing")
	}
	if f.batch == nil {
		st.badf("batch %.80q is not an array", raw)
		return f, errors.New("bad framing")
	}
	return f, nil
}

// checkBatch checks that a batch is one line of HTML-safe JSON events.
func (st *stream) checkBatch(raw []byte) {
	if bytes.ContainsAny(raw, "<>&\r\n") || bytes.Contains(raw, []byte("\u2028")) || bytes.Contains(raw, []byte("\u2029")) {
		st.badf("batch holds a raw <, >, &, CR, LF, U+2028 or U+2029: %.100q", raw)
	}
	var evs []map[string]json.RawMessage
	if json.Unmarshal(raw, &evs) != nil {
		return
	}
	for _, e := range evs {
		if len(e["seq"]) == 0 || len(e["type"]) == 0 || len(e["data"]) == 0 {
			st.badf("event %.100v lacks seq, type or data", e)
		}
	}
}

// poll makes one poll request (longpoll with wait) and returns its batch.
func (st *stream) poll() (frame, error) {
	u := fmt.Sprintf("%s/comet/%s/poll?last=%d", st.s.r.cfg.Base, st.s.Sid, st.last)
	if st.wait > 0 {
		u += "&wait=" + strconv.Itoa(st.wait)
	}
	req, err := http.NewRequestWithContext(st.ctx, "GET", u, nil)
	if err != nil {
		return frame{}, err
	}
	req.Header.Set("Authorization", "Bearer "+st.s.Token)
	resp, err := st.s.r.client.Do(req)
	if err != nil {
		return frame{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return frame{}, fmt.Errorf("poll: status %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		st.badf("Content-Type %q, want application/json", ct)
	}
	st.cnt.r, st.cnt.n = resp.Body, 0
	b, err := io.ReadAll(st.cnt)
	if err != nil {
		st.cnt.limit = 0    // one cut per stream
		return frame{}, err // a cut: the events are acknowledged only by the next request's last
	}
	b = bytes.TrimRight(b, "\n")
	f, err := st.decode(b)
	f.at = time.Now()
	if err != nil {
		return f, err
	}
	st.checkBatch(b)
	for _, e := range f.batch {
		st.last = max(st.last, e.Seq) // last acknowledges the newest seq processed
	}
	return f, nil
}

// reopen replaces an ended stream with a new response resuming at seen.
func (st *stream) reopen() error {
	st.Close()
	n, err := st.s.open(st.ctx, st.tr, st.seen, streamOpt{wait: st.wait})
	if err != nil {
		return err
	}
	n.bad = append(st.problems(), n.bad...)
	*st = stream{tr: n.tr, s: n.s, ctx: n.ctx, resp: n.resp, body: n.body, br: n.br, cnt: n.cnt, conn: n.conn,
		boundary: n.boundary, nonce: n.nonce, last: n.last, seen: n.seen, wait: n.wait, bad: n.bad, stop: n.stop}
	return nil
}

// Close ends the stream (client side).
func (st *stream) Close() {
	if st.body != nil {
		st.body.Close()
	}
	if st.conn != nil {
		st.conn.Close()
	}
	if st.stop != nil {
		st.stop()
	}
}

// query escapes v for a URL.
func query(v string) string { return url.QueryEscape(v) }
