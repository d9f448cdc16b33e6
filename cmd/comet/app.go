package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"comet"
	"comet/frontend"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/server"
	"comet/server/bus"
	"comet/server/postgres"
	"comet/server/push"
	"comet/server/retention"
	"comet/server/sqlite"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// Main is the program: flags, then Open (database, bundle, listener), Serve
// and Close. Tests run the real server through it on port 0.
type Main struct {
	Addr       string
	DBPath     string
	Dev        bool
	AdminToken string
	LogLevel   string
	Secure     bool
	DebugAddr  string // where /debug/pprof/ listens; "" disables
	// MetricsAddr is where /metrics listens; "" serves it on Addr.
	MetricsAddr string
	GCPercent   int // the garbage collector's GOGC; the GOGC environment variable wins
	ShutdownIn  time.Duration
	Retain      comet.RetentionPolicy // what the retention policy deletes, and after how long
	Limits      server.Limits
	Abuse       server.AbuseLimits // password, hashing, join-code, admin-token and per-address chat limits
	Hub         push.Config
	Game        gameloop.ManagerConfig

	// Handover makes SIGTERM a graceful restart: sessions are saved in the
	// database for the next process, which restores them before serving.
	Handover bool

	// Cluster mode (cluster.go): NATSURL or NATSEmbedded turns it on.
	NATSURL      string // --nats: the NATS server(s) of the cluster
	Node         string // --node: this node's name (default: host name and port)
	NATSEmbedded bool   // --nats-embedded: run a NATS server inside this node
	NATSListen   string // --nats-listen: where the embedded NATS server takes other nodes' connections
	NATSStore    string // --nats-store: the embedded server's JetStream folder
	WSMove       bool   // --ws-move: move a WebSocket's session to the node it lands on rather than relay it
	cluster      *clusterParts

	Stdout, Stderr io.Writer
	Logger         *slog.Logger

	Store     comet.Store // the open store: DB, or a PostgreSQL store when --db is a postgres:// URL
	DB        *sqlite.DB  // set when the store is SQLite
	Server    *server.Server
	Listener  net.Listener
	debug     *privateServer // the profiler on --debug-addr
	metrics   *privateServer // /metrics on --metrics-addr
	retention *retention.Runner
}

// NewMain returns a Main with the defaults of `comet serve`.
func NewMain() *Main {
	return &Main{
		Addr: ":8080", DBPath: "data/comet.db", LogLevel: "info", ShutdownIn: 10 * time.Second, Handover: true,
		Stdout: os.Stdout, Stderr: os.Stderr,
	}
}

