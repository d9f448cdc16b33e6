package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/server/push"
)

// handleStream attaches a downstream: the held streams (multipart, sse,
// iframe) are taken out of net/http after their headers and handed to the
// push core; poll and long-poll answer one batch.
func (s *Server) handleStream(c echo.Context) error {
	sess, err := s.authSession(c)
	if err != nil {
		return err
	}
	last, err := lastSeq(c)
	if err != nil {
		return err
	}
	name := c.Param("transport")
	t, held := push.NewTransport(name, sess.ID())
	if !held && name != "poll" && name != "ws" {
		return echo.ErrNotFound
	}
	release, err := s.limits.acquireStream(c.Request())
	if err != nil {
		return err
	}
	if name == "ws" {
		return s.holdWS(c, sess, last, release)
	}
	if !held {
		defer release()
		return s.handlePoll(c, sess, last)
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

// hold hijacks the connection and hands it to the push core, which writes
// the response head and prelude itself. The handler goroutine returns at
// once, so an idle stream costs no goroutine and no net/http buffers.
func (s *Server) hold(c echo.Context, sess *tab, t push.Transport, last uint64, release func()) error {
	r := c.Request()
	conn, err := hijack(c, release)
	if err != nil {
		return err
	}
	err = s.hub.Hold(push.Hold{
		Conn: conn, Session: sess.Session, Transport: t,
		Header:  c.Response().Header(), // headers set by middleware (security headers)
		Chunked: r.ProtoAtLeast(1, 1), Last: last, Release: release,
	})
	if err != nil && !errors.Is(err, push.ErrSessionEnded) {
		s.log.Debug("stream not held", "sid", sess.ID(), "err", err)
	}
	return nil // the response is the stream, or the client left before the head
}

// hijack takes the connection out of net/http for a held stream; on an
// error, release is called and the error is the answer.
func hijack(c echo.Context, release func()) (net.Conn, error) {
	hj, ok := c.Response().Writer.(http.Hijacker)
	if !ok {
		release()
		return nil, comet.Errorf(comet.EINVALID, "streaming transports need HTTP/1.x; use poll")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		release()
		return nil, comet.Errorf(comet.EINTERNAL, "hijack: %v", err)
	}
	c.Response().Committed = true // net/http no longer owns the connection
	discardBuffered(rw)
	return conn, nil
}

// discardBuffered drops anything net/http read ahead; a streaming request has
// no body and the connection is closed after the stream, so it is never used.
func discardBuffered(rw *bufio.ReadWriter) {
	if n := rw.Reader.Buffered(); n > 0 {
		_, _ = rw.Reader.Discard(n)
	}
}

// handlePoll answers one batch of the events after last, holding the request
// up to ?wait= seconds (0: plain polling) until there is at least one.
func (s *Server) handlePoll(c echo.Context, sess *tab, last uint64) error {
	wait := 0
	maxWait := int(push.MaxPollWait / time.Second)
	if v := c.QueryParam("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxWait {
			return comet.Errorf(comet.EINVALID, "wait must be 0 to %d seconds", maxWait)
		}
		wait = n
	}
	body, err := s.hub.Poll(c.Request().Context(), sess.Session, last, time.Duration(wait)*time.Second)
	if errors.Is(err, push.ErrDraining) {
		return unavailable(c) // a restart: the session lives on in the next process
	}
	if err != nil {
		return comet.Errorf(comet.ENOTFOUND, "session not found")
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "application/json", body)
}
