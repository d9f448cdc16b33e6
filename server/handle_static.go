package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/assets"
	"comet/frontend"
)

// Frontend supplies the page's bundle: a bundle built once at start-up, or
// frontend.Dev rebuilding from disk in --dev mode.
type Frontend interface {
	Bundle(ctx context.Context) (*frontend.Bundle, error)
}

// Static is a Frontend whose bundle never changes.
type Static struct{ B *frontend.Bundle }

// Bundle returns the fixed bundle.
func (s Static) Bundle(context.Context) (*frontend.Bundle, error) { return s.B, nil }

func (s *Server) staticRoutes(e *echo.Echo) {
	if s.cfg.Frontend == nil {
		return
	}
	e.GET("/", s.handlePage)
	e.GET("/join/:code", handleJoinLink)
	e.GET("/static/:name", s.handleBundleFile)
	e.GET("/assets/*", echo.WrapHandler(http.StripPrefix("/assets/", assetServer{fs: assets.Files()})))
}

// handleJoinLink turns an invite link /join/CODE into the page with
// ?join=CODE, which seats the visitor in that private room. A code is six
// letters or digits; anything else is 404 (the link is not an open redirect).
func handleJoinLink(c echo.Context) error {
	code := c.Param("code")
	if len(code) != 6 || strings.IndexFunc(code, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) >= 0 {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, "/?join="+strings.ToUpper(code))
}

// handlePage renders the HTML shell. It is never cached, so a new release's
// hashed bundle names reach every browser at once.
func (s *Server) handlePage(c echo.Context) error {
	b, err := s.cfg.Frontend.Bundle(c.Request().Context())
	if b == nil {
		return comet.Errorf(comet.EINTERNAL, "frontend bundle unavailable: %v", err)
	}
	if err != nil {
		s.log.Warn("frontend rebuild failed; serving the last good bundle", "err", err)
	}
	var buf bytes.Buffer
	if err := assets.Page(&buf, assets.PageData{Script: b.Script, Style: b.Style, Version: s.cfg.Version}); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// handleBundleFile serves a content-hashed bundle file with a year-long,
// immutable cache lifetime.
func (s *Server) handleBundleFile(c echo.Context) error {
	b, _ := s.cfg.Frontend.Bundle(c.Request().Context())
	if b == nil {
		return echo.ErrNotFound
	}
	name := c.Param("name")
	data, ok := b.Files[name]
	if !ok {
		return echo.ErrNotFound
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, ct, data)
}

// assetServer serves embedded static files with an hour's cache; their names
// are not hashed, so they must not be cached for long.
type assetServer struct{ fs fs.FS }

func (a assetServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" || strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".go") {
		writeJSONError(w, http.StatusNotFound, "not found")
		return
	}
	data, err := fs.ReadFile(a.fs, name)
	if err != nil {
		writeJSONError(w, http.StatusNotFound, "not found")
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = http.DetectContentType(data)
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(data)
}

// writeJSONError writes the one JSON error shape from a plain http.Handler.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: msg, Code: codeOf(status)})
}