// envOr returns the environment variable key, or def when it is unset.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// ParseFlags reads the serve/migrate flags, with COMET_* environment fallbacks.
func (m *Main) ParseFlags(name string, args []string) error {
	fs := flag.NewFlagSet("comet "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&m.Addr, "addr", m.Addr, "listen address (env COMET_ADDR)")
	fs.StringVar(&m.DBPath, "db", m.DBPath, "SQLite database file, created with its folder, or a postgres:// URL for PostgreSQL (env COMET_DB)")
	fs.BoolVar(&m.Dev, "dev", false, "serve frontend sources from disk and rebundle on change (env COMET_DEV)")
	fs.StringVar(&m.AdminToken, "admin-token", m.AdminToken, "token for /api/admin and `comet admin` (env COMET_ADMIN_TOKEN; empty disables)")
	fs.Func("log-level", "debug, info, warn or error (env COMET_LOG_LEVEL; default "+m.LogLevel+")", func(v string) error {
		var level slog.Level
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return errors.New("want debug, info, warn or error")
		}
		m.LogLevel = v
		return nil
	})
	fs.BoolVar(&m.Handover, "handover", m.Handover, "on SIGTERM save every session in the database, and restore saved ones at start, so clients resume on the same session across a restart (env COMET_HANDOVER)")
	fs.BoolVar(&m.Secure, "secure-cookies", false, "mark cookies Secure: set when served over TLS or behind a TLS proxy (env COMET_SECURE_COOKIES)")
	fs.IntVar(&m.Limits.SessionsPerMinute, "sessions-per-minute", 100, "new sessions per client address per minute; -1 for no limit (env COMET_SESSIONS_PER_MINUTE)")
	fs.IntVar(&m.Limits.StreamsPerIP, "streams-per-ip", 50, "downstreams held at once per client address; -1 for no limit (env COMET_STREAMS_PER_IP)")
	fs.IntVar(&m.Limits.SessionsPerIP, "sessions-per-ip", 200, "live sessions (tabs) at once per client address, an IPv6 /64 counting as one; -1 for no limit (env COMET_SESSIONS_PER_IP)")
	fs.IntVar(&m.Limits.RoomsPerMinute, "rooms-per-minute", 6, "rooms created per client address per minute; -1 for no limit (env COMET_ROOMS_PER_MINUTE)")
	fs.IntVar(&m.Game.MaxRooms, "max-rooms", 1000, "open rooms on this server; past it room creation and quick play answer rate_limited (env COMET_MAX_ROOMS)")
	fs.IntVar(&m.Game.MaxRoomsPerCreator, "max-rooms-per-player", 3, "open rooms one player may have created (env COMET_MAX_ROOMS_PER_PLAYER)")
	fs.IntVar(&m.Abuse.ChatPerIPPerMinute, "chat-per-ip-per-minute", 120, "chat lines per client address per minute (burst 20), beside the per-player limit; -1 for no limit (env COMET_CHAT_PER_IP_PER_MINUTE)")
	fs.IntVar(&m.Abuse.PasswordsPerMinute, "passwords-per-minute", 10, "password checks (login, claim) per client address, and logins per name, per minute; -1 for no limit (env COMET_PASSWORDS_PER_MINUTE)")
	fs.IntVar(&m.Abuse.HashConcurrency, "hash-concurrency", 0, "bcrypt hashes running at once; 0 for GOMAXPROCS, -1 for no bound (env COMET_HASH_CONCURRENCY)")
	fs.IntVar(&m.Abuse.JoinCodeFailsPerMinute, "join-code-fails-per-minute", 10, "failed room.join/room.spectate look-ups per player and per client address per minute; -1 for no limit (env COMET_JOIN_CODE_FAILS_PER_MINUTE)")
	fs.IntVar(&m.Abuse.AdminFailsPerMinute, "admin-fails-per-minute", 5, "wrong admin tokens per client address per minute; -1 for no limit (env COMET_ADMIN_FAILS_PER_MINUTE)")
	fs.DurationVar(&m.Hub.Heartbeat, "heartbeat", 25*time.Second, "an empty batch on a stream after this much silence (env COMET_HEARTBEAT)")
	fs.DurationVar(&m.Hub.Grace, "session-grace", 30*time.Second, "a session with no stream expires after this (env COMET_SESSION_GRACE)")
	record := fs.String("record", "", "write every match's recording to DIR/<room>_<match>.jsonl, for comet replay (env COMET_RECORD; empty: no recordings)")
	fs.DurationVar(&m.Game.BotFillDelay, "bot-delay", 5*time.Second, "a room short of players is filled with bots after this (env COMET_BOT_DELAY)")
	var match gameloop.Settings
	fs.DurationVar(&match.Duration, "match-length", 0, "match time limit for every mode; 0 keeps each mode's own (env COMET_MATCH_LENGTH)")
	fs.DurationVar(&match.Countdown, "countdown", 0, "countdown before a match; 0 keeps each mode's own (env COMET_COUNTDOWN)")
	fs.DurationVar(&match.Intermission, "intermission", 0, "results shown before the next match; 0 keeps each mode's own (env COMET_INTERMISSION)")
	fs.IntVar(&m.GCPercent, "gc-percent", 50, "heap growth that triggers a GC, as GOGC; a server's heap is mostly long-lived stream state, so 50 keeps memory near 1.5× of it (env COMET_GC_PERCENT; the GOGC variable, when set, wins)")
	fs.StringVar(&m.DebugAddr, "debug-addr", m.DebugAddr, "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; keep it private (env COMET_DEBUG_ADDR; empty disables)")
	fs.DurationVar(&m.Retain.Guests, "retain-guests", 30*24*time.Hour, "delete guests (unclaimed players) unseen this long, with their tokens and mutes; at least 24h, 0 keeps them forever (env COMET_RETAIN_GUESTS)")
	fs.DurationVar(&m.Retain.Chat, "retain-chat", 90*24*time.Hour, "delete chat lines older than this; 0 keeps them forever (env COMET_RETAIN_CHAT)")
	fs.StringVar(&m.MetricsAddr, "metrics-addr", m.MetricsAddr, "serve /metrics only on this address, e.g. 127.0.0.1:9090, and not on --addr; keep it private (env COMET_METRICS_ADDR; empty serves /metrics on --addr)")
	fs.StringVar(&m.NATSURL, "nats", m.NATSURL, "NATS server URL(s), comma-separated: run as one node of a cluster (env COMET_NATS; empty: one node on its own)")
	fs.StringVar(&m.Node, "node", m.Node, "this node's name in the cluster, unique among live nodes: A-Z a-z 0-9 - _ (env COMET_NODE; default: host name and port)")
	fs.BoolVar(&m.NATSEmbedded, "nats-embedded", m.NATSEmbedded, "run a NATS server with JetStream inside this node, listening on --nats-listen, and join the cluster through it; other nodes give --nats nats://THIS-HOST:PORT (env COMET_NATS_EMBEDDED)")
	fs.StringVar(&m.NATSListen, "nats-listen", "0.0.0.0:4222", "where the embedded NATS server (--nats-embedded) listens for the other nodes (env COMET_NATS_LISTEN)")
	fs.BoolVar(&m.WSMove, "ws-move", m.WSMove, "in a cluster, move the session of a WebSocket that lands on another node than its home (outside a room) to that node rather than relay it from the home: fewer NATS bytes, a few milliseconds once per socket (env COMET_WS_MOVE)")
	fs.StringVar(&m.NATSStore, "nats-store", "", "the embedded NATS server's JetStream folder (env COMET_NATS_STORE; default: a temporary folder, removed at exit)")
	m.Limits.TrustedProxies = nil
	fs.Var((*prefixList)(&m.Limits.TrustedProxies), "trusted-proxy", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (env COMET_TRUSTED_PROXIES)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyEnv(fs); err != nil {
		return err
	}
	if *record != "" {
		if err := os.MkdirAll(*record, 0o755); err != nil {
			return fmt.Errorf("--record %s: %w", *record, err)
		}
		m.Game.RecordTo = gameloop.RecordToDir(*record)
	}
	if match != (gameloop.Settings{}) {
		m.Game.Settings = make(map[string]gameloop.Settings)
		for _, md := range modes.All() {
			m.Game.Settings[md.Name()] = match
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := m.Retain.Validate(); err != nil {
		return fmt.Errorf("--retain-guests (COMET_RETAIN_GUESTS): %w", err)
	}
	return nil
}

// envNames are the flags whose environment variable is not COMET_ and the
// flag's name in capitals with underscores.
var envNames = map[string]string{"trusted-proxy": "COMET_TRUSTED_PROXIES"}

// envName is the environment variable a flag falls back to.
func envName(flag string) string {
	if name, ok := envNames[flag]; ok {
		return name
	}
	return "COMET_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets each flag not given on the command line from its non-empty
// environment variable, parsed as the flag is: a bad value refuses to start,
// naming the variable and the value, as a bad flag does.
func applyEnv(fs *flag.FlagSet) error {
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v := os.Getenv(envName(f.Name))
		if err != nil || given[f.Name] || v == "" {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("invalid value %q for %s (the environment's --%s): %w", v, envName(f.Name), f.Name, serr)
		}
	})
	if err != nil {
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
	}
	return err
}

// prefixList is a flag of comma-separated CIDRs.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Set replaces the list with the CIDRs in v.
func (l *prefixList) Set(v string) error {
	var out []netip.Prefix
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("%q: want CIDRs like 127.0.0.1/32: %w", p, err)
		}
		out = append(out, pfx)
	}
	*l = out
	return nil
}

