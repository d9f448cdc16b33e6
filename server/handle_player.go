package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"comet"
	"comet/server/push"
)

// Name rules (docs/PROTOCOL.md): 1–24 characters of letters, digits, space,
// '_' and '-', no leading or trailing space.
const maxNameLen = 24

// validName returns the trimmed name or an EINVALID error saying why not.
func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 || n > maxNameLen {
		return "", comet.Errorf(comet.EINVALID, "a name is 1 to %d characters", maxNameLen)
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '_' || r == '-') {
			return "", comet.Errorf(comet.EINVALID, "a name may hold letters, digits, spaces, _ and - only")
		}
	}
	return name, nil
}

// rename gives p a new display name if it is valid, not used by another
// player online and not claimed by another player.
func (s *Server) rename(ctx context.Context, p *comet.Player, name string) error {
	name, err := validName(name)
	if err != nil {
		return err
	}
	s.lobby.names.Lock()
	defer s.lobby.names.Unlock()
	for _, o := range s.allTabs() {
		if o.playerID != p.ID && strings.EqualFold(o.PlayerName(), name) {
			return comet.Errorf(comet.ECONFLICT, "%q is in use by another player online", name)
		}
	}
	if err := s.store.RenamePlayer(ctx, p.ID, name); err != nil {
		return err
	}
	p.Name = name
	for _, o := range s.tabsOf(p.ID) {
		o.setName(name)
	}
	return nil
}

type renameRequest struct {
	Name string `json:"name"`
}

// onRename handles player.rename {"name"}; the player's sessions get player.renamed.
func (s *Server) onRename(ctx context.Context, sess *tab, data json.RawMessage) error {
	var req renameRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	p := &comet.Player{ID: sess.playerID, Name: sess.PlayerName()}
	if err := s.rename(ctx, p, req.Name); err != nil {
		return err
	}
	s.games.Rename(p.ID, p.Name)
	msg := comet.MustMessage("player.renamed", playerView{ID: p.ID, Name: p.Name})
	for _, o := range s.tabsOf(p.ID) {
		o.Send(msg)
	}
	s.presenceChanged()
	return nil
}

type claimRequest struct {
	Password string `json:"password"`
}

// minPassword is the shortest password a claim accepts.
const minPassword = 8

// onClaim handles player.claim {"password"}: the player's current name becomes
// its own, guarded by the password (bcrypt), so nobody else can take it.
func (s *Server) onClaim(ctx context.Context, sess *tab, data json.RawMessage) error {
	var req claimRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	if n := len(req.Password); n < minPassword || n > 72 { // bcrypt reads at most 72 bytes
		return comet.Errorf(comet.EINVALID, "a password is %d to 72 bytes", minPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(req.Password), bcrypt.DefaultCost)
	if err != nil {
		return comet.Errorf(comet.EINTERNAL, "hash password: %v", err)
	}
	name := sess.PlayerName()
	if err := s.store.ClaimName(ctx, sess.playerID, name, hash); err != nil {
		return err
	}
	msg := comet.MustMessage("player.claimed", map[string]string{"name": name})
	for _, o := range s.tabsOf(sess.playerID) {
		o.Send(msg)
	}
	return nil
}

type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// handleLogin restores a claimed player in this browser: POST /comet/login
// {"name","password"} answers the player and sets its token cookie.
func (s *Server) handleLogin(c echo.Context) error {
	var req loginRequest
	if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
		return comet.Errorf(comet.EINVALID, "body must be {\"name\", \"password\"}")
	}
	ctx := c.Request().Context()
	p, hash, err := s.store.ClaimByName(ctx, strings.TrimSpace(req.Name))
	if comet.ErrorCode(err) == comet.ENOTFOUND {
		return comet.Errorf(comet.EUNAUTHORIZED, "wrong name or password")
	} else if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil {
		return comet.Errorf(comet.EUNAUTHORIZED, "wrong name or password")
	}
	if banned, err := s.store.Banned(ctx, p.ID); err != nil {
		return err
	} else if banned {
		return comet.Errorf(comet.EFORBIDDEN, "this player is banned")
	}
	tok := push.RandomID(16)
	if err := s.store.AddPlayerToken(ctx, p.ID, hashToken(tok)); err != nil {
		return err
	}
	s.setTokenCookie(c, tok)
	return c.JSON(http.StatusOK, map[string]any{"player": playerView{ID: p.ID, Name: p.Name}, "token": tok})
}
