package server

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/gameloop"
)

// handleModes lists the game modes this server runs with what a client
// needs to offer them: title, player limits, tick rate, timings, inputs.
func (s *Server) handleModes(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"modes": s.games.ModeInfos()})
}

// handleRooms lists the public rooms (private ones are listed to their
// creators alone, on their lobby stream).
func (s *Server) handleRooms(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	rooms := []gameloop.RoomInfo{}
	local := map[string]bool{}
	for _, r := range s.games.Rooms() {
		local[r.ID] = true
		if !r.Private {
			rooms = append(rooms, r)
		}
	}
	if s.cluster != nil {
		// The other nodes' rooms, as this node's lobby lists them: any node
		// answers the cluster's list, as lobby.rooms does.
		rooms = append(rooms, s.lobby.publicRoomsExcept(local)...)
		slices.SortFunc(rooms, func(a, b gameloop.RoomInfo) int {
			return cmp.Or(strings.Compare(a.Mode, b.Mode), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
		})
	}
	return c.JSON(http.StatusOK, map[string]any{"rooms": rooms})
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

// leaderWeek is how far back period=week reaches: the last 7 days.
const leaderWeek = 7 * 24 * time.Hour

// handleLeaderboard answers GET /api/leaderboard?mode=arena[&period=week|all][&limit=N]:
// the mode's claimed players over all time (the default) or the last 7 days.
func (s *Server) handleLeaderboard(c echo.Context) error {
	mode := c.QueryParam("mode")
	known := false
	for _, m := range s.games.Modes() {
		known = known || m == mode
	}
	if !known {
		return comet.Errorf(comet.EINVALID, "mode must be one of %s", strings.Join(s.games.Modes(), ", "))
	}
	q := comet.LeaderQuery{Mode: mode}
	period := c.QueryParam("period")
	switch period {
	case "", "all":
		period = "all"
	case "week":
		q.Since = time.Now().Add(-leaderWeek)
	default:
		return comet.Errorf(comet.EINVALID, "period must be week or all")
	}
	limit, err := limitParam(c, 20, 100)
	if err != nil {
		return err
	}
	q.Limit = limit
	rows, err := s.store.Leaderboard(c.Request().Context(), q)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []comet.LeaderRow{}
	}
	return c.JSON(http.StatusOK, map[string]any{"mode": mode, "period": period, "rows": rows})
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
// Wrong tokens are limited per client address (429 once its allowance of
// failures is spent, even for the right token, until it refills).
func (s *Server) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.AdminToken == "" {
			return echo.ErrNotFound
		}
		g, addr := s.guards, addrKey(s.limits.clientAddr(c.Request()))
		if ok, retry := g.adminFailPerIP.check(addr); !ok {
			return g.refuse(g.adminFailPerIP, retry, "too many wrong admin tokens from your address; try again in %s", retryText(retry))
		}
		tok, ok := bearerToken(c.Request())
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
			g.adminFailPerIP.take(addr)
			return comet.Errorf(comet.EUNAUTHORIZED, "admin token required")
		}
		return next(c)
	}
}

type adminRequest struct {
	Player string `json:"player"`
}

// adminBodyRule is the admin API's body, said in every refusal of a bad one.
const adminBodyRule = `body must be {"player": "id:<player id>"} or {"player": "name:<player name>"}`

// handleAdmin runs mute|unmute|kick|ban|unban on the player the body names
// explicitly: {"player": "id:<id>"} or {"player": "name:<name>"}.
func (s *Server) handleAdmin(c echo.Context) error {
	var req adminRequest
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return comet.Errorf(comet.EINVALID, "%s", adminBodyRule)
	}
	ctx := c.Request().Context()
	action := c.Param("action")
	switch action {
	case "mute", "unmute", "kick", "ban", "unban":
	default:
		return comet.Errorf(comet.EINVALID, "action must be mute, unmute, kick, ban or unban")
	}
	id, err := s.findPlayer(ctx, req.Player)
	if err != nil {
		return err
	}
	switch action {
	case "mute", "unmute":
		err = s.store.SetSilenced(ctx, id, action == "mute")
	case "kick":
		s.kick(ctx, id, "you were removed by a moderator")
	case "ban", "unban":
		if err = s.store.SetBanned(ctx, id, action == "ban"); err == nil && action == "ban" {
			s.kick(ctx, id, "you were banned by a moderator")
		}
	}
	if err != nil {
		return err
	}
	s.log.Info("admin action", "action", action, "player", id)
	return c.JSON(http.StatusOK, map[string]string{"action": action, "player": id})
}

// findPlayer resolves an admin API's "id:<id>" or "name:<name>". A name is
// matched by look (comet.NameKey) against the players online and the claimed
// names; when that finds more than one player it is refused (400), never
// guessed, so a name that mimics another player's cannot aim moderation at
// the wrong one.
func (s *Server) findPlayer(ctx context.Context, ref string) (string, error) {
	kind, v, ok := strings.Cut(strings.TrimSpace(ref), ":")
	v = strings.TrimSpace(v)
	switch {
	case !ok || v == "" || kind != "id" && kind != "name":
		return "", comet.Errorf(comet.EINVALID, "%s", adminBodyRule)
	case kind == "id":
		p, err := s.store.PlayerByID(ctx, v)
		if comet.ErrorCode(err) == comet.ENOTFOUND {
			return "", comet.Errorf(comet.ENOTFOUND, "no player with id %q", v)
		}
		if err != nil {
			return "", fmt.Errorf("admin: find player %q: %w", v, err)
		}
		return p.ID, nil
	}
	ids := s.onlineByKey(v)
	p, _, err := s.store.ClaimByName(ctx, v)
	switch {
	case err == nil:
		if !slices.Contains(ids, p.ID) {
			ids = append(ids, p.ID)
		}
	case comet.ErrorCode(err) != comet.ENOTFOUND:
		return "", fmt.Errorf("admin: find claimed name %q: %w", v, err)
	}
	switch len(ids) {
	case 0:
		return "", comet.Errorf(comet.ENOTFOUND, "no player named %q online or claimed", v)
	case 1:
		return ids[0], nil
	}
	slices.Sort(ids)
	return "", comet.Errorf(comet.EINVALID, "name %q is ambiguous: players %s look like it; use id:<player id>", v, strings.Join(ids, ", "))
}

// kick ends every session of a player after telling it why.
func (s *Server) kick(ctx context.Context, playerID, why string) {
	for _, o := range s.tabsOf(playerID) {
		o.SendError(0, comet.Errorf(comet.EFORBIDDEN, "%s", why))
		s.hub.Remove(ctx, o.Session)
	}
}