// Run dispatches a subcommand: serve (default), migrate, admin.
func (m *Main) Run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		if err := m.ParseFlags(cmd, args); err != nil {
			return err
		}
		m.tuneGC()
		if err := m.Open(ctx); err != nil {
			return err
		}
		return m.Serve(ctx)
	case "migrate":
		if err := m.ParseFlags(cmd, args); err != nil {
			return err
		}
		return m.Migrate(ctx)
	case "admin":
		return m.Admin(ctx, args)
	case "replay":
		return m.Replay(ctx, args)
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q (try: comet help)", cmd)
	}
}

const usage = `comet — a real-time multiplayer web game server

  comet [serve] [flags]       play on http://localhost:8080 (default)
  comet migrate [flags]       create or update the database and exit
  comet admin mute|unmute|kick|ban|unban NAME [--url URL] [--token T]
  comet replay FILE.jsonl     re-run a match recorded with serve --record DIR

Run "comet serve -h" for the serve flags.
`

func (m *Main) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(m.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	m.Logger = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
	return m.Logger
}

// tuneGC applies --gc-percent unless the operator set GOGC, which Go has
// already applied. Most of a Comet server's heap is held streams that live
// for minutes; Go's default (100) lets the heap, and so RSS, grow to twice
// that before collecting. See docs/PERFORMANCE.md for what 50 costs and saves.
func (m *Main) tuneGC() {
	if _, set := os.LookupEnv("GOGC"); set || m.GCPercent == 0 {
		return
	}
	debug.SetGCPercent(m.GCPercent)
}

