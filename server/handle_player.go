package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"comet"
	"comet/server/push"
)

// Name rules (docs/PROTOCOL.md "Names"): comet.ValidName.
const maxNameLen = comet.MaxNameLen

// validName returns the normalised name or an EINVALID error saying why not.
func validName(name string) (string, error) { return comet.ValidName(name) }

// nameKeys caches comet.NameKey of display names seen online: checking a
// new name against every tab costs a map look-up per tab, not a skeleton.
type nameKeys struct {
	mu sync.Mutex
	m  map[string]string
}

// maxCachedKeys bounds the cache; past it, the cache starts over. Names
// longer than maxCachedName bytes (no valid name is) are not kept.
const (
	maxCachedKeys = 1 << 16
	maxCachedName = 4 * comet.MaxNameLen
)

func (c *nameKeys) key(name string) string {
	c.mu.Lock()
	k, ok := c.m[name]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = comet.NameKey(name)
	if len(name) > maxCachedName {
		return k
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = make(map[string]string)
	}
	c.m[name] = k
	c.mu.Unlock()
	return k
}

// onlineByKey returns the distinct players online whose name looks like
// name (same comet.NameKey), in no particular order.
func (s *Server) onlineByKey(name string) []string {
	key := s.guards.keys.key(name)
	var ids []string
	for _, o := range s.allTabs() {
		if s.guards.keys.key(o.PlayerName()) == key && !slices.Contains(ids, o.playerID) {
			ids = append(ids, o.playerID)
		}
	}
	return ids
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
	ctx, cancel := context.WithTimeout(ctx, namesTimeout)
	defer cancel()
	for _, id := range s.onlineByKey(name) {
		if id != p.ID {
			return comet.Errorf(comet.ECONFLICT, "%q is in use by another player online (or one that looks like it)", name)
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

// freeTakenName gives a returning player whose stored display name another
// player has claimed since (or a name that looks like it) a fresh guest
// name, so nobody keeps speaking under a name that is someone else's; the
// session answer carries the new name, and the player's open tabs are told
// with player.renamed.
func (s *Server) freeTakenName(ctx context.Context, p *comet.Player) error {
	owner, _, err := s.store.ClaimByName(ctx, p.Name)
	switch {
	case comet.ErrorCode(err) == comet.ENOTFOUND:
		return nil
	case err != nil:
		return fmt.Errorf("check stored name: %w", err)
	case owner.ID == p.ID:
		return nil
	}
	name := s.guestName(ctx)
	if err := s.store.RenamePlayer(ctx, p.ID, name); err != nil {
		return fmt.Errorf("rename from a name claimed by another: %w", err)
	}
	s.log.Info("player renamed: its stored name is claimed by another player", "player", p.ID, "claimed_by", owner.ID)
	p.Name = name
	tabs := s.tabsOf(p.ID)
	if len(tabs) == 0 {
		return nil
	}
	msg := comet.MustMessage("player.renamed", playerView{ID: p.ID, Name: name})
	for _, o := range tabs {
		o.setName(name)
		o.Send(msg)
	}
	s.games.Rename(p.ID, name)
	s.presenceChanged()
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
	// A name stored before today's rules (an invisible character, an id's
	// shape) may be kept, but not claimed.
	if n, err := validName(sess.PlayerName()); err != nil {
		return comet.Errorf(comet.EINVALID, "your name cannot be claimed (%s); rename first", comet.ErrorMessage(err))
	} else if n != sess.PlayerName() {
		return comet.Errorf(comet.EINVALID, "your name cannot be claimed as it is written; rename to %q first", n)
	}
	g := s.guards
	if ok, retry := g.passwordPerIP.take(eventAddr(ctx, sess)); !ok {
		return g.refuse(g.passwordPerIP, retry, "too many password attempts from your address; try again in %s", retryText(retry))
	}
	var hash []byte
	var err error
	if herr := g.hash(ctx, func() { hash, err = bcrypt.GenerateFromPassword([]byte(req.Password), bcrypt.DefaultCost) }); herr != nil {
		return fmt.Errorf("claim: %w", herr)
	}
	if err != nil {
		return fmt.Errorf("claim: hash password: %w", err)
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
// {"name","password"} answers the player and sets its token cookie. Attempts
// are limited per address and per name, and a name nobody claimed costs the
// same bcrypt comparison as a wrong password, so timing does not tell them
// apart.
func (s *Server) handleLogin(c echo.Context) error {
	var req loginRequest
	if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
		return comet.Errorf(comet.EINVALID, "body must be {\"name\", \"password\"}")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), loginTimeout)
	defer cancel()
	g := s.guards
	if ok, retry := g.passwordPerIP.take(addrKey(s.limits.clientAddr(c.Request()))); !ok {
		return g.refuse(g.passwordPerIP, retry, "too many login attempts from your address; try again in %s", retryText(retry))
	}
	name := strings.TrimSpace(req.Name)
	if len(name) > maxCachedName { // longer than any name: nobody's
		return comet.Errorf(comet.EUNAUTHORIZED, "wrong name or password")
	}
	if ok, retry := g.loginPerName.take(g.keys.key(name)); !ok {
		return g.refuse(g.loginPerName, retry, "too many login attempts for this name; try again in %s", retryText(retry))
	}
	p, hash, err := s.store.ClaimByName(ctx, name)
	known := err == nil
	switch {
	case comet.ErrorCode(err) == comet.ENOTFOUND:
		hash = g.dummyHash()
	case err != nil:
		return fmt.Errorf("login: %w", err)
	}
	var wrong error
	if err := g.hash(ctx, func() { wrong = g.compare(hash, []byte(req.Password)) }); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if !known || wrong != nil {
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

// loginTimeout bounds a login, its wait for a hashing slot included: the
// same budget as a claim's (eventTimeout), since both wait for bcrypt.
const loginTimeout = eventTimeout

// retryText says a Retry-After delay the way a person reads it.
func retryText(d time.Duration) string {
	return (d.Truncate(time.Second) + time.Second).String()
}
