package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"comet"
)

// handleModes lists the game modes this server runs.
func (s *Server) handleModes(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string][]string{"modes": s.games.Modes()})
}

// handleRooms lists the rooms (as the lobby shows them).
func (s *Server) handleRooms(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"rooms": s.games.Rooms()})
}

func limitParam(c echo.Context, def, max int) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, comet.Errorf(comet.EINVALID, "limit must be 1 to %d", max)
	}
	return n, nil
}

// handleLeaderboard answers GET /api/leaderboard?mode=arena[&limit=N].
func (s *Server) handleLeaderboard(c echo.Context) error {
	mode := c.QueryParam("mode")
	known := false
	for _, m := range s.games.Modes() {
		known = known || m == mode
	}
	if !known {
		return comet.Errorf(comet.EINVALID, "mode must be one of %s", strings.Join(s.games.Modes(), ", "))
	}
	limit, err := limitParam(c, 20, 100)
	if err != nil {
		return err
	}
	rows, err := s.store.Leaderboard(c.Request().Context(), mode, limit)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []comet.LeaderRow{}
	}
	return c.JSON(http.StatusOK, map[string]any{"mode": mode, "rows": rows})
}

// handlePlayerMatches answers GET /api/players/{id}/matches[?limit=N].
func (s *Server) handlePlayerMatches(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := s.store.PlayerByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	limit, err := limitParam(c, 20, 100)
	if err != nil {
		return err
	}
	ms, err := s.store.PlayerMatches(ctx, p.ID, limit)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []comet.PlayerMatch{}
	}
	return c.JSON(http.StatusOK, map[string]any{"player": playerView{ID: p.ID, Name: p.Name}, "matches": ms})
}

// adminOnly admits requests bearing the configured admin token (compared in
// constant time); without a configured token the admin API does not exist.
func (s *Server) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.AdminToken == "" {
			return echo.ErrNotFound
		}
		h := c.Request().Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
			return comet.Errorf(comet.EUNAUTHORIZED, "admin token required")
		}
		return next(c)
	}
}

type adminRequest struct {
	Name string `json:"name"`
}

// handleAdmin runs mute|unmute|kick|ban|unban on a player named in the body
// ({"name"}: a claimed name or an online player's name, or a player id).
func (s *Server) handleAdmin(c echo.Context) error {
	var req adminRequest
	if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil || strings.TrimSpace(req.Name) == "" {
		return comet.Errorf(comet.EINVALID, `body must be {"name": "<player name or id>"}`)
	}
	ctx := c.Request().Context()
	action := c.Param("action")
	switch action {
	case "mute", "unmute", "kick", "ban", "unban":
	default:
		return comet.Errorf(comet.EINVALID, "action must be mute, unmute, kick, ban or unban")
	}
	id, err := s.findPlayer(c, strings.TrimSpace(req.Name))
	if err != nil {
		return err
	}
	switch action {
	case "mute", "unmute":
		err = s.store.SetSilenced(ctx, id, action == "mute")
	case "kick":
		s.kick(c.Request().Context(), id, "you were removed by a moderator")
	case "ban", "unban":
		if err = s.store.SetBanned(ctx, id, action == "ban"); err == nil && action == "ban" {
			s.kick(c.Request().Context(), id, "you were banned by a moderator")
		}
	}
	if err != nil {
		return err
	}
	s.log.Info("admin action", "action", action, "player", id)
	return c.JSON(http.StatusOK, map[string]string{"action": action, "player": id})
}

func (s *Server) findPlayer(c echo.Context, name string) (string, error) {
	if id := s.onlineByName(name); id != "" {
		return id, nil
	}
	if p, _, err := s.store.ClaimByName(c.Request().Context(), name); err == nil {
		return p.ID, nil
	}
	p, err := s.store.PlayerByID(c.Request().Context(), name)
	if err != nil {
		return "", comet.Errorf(comet.ENOTFOUND, "no player %q", name)
	}
	return p.ID, nil
}

// kick ends every session of a player after telling it why.
func (s *Server) kick(ctx context.Context, playerID, why string) {
	for _, o := range s.tabsOf(playerID) {
		o.SendError(0, comet.Errorf(comet.EFORBIDDEN, "%s", why))
		s.hub.Remove(ctx, o.Session)
	}
}