// openStore opens the store --db names: PostgreSQL for a postgres:// or
// postgresql:// URL, else the SQLite file (created with its folder). It
// returns the migrations it applied.
func (m *Main) openStore(ctx context.Context) (comet.Store, []string, error) {
	if postgres.IsDSN(m.DBPath) {
		db, err := postgres.Open(ctx, m.DBPath, m.logger())
		if err != nil {
			return nil, nil, err
		}
		return db, db.Migrated(), nil
	}
	db, err := sqlite.Open(ctx, m.DBPath, m.logger())
	if err != nil {
		return nil, nil, err
	}
	m.DB = db
	return db, db.Migrated(), nil
}

// dbName is --db as it may be printed: a PostgreSQL URL without its password.
func (m *Main) dbName() string {
	if postgres.IsDSN(m.DBPath) {
		return postgres.Redact(m.DBPath)
	}
	return m.DBPath
}

// Migrate opens (creating) the database, applies pending migrations and exits.
func (m *Main) Migrate(ctx context.Context) error {
	store, migrated, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	m.DB = nil
	for _, name := range migrated {
		fmt.Fprintf(m.Stdout, "applied %s\n", name)
	}
	fmt.Fprintf(m.Stdout, "database %s is up to date\n", m.dbName())
	return nil
}

