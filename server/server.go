// Package server adapts HTTP and the Comet transports to the domain: sessions,
// the downstream transports, the upstream event endpoint, and the handlers
// that turn client events into lobby, chat, player and room actions.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"comet"
	"comet/gameloop"
	"comet/server/push"
)

// Config is everything a Server needs, passed once.
type Config struct {
	Store    comet.Store // required
	Bus      comet.Bus   // required: cmd/comet wires the in-process bus
	Frontend Frontend    // the page's bundle; nil serves no page (API-only tests)
	Logger   *slog.Logger
	Metrics  *Metrics // nil: a fresh registry
	Version  string
	// Hub tunes the push core; Bus, Logger, Metrics and the callbacks are
	// filled in by New.
	Hub push.Config
	// BodyLimit caps request bodies other than /send (default 64 KiB).
	BodyLimit int64
	// SecureCookies marks cookies Secure (set when served over TLS or behind
	// a trusted TLS proxy).
	SecureCookies bool
	// Limits are the per-address abuse limits (sessions per minute,
	// concurrent streams).
	Limits Limits
	// Abuse bounds password checks, hashing, join-code and admin-token
	// guesses and chat per address (limits_abuse.go).
	Abuse AbuseLimits
	// PrivateMetrics keeps /metrics off Handler: cmd/comet serves
	// Metrics.Handler on a private address (--metrics-addr) instead.
	PrivateMetrics bool
	// AdminToken guards /api/admin/*; empty disables the admin endpoints.
	// New refuses one shorter than MinAdminToken bytes.
	AdminToken string
	// Handover makes Shutdown a graceful restart: it drains and saves every
	// session with its state in the store, for the next process's Restore
	// (handover.go). cmd/comet enables it (--handover).
	Handover bool
	// Game tunes the game rooms; Modes is required (cmd/comet passes every
	// compiled-in mode), and Bus, Store, Logger, Registerer and OnRoomChange
	// are filled in by New.
	Game gameloop.ManagerConfig
	// Cluster makes this server one node of a cluster (cluster.go); nil,
	// the default, runs one node.
	Cluster Cluster
	// WSMove moves the session of a WebSocket that lands on a node other
	// than its home, outside a room, to the node it landed on (cluster_ws.go)
	// instead of relaying it from the home as the HTTP streams are: fewer
	// NATS bytes, a few milliseconds once per socket.
	WSMove bool
}

// Server is the Comet HTTP application.
type Server struct {
	cfg      Config
	log      *slog.Logger
	e        *echo.Echo
	hub      *push.Hub
	bus      comet.Bus
	store    comet.Store
	metrics  *Metrics
	started  time.Time
	handlers map[string]eventHandler
	http     *http.Server

	lobby      *lobby
	limits     *limiter
	guards     *guards
	games      *gameloop.Manager
	chatLimits sync.Map     // player id -> *rate.Limiter
	chatSwept  atomic.Int64 // unix nanoseconds of chatLimiter's last sweep
	history    historyCache
	watches    historyWatches
	results    *matchRecords // each room's last match result (for a reset) and match start records
	cancel     context.CancelFunc
	done       sync.WaitGroup
	drain      drainGate     // closed by a hand-over (handover.go)
	cluster    Cluster       // nil on one node
	homes      homeCache     // the homes of sessions whose POSTs this node forwarded (cluster)
	rooms      *clusterRooms // the cluster's lobby directories and rooms (cluster_rooms.go); nil on one node
}

