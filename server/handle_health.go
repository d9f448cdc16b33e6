package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

type health struct {
	Status   string  `json:"status"`
	Version  string  `json:"version"`
	UptimeS  float64 `json:"uptime_s"`
	Database string  `json:"database"`
	Sessions int     `json:"sessions"`
}

// handleHealth answers 200 while the database is reachable, 503 otherwise.
func (s *Server) handleHealth(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	h := health{Status: "ok", Version: s.cfg.Version, UptimeS: time.Since(s.started).Seconds(), Database: "ok"}
	h.Sessions = len(s.allTabs())
	status := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		s.log.Error("health: database unreachable", "err", err)
		h.Status, h.Database, status = "degraded", "unreachable", http.StatusServiceUnavailable
	}
	if s.fenced() { // a cluster node that lost NATS or its lease: send nothing here
		h.Status, status = "fenced", http.StatusServiceUnavailable
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, h)
}
