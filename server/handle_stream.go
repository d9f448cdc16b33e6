package server

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
)

// handleStream attaches a downstream: the held streams (multipart, sse,
// iframe) are taken out of net/http after their headers; poll and long-poll
// answer one batch.
func (s *Server) handleStream(c echo.Context) error {
	sess, err := s.authSession(c)
	if err != nil {
		return err
	}
	last, err := lastSeq(c)
	if err != nil {
		return err
	}
	release, err := s.limits.acquireStream(c.Request())
	if err != nil {
		return err
	}
	var t transport
	switch c.Param("transport") {
	case "multipart":
		t = newMultipart()
	case "sse":
		t = sse{}
	case "iframe":
		t = newIframe(sess.id)
	case "poll":
		defer release()
		return s.handlePoll(c, sess, last)
	default:
		release()
		return echo.ErrNotFound
	}
	return s.hold(c, sess, t, last, release)
}

// lastSeq reads the resume cursor: Last-Event-ID (EventSource's reconnect)
// wins over ?last=.
func lastSeq(c echo.Context) (uint64, error) {
	v := c.Request().Header.Get("Last-Event-ID")
	if v == "" {
		v = c.QueryParam("last")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, comet.Errorf(comet.EINVALID, "last must be a non-negative integer")
	}
	return n, nil
}

// hold hijacks the connection, writes the response head and prelude itself,
// and hands the connection to the writer pool. The handler goroutine returns
// at once, so an idle stream costs no goroutine and no net/http buffers.
func (s *Server) hold(c echo.Context, sess *Session, t transport, last uint64, release func()) error {
	r := c.Request()
	hj, ok := c.Response().Writer.(http.Hijacker)
	if !ok {
		release()
		return comet.Errorf(comet.EINVALID, "streaming transports need HTTP/1.x; use poll")
	}
	h := c.Response().Header() // headers set by middleware (security headers)
	t.header(h)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Connection", "close")
	chunked := r.ProtoAtLeast(1, 1)
	if chunked {
		h.Set("Transfer-Encoding", "chunked")
	}

	conn, rw, err := hj.Hijack()
	if err != nil {
		release()
		return comet.Errorf(comet.EINTERNAL, "hijack: %v", err)
	}
	c.Response().Committed = true // net/http no longer owns the connection
	_ = conn.SetDeadline(time.Time{})

	st := &stream{hub: s.hub, sess: sess, t: t, conn: conn, chunked: chunked, started: time.Now().UnixNano(), release: release}
	head := responseHead(h)
	// An empty batch right after the prelude lets a client see, within its
	// open deadline, that bytes really flow (and not into a buffering proxy).
	pre := t.appendBatch(t.appendPrelude(nil), nil)
	if chunked {
		head = strconv.AppendInt(head, int64(len(pre)), 16)
		head = append(head, "\r\n"...)
		head = append(append(head, pre...), "\r\n"...)
	} else {
		head = append(head, pre...)
	}
	discardBuffered(rw)
	_ = conn.SetWriteDeadline(time.Now().Add(s.hub.cfg.WriteTimeout))
	if _, err := conn.Write(head); err != nil {
		_ = conn.Close()
		release()
		return nil // the client left before the head; nothing to answer
	}
	// From here on writes never block (the pool leaves what the socket does
	// not take pending), so the head's deadline must not linger.
	_ = conn.SetWriteDeadline(time.Time{})
	st.lastWrite.Store(time.Now().UnixNano())

	s.hub.writers.register(st)
	// The cursor is set under the stream's lock in the same step as attaching:
	// a Send from another goroutine can wake the stream the moment it is
	// attached, and its flush must not see the zero cursor and resend from 1.
	st.mu.Lock()
	cursor, reset, ok := sess.attach(st, last)
	st.cursor = cursor
	st.mu.Unlock()
	if !ok { // expired between auth and now
		st.close(nil)
		return nil
	}
	if reset {
		s.hub.resync(sess)
	}
	st.wake()
	return nil
}

// responseHead renders the status line and headers for a hijacked response.
func responseHead(h http.Header) []byte {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	b.WriteString("Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	return []byte(b.String())
}

// discardBuffered drops anything net/http read ahead; a streaming request has
// no body and the connection is closed after the stream, so it is never used.
func discardBuffered(rw *bufio.ReadWriter) {
	if n := rw.Reader.Buffered(); n > 0 {
		_, _ = rw.Reader.Discard(n)
	}
}

// pollReceiver is the downstream of one poll request: wake signals the
// waiting handler; stop ends its wait when a newer downstream attaches.
type pollReceiver struct {
	wakeC chan struct{}
	stopC chan struct{}
	once  chan struct{}
}

func newPollReceiver() *pollReceiver {
	return &pollReceiver{wakeC: make(chan struct{}, 1), stopC: make(chan struct{}), once: make(chan struct{}, 1)}
}

func (p *pollReceiver) wake() {
	select {
	case p.wakeC <- struct{}{}:
	default:
	}
}

func (p *pollReceiver) stop() {
	select {
	case p.once <- struct{}{}:
		close(p.stopC)
	default:
	}
}

// maxPollWait caps how long a long-poll is held (seconds).
const maxPollWait = 30

// handlePoll answers one batch of the events after last, holding the request
// up to ?wait= seconds (0: plain polling) until there is at least one.
func (s *Server) handlePoll(c echo.Context, sess *Session, last uint64) error {
	wait := 0
	if v := c.QueryParam("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxPollWait {
			return comet.Errorf(comet.EINVALID, "wait must be 0 to %d seconds", maxPollWait)
		}
		wait = n
	}
	name := "poll"
	if wait > 0 {
		name = "longpoll"
	}
	pr := newPollReceiver()
	cursor, reset, ok := sess.attach(pr, last)
	if !ok {
		return comet.Errorf(comet.ENOTFOUND, "session not found")
	}
	defer sess.detach(pr)
	if reset {
		s.hub.resync(sess)
	}
	gauge := s.metrics.streams.WithLabelValues(name)
	gauge.Inc()
	defer gauge.Dec()

	ctx := c.Request().Context()
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(time.Duration(wait) * time.Second)
		defer t.Stop()
		timer = t.C
	}
	var evs []event
	for {
		evs, cursor, reset, _ = sess.collect(evs[:0], cursor, batchBytes)
		if reset {
			s.hub.resync(sess)
		}
		if len(evs) > 0 || wait == 0 {
			break
		}
		if !waitPoll(ctx, pr, timer) {
			break
		}
	}
	s.metrics.delivered.Add(float64(len(evs)))
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "application/json", appendJSONBatch(nil, evs))
}

// waitPoll waits for new events; false means answer now (timeout, replaced, gone).
func waitPoll(ctx context.Context, pr *pollReceiver, timer <-chan time.Time) bool {
	select {
	case <-pr.wakeC:
		return true
	case <-pr.stopC:
		return false
	case <-timer:
		return false
	case <-ctx.Done():
		return false
	}
}
