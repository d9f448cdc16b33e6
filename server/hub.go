package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"comet"
)

// HubConfig sets the session and stream limits. Zero values take the
// documented defaults (see docs/PROTOCOL.md and docs/SECURITY.md).
type HubConfig struct {
	Bus          comet.Bus
	Logger       *slog.Logger
	Metrics      *Metrics
	Grace        time.Duration // an unattached session expires after this (30 s)
	Heartbeat    time.Duration // an empty batch after this much silence (25 s, as SockJS and Engine.IO)
	RecycleBytes int           // a stream ends cleanly after this many event bytes (256 KiB)
	RecycleAge   time.Duration // ... or after this long (5 min)
	ReplayEvents int           // replay buffer: newest events kept (1,024)
	ReplayBytes  int           // ... and bytes kept (512 KiB)
	ReleaseAfter time.Duration // events written to a live stream leave the buffer after this (60 s)
	ReplayKeep   int           // ... and at most this many written events stay (64): a game's diffs are not kept for a minute
	WriteTimeout time.Duration // a write that cannot finish in this long cuts the stream (10 s)
	Writers      int           // goroutines writing streams (GOMAXPROCS)
	// OnReset is called (on its own goroutine) after a session was sent
	// sys.reset; it sends the session fresh state for what it is subscribed to.
	OnReset func(*Session)
	// OnExpire is called once when a session expires or the hub shuts down.
	OnExpire func(*Session)
	// OnStale is called (on its own goroutine) when a session's backlog
	// cleared after room diffs were dropped; it sends a fresh room snapshot.
	OnStale func(*Session)
}

func (c *HubConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Grace, 30*time.Second)
	def(&c.Heartbeat, 25*time.Second)
	def(&c.RecycleAge, 5*time.Minute)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.ReleaseAfter, time.Minute)
	defInt(&c.RecycleBytes, 256<<10)
	defInt(&c.ReplayEvents, 1024)
	defInt(&c.ReplayBytes, 512<<10)
	defInt(&c.ReplayKeep, 64)
	c.ReplayEvents = min(c.ReplayEvents, 1<<20) // the ring counts in int32
	c.ReplayBytes = min(c.ReplayBytes, 1<<30)
	defInt(&c.Writers, runtime.GOMAXPROCS(0))
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.OnReset == nil {
		c.OnReset = func(*Session) {}
	}
	if c.OnExpire == nil {
		c.OnExpire = func(*Session) {}
	}
	if c.OnStale == nil {
		c.OnStale = func(*Session) {}
	}
}

// Hub owns every session and every held stream: the session registry, the
// reaper that expires sessions without a receiver, and the small pool of
// writers that flushes streams (no goroutine is held per idle stream).
type Hub struct {
	cfg     HubConfig
	bus     comet.Bus
	log     *slog.Logger
	metrics *Metrics

	mu       sync.RWMutex
	sessions map[string]*Session
	players  map[string]*Session // each player's newest session; Session.nextTab links the rest

	// detached holds the sessions with no receiver, so the reaper looks at
	// those few instead of every session each round. Taken under Session.mu.
	detMu    sync.Mutex
	detached map[*Session]struct{}

	writers writerPool
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// NewHub starts a hub's reaper and writers; Close stops them.
func NewHub(cfg HubConfig) *Hub {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, bus: cfg.Bus, log: cfg.Logger, metrics: cfg.Metrics,
		sessions: make(map[string]*Session),
		players:  make(map[string]*Session),
		detached: make(map[*Session]struct{}),
		cancel:   cancel,
	}
	h.writers.init(h)
	h.done.Add(1)
	go func() { defer h.done.Done(); h.reap(ctx) }()
	h.writers.start(ctx, &h.done, cfg.Writers)
	return h
}