// New builds the application and starts its hub. Close (or Shutdown) stops it.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: a Store is required")
	}
	if cfg.Bus == nil {
		return nil, errors.New("server: a Bus is required")
	}
	if len(cfg.Game.Modes) == 0 {
		return nil, errors.New("server: at least one game mode is required")
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < MinAdminToken {
		return nil, fmt.Errorf("server: the admin token is %d bytes; it must be at least %d (e.g. openssl rand -hex 16)", len(cfg.AdminToken), MinAdminToken)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 64 << 10
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, bus: cfg.Bus, store: cfg.Store,
		metrics: cfg.Metrics, started: time.Now(), cluster: cfg.Cluster,
	}
	hc := cfg.Hub
	hc.Bus, hc.Logger, hc.Metrics = cfg.Bus, cfg.Logger, cfg.Metrics.Push
	hc.OnFresh = s.onFresh
	hc.OnExpire = s.onExpire
	hc.Filter = deliver
	hc.OnMessage = s.onMessage
	s.hub = push.NewHub(hc)
	s.lobby = newLobby(localBus(cfg.Bus), s.allTabs, s.tabsOf) // each node publishes its own (cluster-wide) lists
	s.limits = newLimiter(cfg.Limits, cfg.Metrics)
	s.guards = newGuards(cfg.Abuse, cfg.Metrics)

	gc := cfg.Game
	s.results = newMatchRecords(cfg.Store, cfg.Logger)
	gc.Bus, gc.Store, gc.Logger, gc.Registerer = cfg.Bus, s.results, cfg.Logger, cfg.Metrics.Registry
	gc.RecordTo = s.results.recordTo(gc.RecordTo)
	gc.OnRoomChange = func(info gameloop.RoomInfo, closed bool) {
		s.results.roomChanged(info, closed)
		s.lobby.roomChanged(info, closed)
	}
	gc.OnLeave = s.onRoomLeft
	s.games = gameloop.NewManager(gc)

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done.Add(1)
	go func() { defer s.done.Done(); s.lobby.run(ctx) }()
	s.startClusterRooms(ctx)
	s.startClusterLimits()
	s.startClusterChat()

	s.handlers = s.eventHandlers()
	s.e = s.routes()
	s.http = s.httpServer()
	return s, nil
}

// Games returns the game-room manager (for tools and tests).
func (s *Server) Games() *gameloop.Manager { return s.games }

// Hub returns the push core's session hub (for tests and tools).
func (s *Server) Hub() *push.Hub { return s.hub }

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.e }

// Serve accepts connections on ln until Shutdown. Streams manage their own
// write deadlines, so the server has no WriteTimeout that would cut them.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// httpServer is the net/http server Serve runs, made by New so that a
// Shutdown racing a Serve just started finds it.
func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      45 * time.Second, // long-polls are held at most 30 s
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Shutdown tells every client to reconnect, stops accepting, records
// unfinished matches as aborted, lets in-flight requests and writes finish,
// then ends every session. It returns when done or when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.cfg.Handover {
		return s.handOver(ctx)
	}
	var errs []error
	if s.http != nil {
		s.http.SetKeepAlivesEnabled(false)
	}
	if err := s.games.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop games: %w", err))
	}
	s.dropMirrors(ctx) // a mirror's seqs are its home's: end it, number nothing in it
	s.restartClients(ctx)
	s.hub.Flush(ctx)
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	s.close(ctx)
	return errors.Join(errs...)
}

// closeTimeout bounds Close: a stuck room or store cannot hold it longer.
const closeTimeout = 5 * time.Second

// Close ends every session and stops the server's goroutines without notice.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	s.close(ctx)
}

func (s *Server) close(ctx context.Context) {
	s.cancel()
	s.done.Wait()
	_ = s.games.Shutdown(ctx)
	s.hub.Close(ctx)
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(s.log)
	e.Use(s.metrics.middleware)
	e.Use(recovered())
	// Every request at debug level; a failed one is logged once, by the
	// error handler (or by a handler that answers a 5xx itself, as /healthz).
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogError: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			s.log.Debug("request",
				"method", v.Method, "path", v.URIPath, "status", v.Status, "latency", v.Latency)
			return nil
		},
	}))
	e.Use(clientBodies)
	e.Use(s.drainMiddleware)
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:      "0",
		ContentTypeNosniff: "nosniff",
		XFrameOptions:      "SAMEORIGIN",
		ReferrerPolicy:     "same-origin",
		ContentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
			"media-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
	}))

	e.GET("/healthz", s.handleHealth)
	if !s.cfg.PrivateMetrics {
		e.GET("/metrics", echo.WrapHandler(s.metrics.Handler()))
	}
	s.staticRoutes(e)

	limit := middleware.BodyLimit(fmt.Sprintf("%dB", s.cfg.BodyLimit))
	e.POST("/comet/session", s.handleSession, limit, s.sameOrigin)
	e.POST("/comet/login", s.handleLogin, limit, s.sameOrigin)
	e.POST("/comet/:sid/send", s.handleSend, s.routeSession, s.sameOrigin)
	e.POST("/comet/:sid/close", s.handleClose, s.routeSession, s.sameOrigin)
	e.GET("/comet/mux/:transport", s.handleMux)
	e.GET("/comet/:sid/:transport", s.handleStream, s.routeSession)
	e.GET("/api/modes", s.handleModes)
	e.GET("/api/rooms", s.handleRooms)
	e.GET("/api/leaderboard", s.handleLeaderboard)
	e.GET("/api/players/:id/matches", s.handlePlayerMatches)
	e.POST("/api/admin/:action", s.handleAdmin, limit, s.adminOnly)
	return e
}