// Open opens the database (migrating it), bundles the frontend, builds the
// server and starts listening; it does not serve yet.
func (m *Main) Open(ctx context.Context) error {
	log := m.logger()
	db, _, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	m.Store = db
	metrics := server.NewMetrics()
	if err := m.validateCluster(); err != nil {
		m.Close()
		return err
	}
	if m.retention, err = retention.New(retention.Config{
		Store: db, Policy: m.Retain, Logger: log, Registerer: metrics.Registry,
	}); err != nil {
		m.Close()
		return err
	}
	var fe server.Frontend
	if m.Dev {
		fe = frontend.NewDev("frontend/src", log)
		if _, err := fe.Bundle(ctx); err != nil {
			log.Warn("frontend bundle failed; fix the sources and reload", "err", err)
		}
	} else {
		b, err := frontend.Build(ctx, frontend.Sources())
		if err != nil {
			m.Close()
			return fmt.Errorf("bundle frontend: %w", err)
		}
		fe = server.Static{B: b}
	}
	var b comet.Bus = bus.New()
	var cl server.Cluster
	if m.clustered() {
		parts, err := m.joinCluster(ctx, b, metrics.Registry)
		if err != nil {
			m.Close()
			return err
		}
		b, cl = parts.bus, parts.node
	}
	game := m.Game
	if len(game.Modes) == 0 {
		game.Modes = modes.All() // every compiled-in mode
	}
	srv, err := server.New(server.Config{
		Store: db, Bus: b, Cluster: cl, Frontend: fe, Logger: log, Version: Version, Metrics: metrics,
		AdminToken: m.AdminToken, SecureCookies: m.Secure, Game: game, Limits: m.Limits, Abuse: m.Abuse, Hub: m.Hub,
		PrivateMetrics: m.MetricsAddr != "", Handover: m.Handover, WSMove: m.WSMove,
	})
	if err != nil {
		m.Close()
		return err
	}
	m.Server = srv
	m.serveCluster()
	// A predecessor's hand-over is taken before serving, so a client never
	// finds its session missing here.
	if _, err := srv.Restore(ctx); err != nil {
		m.Close()
		return err
	}
	// Matches a crashed predecessor left running are saved as aborted (those
	// of the rooms the hand-over carried on go on).
	if _, err := srv.AbortUnfinishedMatches(ctx); err != nil {
		m.Close()
		return err
	}
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		m.Close()
		return fmt.Errorf("listen on %s: %w", m.Addr, err)
	}
	m.Listener = ln
	if m.DebugAddr != "" {
		d, err := listenDebug(m.DebugAddr)
		if err != nil {
			m.Close()
			return err
		}
		m.debug = d
	}
	if m.MetricsAddr != "" {
		p, err := listenMetrics(m.MetricsAddr, metrics.Handler())
		if err != nil {
			m.Close()
			return err
		}
		m.metrics = p
	}
	log.Info("comet listening", "addr", ln.Addr().String(), "db", m.dbName(), "version", Version, "dev", m.Dev)
	return nil
}

// URL is the base URL the server listens on (after Open).
func (m *Main) URL() string {
	addr := m.Listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}

// Serve serves until ctx ends, then shuts down gracefully within ShutdownIn.
func (m *Main) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- m.Server.Serve(m.Listener) }()
	for _, p := range []*privateServer{m.debug, m.metrics} {
		if p != nil {
			go p.serve(m.logger())
		}
	}
	// The retention policy runs until shutdown, and is waited for before
	// the store closes.
	rctx, stopRetention := context.WithCancel(ctx)
	retained := make(chan struct{})
	go func() {
		defer close(retained)
		if m.retention != nil {
			_ = m.retention.Run(rctx) // returns nil when rctx ends; passes log their own errors
		}
	}()
	defer stopRetention()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		m.logger().Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), m.ShutdownIn)
		err = m.Server.Shutdown(sctx)
		cancel()
		if e := <-errc; e != nil && err == nil {
			err = e
		}
	}
	m.leaveCluster()
	m.closePrivate()
	stopRetention()
	<-retained
	if cerr := m.closeDB(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// closePrivate closes the profiler's and the metrics' listeners.
func (m *Main) closePrivate() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, p := range []*privateServer{m.debug, m.metrics} {
		if p != nil {
			p.close(ctx)
		}
	}
	m.debug, m.metrics = nil, nil
}

// Close releases everything Open made, without a graceful shutdown.
func (m *Main) Close() {
	if m.Listener != nil {
		_ = m.Listener.Close()
	}
	if m.Server != nil {
		m.Server.Close()
	}
	m.leaveCluster()
	m.closePrivate()
	_ = m.closeDB()
}

func (m *Main) closeDB() error {
	if m.Store == nil {
		return nil
	}
	db := m.Store
	m.Store, m.DB = nil, nil
	if err := db.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}