// NewSession registers a session for player p. Until a downstream attaches,
// the grace period is already running.
func (h *Hub) NewSession(p *comet.Player) *Session {
	s := &Session{
		id:       "s_" + randomID(16),
		playerID: p.ID,
		hub:      h,
		detached: time.Now().UnixNano(),
		ring:     replay{maxEvents: int32(h.cfg.ReplayEvents), maxBytes: int32(h.cfg.ReplayBytes)},
	}
	s.setName(p.Name)
	h.detachedNow(s)
	h.mu.Lock()
	h.sessions[s.id] = s
	if head := h.players[s.playerID]; head != nil {
		s.nextTab, head.prevTab = head, s
	}
	h.players[s.playerID] = s
	n := len(h.sessions)
	h.mu.Unlock()
	h.metrics.sessions.Set(float64(n))
	return s
}

// Session returns a live session by id.
func (h *Hub) Session(id string) (*Session, bool) {
	h.mu.RLock()
	s, ok := h.sessions[id]
	h.mu.RUnlock()
	return s, ok
}

// Sessions returns a snapshot of every live session.
func (h *Hub) Sessions() []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s)
	}
	return out
}

// PlayerSessions returns the live sessions of one player, newest first.
func (h *Hub) PlayerSessions(playerID string) []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*Session
	for s := h.players[playerID]; s != nil; s = s.nextTab {
		out = append(out, s)
	}
	return out
}

// Remove ends a session now (logout, kick, ban) and runs OnExpire.
func (h *Hub) Remove(s *Session) {
	h.mu.Lock()
	_, ok := h.sessions[s.id]
	if ok {
		delete(h.sessions, s.id)
		h.unlinkTab(s)
	}
	n := len(h.sessions)
	h.mu.Unlock()
	if !ok {
		return
	}
	h.metrics.sessions.Set(float64(n))
	h.cfg.OnExpire(s)
	s.end()
}

// unlinkTab drops s from its player's list in O(1) (a load test may open
// thousands of tabs as one player); h.mu is held.
func (h *Hub) unlinkTab(s *Session) {
	if s.prevTab != nil {
		s.prevTab.nextTab = s.nextTab
	} else if s.nextTab != nil {
		h.players[s.playerID] = s.nextTab
	} else {
		delete(h.players, s.playerID)
	}
	if s.nextTab != nil {
		s.nextTab.prevTab = s.prevTab
	}
	s.prevTab, s.nextTab = nil, nil
}

// HasSessions reports whether the player has a live session.
func (h *Hub) HasSessions(playerID string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.players[playerID] != nil
}

// detachedNow and attached keep the reaper's set; the caller holds s.mu, so
// the set always matches the session's last change.
func (h *Hub) detachedNow(s *Session) {
	h.detMu.Lock()
	h.detached[s] = struct{}{}
	h.detMu.Unlock()
}

func (h *Hub) attached(s *Session) {
	h.detMu.Lock()
	delete(h.detached, s)
	h.detMu.Unlock()
}

// Broadcast sends m to every live session (used for sys.restart).
func (h *Hub) Broadcast(m *comet.Message) {
	for _, s := range h.Sessions() {
		s.Send(m)
	}
}

func (h *Hub) reap(ctx context.Context) {
	period := h.cfg.Grace / 4
	if period > time.Second {
		period = time.Second
	}
	t := time.NewTicker(period)
	defer t.Stop()
	var list []*Session
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.detMu.Lock()
			list = list[:0]
			for s := range h.detached {
				list = append(list, s)
			}
			h.detMu.Unlock()
			for _, s := range list {
				if s.expired(now, h.cfg.Grace) {
					h.metrics.expired.Inc()
					h.Remove(s)
				}
			}
			clear(list)
		}
	}
}

// resync runs OnReset off the writer goroutines: fresh state may need the database.
func (h *Hub) resync(s *Session) {
	h.metrics.resets.Inc()
	go h.cfg.OnReset(s)
}

// Flush waits until every attached stream has written what it has queued, or
// ctx ends. Used on shutdown so in-flight events reach the clients.
func (h *Hub) Flush(ctx context.Context) {
	h.writers.drain(ctx)
}

// Close ends every session and stream and stops the hub's goroutines.
func (h *Hub) Close() {
	for _, s := range h.Sessions() {
		h.Remove(s)
	}
	h.writers.closeAll()
	h.cancel()
	h.done.Wait()
}

// randomHex returns n random bytes as lowercase hex (multipart boundaries).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomID returns n random bytes as unpadded base64url (n=16: 128 bits).
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}
