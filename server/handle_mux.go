package server

import (
	"crypto/subtle"
	"errors"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/server/push"
)

// handleMux holds one stream for several sessions of the caller:
// GET /comet/mux/{transport}?s=<sid>:<last>&s=… (multipart, sse or iframe).
// The tabs of one browser share it instead of holding a connection each.
// Every sid must be the caller's (the player token, as for a stream of one);
// a sid that is unknown or another player's gets an end frame "gone" on the
// stream and harms none of the others. A malformed list is refused whole.
func (s *Server) handleMux(c echo.Context) error {
	name := c.Param("transport")
	if name != "multipart" && name != "sse" && name != "iframe" {
		return echo.ErrNotFound
	}
	asked, err := muxList(c.QueryParams()["s"])
	if err != nil {
		return err
	}
	tok := tokenOf(c.Request())
	if tok == "" {
		return comet.Errorf(comet.EUNAUTHORIZED, "missing player token")
	}
	h := hashToken(tok)
	var sessions []push.MuxSession
	var refused []string
	for _, a := range asked {
		ps, ok := s.hub.Session(a.sid)
		if s.cluster != nil && (!ok || tabOf(ps).mirror) {
			// Homed on another node: relayed into a mirror here, whose
			// home checks the token.
			ps, ok = s.muxMirror(c.Request(), a.sid, tok, a.last)
		}
		if ok && subtle.ConstantTimeCompare(h, tabOf(ps).tokenHash[:]) == 1 {
			sessions = append(sessions, push.MuxSession{Session: ps, Last: a.last})
		} else {
			// Unknown and foreign look the same: a mux says nothing of
			// sessions that are not the caller's.
			refused = append(refused, a.sid)
		}
	}
	release, err := s.limits.acquireStream(c.Request())
	if err != nil {
		return err
	}
	conn, err := hijack(c, release)
	if err != nil {
		return err
	}
	err = s.hub.HoldMux(push.HoldMux{
		Conn: conn, Transport: name, Header: c.Response().Header(),
		Chunked: c.Request().ProtoAtLeast(1, 1), Sessions: sessions, Refused: refused, Release: release,
	})
	if err != nil && !errors.Is(err, push.ErrDraining) {
		s.log.Debug("mux not held", "err", err)
	}
	return nil // the response is the stream, or the client left before the head
}

// muxAsk is one session asked for on a mux, with its resume cursor.
type muxAsk struct {
	sid  string
	last uint64
}

// muxList parses the s=<sid>:<last> parameters: one to push.MaxMuxSessions,
// each a session id and a non-negative integer, no sid twice.
func muxList(vals []string) ([]muxAsk, error) {
	if len(vals) == 0 {
		return nil, comet.Errorf(comet.EINVALID, "a mux needs at least one s=<sid>:<last>")
	}
	if len(vals) > push.MaxMuxSessions {
		return nil, comet.Errorf(comet.EINVALID, "a mux carries at most %d sessions", push.MaxMuxSessions)
	}
	out := make([]muxAsk, 0, len(vals))
	seen := make(map[string]bool, len(vals))
	for _, v := range vals {
		sid, n, ok := strings.Cut(v, ":")
		if !ok {
			return nil, comet.Errorf(comet.EINVALID, "s must be <sid>:<last>")
		}
		if !push.ValidSID(sid) {
			// The bad sid is not echoed: it may hold anything.
			return nil, comet.Errorf(comet.EINVALID, "s must be <sid>:<last>, sid a session id (s_ and up to 62 of A-Z a-z 0-9 - _)")
		}
		last, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, comet.Errorf(comet.EINVALID, "s must be <sid>:<last>, last a non-negative integer")
		}
		if seen[sid] {
			return nil, comet.Errorf(comet.EINVALID, "s names session %s twice", sid)
		}
		seen[sid] = true
		out = append(out, muxAsk{sid, last})
	}
	return out, nil
}
