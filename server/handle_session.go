package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/server/push"
)

// ProtocolVersion is the version of docs/PROTOCOL.md this server speaks; a
// session request names the version its client speaks (none: 1).
const ProtocolVersion = 1

// protocolVersions lists every version the server accepts, oldest first.
var protocolVersions = []int{ProtocolVersion}

type sessionRequest struct {
	V    *int   `json:"v"`
	Name string `json:"name"`
}

type sessionResponse struct {
	V           int           `json:"v"`
	SID         string        `json:"sid"`
	Player      sessionPlayer `json:"player"`
	Token       string        `json:"token"`
	HeartbeatMS int64         `json:"heartbeat_ms"`
	Transports  []string      `json:"transports"`
	Limits      sessionLimits `json:"limits"`
}

// sessionLimits are the limits a client must respect or plan for, as this
// server is configured (docs/PROTOCOL.md, "Limits").
type sessionLimits struct {
	HeartbeatMS    int64 `json:"heartbeat_ms"`     // an empty batch after this much silence
	GraceMS        int64 `json:"grace_ms"`         // an unattached session expires after this
	ReplayEvents   int   `json:"replay_events"`    // the replay buffer keeps at most these events
	ReplayBytes    int   `json:"replay_bytes"`     // ... and these bytes of events
	SendEvents     int   `json:"send_events"`      // events per POST /send
	SendBytes      int   `json:"send_bytes"`       // bytes per POST /send body
	SendWindow     int   `json:"send_window"`      // client seqs remembered below the highest taken
	RecycleBytes   int   `json:"recycle_bytes"`    // a stream ends after about this many framed bytes
	RecycleMS      int64 `json:"recycle_ms"`       // ... or after this long
	MaxWaitS       int   `json:"max_wait_s"`       // the largest ?wait= of a long-poll
	WriteTimeoutMS int64 `json:"write_timeout_ms"` // a stream that takes no bytes this long is cut
}

// unsupportedVersion is the answer to a session request for a version the
// server does not speak: 400 with the versions it does.
type unsupportedVersion struct {
	Error    string `json:"error"`
	Code     string `json:"code"`
	Versions []int  `json:"versions"`
}

// limits returns the session answer's limits from the hub's settings.
func (s *Server) sessionLimits() sessionLimits {
	hc := s.hub.Config()
	return sessionLimits{
		HeartbeatMS: hc.Heartbeat.Milliseconds(), GraceMS: hc.Grace.Milliseconds(),
		ReplayEvents: hc.ReplayEvents, ReplayBytes: hc.ReplayBytes,
		SendEvents: maxSendEvents, SendBytes: maxSendBytes, SendWindow: push.UpstreamWindow,
		RecycleBytes: hc.RecycleBytes, RecycleMS: hc.RecycleAge.Milliseconds(),
		MaxWaitS: int(push.MaxPollWait / time.Second), WriteTimeoutMS: hc.WriteTimeout.Milliseconds(),
	}
}

type playerView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// sessionPlayer is the player in the session answer: whether it has claimed
// its name too, so a page can show it after a reload.
type sessionPlayer struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Claimed bool   `json:"claimed"`
}

