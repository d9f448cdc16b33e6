package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
)

// A WebSocket is long-lived and carries both directions, so with
// Config.WSMove a session whose socket lands on a node other than its home
// is moved to that node rather than relayed (docs/PERFORMANCE.md,
// "WebSocket homed where it lands" has the measurement): the landing node
// asks the home to release it (moveReq kind "pull"), the home marks it
// drained for a move, and the landing node takes it whole as a drain's
// taker does — same sid, numbering and buffered events — then serves the
// socket locally: no relay, no forwarded message, each way. The take loses
// no bus line (take_capture.go). Why not by default: with a round-robin
// balancer sockets would move on every reconnect, three round trips and a
// directory write each time; a relay moves nothing. A session sitting in a
// room stays with the room on its owner and is relayed either way.

// pullWS asks sid's home to release the session to this node, for a
// WebSocket that landed here; true when it did (the directory entry is
// then drained: routeHome takes it). The client's token is checked first,
// so that nobody but the session's player moves it.
func (s *Server) pullWS(c echo.Context, home, sid, player string) bool {
	if !s.cfg.WSMove || s.rooms == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), clusterTimeout)
	defer cancel()
	if _, _, err := s.rehomeAuth(ctx, c, player); err != nil {
		return false // the relay answers the client as it would
	}
	b, _ := json.Marshal(moveReq{Kind: "pull", SID: sid, Player: player})
	if err := s.rooms.c.MoveTo(ctx, home, b); err != nil {
		s.log.Debug("WebSocket's session not released by its home; relaying it", "sid", sid, "home", home, "err", err)
		return false
	}
	return true
}

// pullHold bounds how long a session released to another node stays
// takeable from here (isMoving): until a node takes it, which the landing
// node does at once, or its client's next request anywhere does.
const pullHold = 2 * time.Minute

// releaseToPull marks a session of this node drained for the node its
// WebSocket landed on (pullWS), unless it sits in a room.
func (s *Server) releaseToPull(ctx context.Context, req moveReq) error {
	ps, ok := s.hub.Session(req.SID)
	if !ok {
		return comet.Errorf(comet.ENOTFOUND, "no session %s here", req.SID)
	}
	t := tabOf(ps)
	switch {
	case t.mirror:
		return comet.Errorf(comet.ECONFLICT, "session %s is relayed here, not homed", req.SID)
	case t.playerID != req.Player:
		return comet.Errorf(comet.EFORBIDDEN, "session belongs to another player")
	case t.Room() != "":
		return comet.Errorf(comet.ECONFLICT, "session %s is in a room: it stays on the room's node", req.SID)
	}
	cr := s.rooms
	cr.mu.Lock()
	cr.moving[req.SID] = true
	cr.mu.Unlock()
	time.AfterFunc(pullHold, func() {
		cr.mu.Lock()
		delete(cr.moving, req.SID)
		cr.mu.Unlock()
	})
	marked, err := s.cluster.MarkDrained(ctx, req.SID, t.playerID)
	if err == nil && !marked {
		err = errors.New("no longer this node's")
	}
	if err != nil {
		return comet.Errorf(codeUnavailable, "session not released: %v", err)
	}
	s.log.Debug("session released to the node its WebSocket landed on", "sid", req.SID)
	return nil
}
