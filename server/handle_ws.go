package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/server/push"
)

// holdWS upgrades GET /comet/{sid}/ws: the same session and resume cursor
// as the other transports, downstream batches as text messages, and the
// client's events upstream on the same connection (onMessage). A browser's
// WebSocket cannot set headers, so it authenticates with the token cookie,
// and its Origin must be this site's (a cross-site page could otherwise
// drive it with the player's cookie).
func (s *Server) holdWS(c echo.Context, sess *tab, last uint64, release func()) error {
	r := c.Request()
	if err := checkSameOrigin(r); err != nil {
		release()
		return err
	}
	up, err := push.CheckWSUpgrade(r)
	if err != nil {
		release()
		var he *push.WSHandshakeError
		if errors.As(err, &he) {
			if he.Status == http.StatusUpgradeRequired {
				c.Response().Header().Set("Sec-WebSocket-Version", "13")
			}
			return echo.NewHTTPError(he.Status, he.Reason)
		}
		return comet.Errorf(comet.EINVALID, "%s", err.Error())
	}
	hj, ok := c.Response().Writer.(http.Hijacker)
	if !ok {
		release()
		return comet.Errorf(comet.EINVALID, "websocket needs HTTP/1.1")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		release()
		return err
	}
	c.Response().Committed = true
	discardBuffered(rw)
	err = s.hub.HoldWS(push.HoldWS{Conn: conn, Session: sess.Session, Upgrade: up, Last: last, Release: release})
	if err != nil && !errors.Is(err, push.ErrSessionEnded) {
		s.log.Debug("websocket not held", "sid", sess.ID(), "err", err)
	}
	return nil
}

// onMessage takes one upstream WebSocket message: the same body an upstream
// POST carries, with the same seqs, de-duplication and errors — errors that a
// POST would answer with a status go to the stream as sys.error (ref 0).
func (s *Server) onMessage(ctx context.Context, ps *push.Session, msg []byte) {
	// The same budget as a POST's events (a claim's bcrypt and write under
	// load can outlast the core's callback timeout): an event taken runs to
	// its end, as on POST.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
	defer cancel()
	sess := tabOf(ps)
	if sess.mirror {
		s.forwardWS(ctx, sess, msg)
		return
	}
	if !s.enterGate() { // a hand-over saves the session: nothing may run after
		sess.SendError(0, errRestarting)
		return
	}
	defer s.exitGate()
	evs, err := decodeUpstream(msg)
	if err != nil {
		s.metrics.upstream.WithLabelValues("error").Inc()
		sess.SendError(0, err)
		return
	}
	s.takeEvents(ctx, sess, evs)
}