// handleSession opens a session: for the player whose token the request
// presents, or for a new guest player whose token is set as a cookie.
func (s *Server) handleSession(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), sessionTimeout)
	defer cancel()
	if err := s.limits.allowSession(c.Request()); err != nil {
		return err
	}
	addr, err := s.limits.acquireSession(c.Request())
	if err != nil {
		return err
	}
	defer func() {
		if addr.IsValid() { // refused after all: give the place back
			s.limits.releaseSession(addr)
		}
	}()
	var req sessionRequest
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return comet.Errorf(comet.EINVALID, "body must be a JSON object like {\"v\": 1, \"name\": \"Ada\"}")
		}
	}
	if req.V != nil && !slices.Contains(protocolVersions, *req.V) {
		return c.JSON(http.StatusBadRequest, unsupportedVersion{
			Error:    fmt.Sprintf("protocol version %d is not supported (this server speaks %d)", *req.V, ProtocolVersion),
			Code:     "unsupported_version",
			Versions: protocolVersions,
		})
	}

	var p *comet.Player
	tok := tokenOf(c.Request())
	if tok != "" {
		found, err := s.store.PlayerByToken(ctx, hashToken(tok))
		switch {
		case err == nil:
			p = found
		case comet.ErrorCode(err) != comet.ENOTFOUND:
			return fmt.Errorf("session: find player: %w", err)
		}
	}
	if p != nil {
		banned, err := s.store.Banned(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("session: ban check: %w", err)
		}
		if banned {
			return comet.Errorf(comet.EFORBIDDEN, "this player is banned")
		}
		if err := s.freeTakenName(ctx, p); err != nil {
			return fmt.Errorf("session: %w", err)
		}
	}
	if p == nil {
		tok = push.RandomID(16)
		p = &comet.Player{ID: "p_" + push.RandomID(9), Name: s.guestName(ctx), CreatedAt: time.Now()}
		if err := s.store.CreatePlayer(ctx, p, hashToken(tok)); err != nil {
			return fmt.Errorf("session: create player: %w", err)
		}
		s.setTokenCookie(c, tok)
	}
	if req.Name != "" && req.Name != p.Name {
		if err := s.rename(ctx, p, req.Name); err != nil {
			return err
		}
	}

	sess := s.newTab(p.ID, p.Name, hashToken(tok), addr)
	addr = netip.Addr{} // the tab holds the place now; onExpire releases it
	if s.cluster != nil {
		if err := s.cluster.Claim(ctx, sess.ID(), p.ID); err != nil {
			s.hub.Remove(ctx, sess.Session)
			return fmt.Errorf("session: %w", err)
		}
	}
	s.onSessionStart(ctx, sess)
	return c.JSON(http.StatusCreated, sessionResponse{
		V: ProtocolVersion, SID: sess.ID(), Player: sessionPlayer{ID: p.ID, Name: p.Name, Claimed: p.Claimed}, Token: tok,
		HeartbeatMS: s.hub.Config().Heartbeat.Milliseconds(), Transports: push.TransportNames,
		Limits: s.sessionLimits(),
	})
}

// handleClose ends a session at its client's request: POST
// /comet/{sid}/close, sent by a page that goes away (navigator.sendBeacon on
// pagehide), with the player token as a cookie or bearer. The tab leaves its
// room and the online list at once instead of after a grace period.
func (s *Server) handleClose(c echo.Context) error {
	sess, err := s.authSession(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), eventTimeout)
	defer cancel()
	s.hub.Remove(ctx, sess.Session)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) setTokenCookie(c echo.Context, tok string) {
	c.SetCookie(&http.Cookie{
		Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.cfg.SecureCookies,
		MaxAge: 400 * 24 * 3600, // the longest browsers keep a cookie
	})
}

// sessionTimeout bounds opening a session (store look-ups, a guest's name).
const sessionTimeout = 10 * time.Second

// namesTimeout bounds a store call made while lobby.names is held, so a
// slow database cannot hold every rename and new guest behind it for long
// (locksordering.txt).
const namesTimeout = 3 * time.Second

// guestName picks a "Guest-NNNN" name that no player online uses and nobody
// claimed; after a few collisions it widens to six digits.
func (s *Server) guestName(ctx context.Context) string {
	s.lobby.names.Lock()
	defer s.lobby.names.Unlock()
	ctx, cancel := context.WithTimeout(ctx, namesTimeout)
	defer cancel()
	for i := 0; ; i++ {
		name := fmt.Sprintf("Guest-%04d", rand.IntN(10000))
		if i >= 8 {
			name = fmt.Sprintf("Guest-%06d", rand.IntN(1000000))
		}
		if s.onlineByName(name) != "" {
			continue
		}
		if _, _, err := s.store.ClaimByName(ctx, name); comet.ErrorCode(err) == comet.ENOTFOUND || i >= 16 {
			return name
		}
	}
}
