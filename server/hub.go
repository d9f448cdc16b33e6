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
	Heartbeat    time.Duration // an empty batch after this much silence (20 s)
	RecycleBytes int           // a stream ends cleanly after this many event bytes (256 KiB)
	RecycleAge   time.Duration // ... or after this long (5 min)
	ReplayEvents int           // replay buffer: newest events kept (1,024)
	ReplayBytes  int           // ... and bytes kept (512 KiB)
	ReleaseAfter time.Duration // events written to a live stream leave the buffer after this (60 s)
	WriteTimeout time.Duration // a write that cannot finish in this long cuts the stream (10 s)
	Writers      int           // goroutines writing streams (GOMAXPROCS)
	// OnReset is called (on its own goroutine) after a session was sent
	// sys.reset; it sends the session fresh state for what it is subscribed to.
	OnReset func(*Session)
	// OnExpire is called once when a session expires or the hub shuts down.
	OnExpire func(*Session)
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
	def(&c.Heartbeat, 20*time.Second)
	def(&c.RecycleAge, 5*time.Minute)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.ReleaseAfter, time.Minute)
	defInt(&c.RecycleBytes, 256<<10)
	defInt(&c.ReplayEvents, 1024)
	defInt(&c.ReplayBytes, 512<<10)
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
		created:  time.Now(),
		detached: time.Now(),
		ring:     replay{maxEvents: h.cfg.ReplayEvents, maxBytes: h.cfg.ReplayBytes},
	}
	s.setName(p.Name)
	h.mu.Lock()
	h.sessions[s.id] = s
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

// PlayerSessions returns the live sessions of one player.
func (h *Hub) PlayerSessions(playerID string) []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*Session
	for _, s := range h.sessions {
		if s.playerID == playerID {
			out = append(out, s)
		}
	}
	return out
}

// Remove ends a session now (logout, kick, ban) and runs OnExpire.
func (h *Hub) Remove(s *Session) {
	h.mu.Lock()
	_, ok := h.sessions[s.id]
	delete(h.sessions, s.id)
	n := len(h.sessions)
	h.mu.Unlock()
	if !ok {
		return
	}
	h.metrics.sessions.Set(float64(n))
	h.cfg.OnExpire(s)
	s.end()
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
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, s := range h.Sessions() {
				if s.expired(now, h.cfg.Grace) {
					h.metrics.expired.Inc()
					h.Remove(s)
				}
			}
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
