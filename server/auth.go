package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"comet"
)

// cookieName holds a browser's player token (HttpOnly, so page scripts never see it).
const cookieName = "comet_token"

// bearerToken returns the credentials of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive (RFC 7235 section 2.1): bearer, BEARER.
func bearerToken(r *http.Request) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(cred), true
}

// tokenOf returns the player token a request presents: the Bearer header
// (non-browser clients) or the cookie (browsers).
func tokenOf(r *http.Request) string {
	if tok, ok := bearerToken(r); ok {
		return tok
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	return ""
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// authSession finds the session named in the path and checks that the request
// presents its player's token: 404 unknown sid, 401 no or unknown token, 403
// another player's token. On success the request's context carries its client
// address (clientAddrOf) for the limits its events meet.
func (s *Server) authSession(c echo.Context) (*tab, error) {
	ps, ok := s.hub.Session(c.Param("sid"))
	if !ok {
		return nil, comet.Errorf(comet.ENOTFOUND, "session not found")
	}
	sess := tabOf(ps)
	tok := tokenOf(c.Request())
	if tok == "" {
		return nil, comet.Errorf(comet.EUNAUTHORIZED, "missing player token")
	}
	h := hashToken(tok)
	if subtle.ConstantTimeCompare(h, sess.tokenHash[:]) == 1 {
		// Events the request carries are limited by its address too.
		r := c.Request()
		c.SetRequest(r.WithContext(withClientAddr(r.Context(), s.limits.clientAddr(r))))
		return sess, nil
	}
	// Only on a mismatch: tell a stranger's token (403) from garbage (401).
	if _, err := s.store.PlayerByToken(c.Request().Context(), h); err == nil {
		return nil, comet.Errorf(comet.EFORBIDDEN, "session belongs to another player")
	} else if comet.ErrorCode(err) != comet.ENOTFOUND {
		return nil, err
	}
	return nil, comet.Errorf(comet.EUNAUTHORIZED, "invalid player token")
}

// sameOrigin refuses cross-site state-changing requests. Browsers send Origin
// (and Sec-Fetch-Site) on POSTs; a request with neither is not from a browser
// page, so no ambient cookie can have been abused and it is allowed.
func (s *Server) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := checkSameOrigin(c.Request()); err != nil {
			return err
		}
		return next(c)
	}
}

// checkSameOrigin refuses a request a browser sent from another site (403).
func checkSameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return comet.Errorf(comet.EFORBIDDEN, "cross-site request refused")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || o == "null" || !strings.EqualFold(u.Host, r.Host) {
			return comet.Errorf(comet.EFORBIDDEN, "cross-origin request refused")
		}
	}
	return nil
}
