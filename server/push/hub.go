// Package push is Comet's push core: sessions with numbered outbound events
// and their replay buffers, held streams written by a small writer pool, the
// sweeper and the socket poller, and the framing of each transport.
//
// It knows messages, seqs, sinks and streams, and nothing of what the
// application does with them (words_test.go keeps it so).
// The application keeps its own per-session state in an opaque slot
// (Session.State), decides delivery of flagged messages through a filter, and
// is called back, on a bounded pool and under a deadline, when a session needs
// fresh state or has expired. See locksordering.txt for the lock order.
package push

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"comet"
)

// Fresh says why a session needs fresh state from the application; several
// reasons may be pending at once.
type Fresh uint32

const (
	// FreshReset: the session was sent sys.reset, so everything it held is
	// to be sent again.
	FreshReset Fresh = 1 << iota
	// FreshKeyframe: droppable messages were dropped while its stream was
	// backlogged (or it moved to a new stream), so it needs a keyframe.
	FreshKeyframe
)

// Config sets the session and stream limits and the application's hooks. Zero
// values take the documented defaults (docs/PROTOCOL.md, docs/SECURITY.md).
type Config struct {
	Bus           comet.Bus
	Logger        *slog.Logger
	Metrics       *Metrics
	Grace         time.Duration // an unattached session expires after this (30 s)
	Heartbeat     time.Duration // an empty batch after this much silence (25 s, as SockJS and Engine.IO)
	RecycleBytes  int           // a stream ends cleanly after this many framed bytes (256 KiB)
	RecycleAge    time.Duration // ... or after this long (5 min)
	ReplayEvents  int           // replay buffer: newest events kept (1,024)
	ReplayBytes   int           // ... and bytes kept (512 KiB)
	ReleaseAfter  time.Duration // events written to a live stream leave the buffer after this (60 s)
	ReplayKeep    int           // ... and at most this many written events stay (64): frequent updates are not kept for a minute
	ReplayKeepFor time.Duration // ... once written this long ago (3 s): a client that cuts a stream resumes from what it read
	WriteTimeout  time.Duration // a write that cannot finish in this long cuts the stream (10 s)
	Writers       int           // goroutines writing streams (GOMAXPROCS)

	// Workers run the application's callbacks (OnFresh, OnExpire) off the
	// writers and the reaper (4); each call gets CallbackTimeout (10 s).
	Workers         int
	CallbackTimeout time.Duration

	// OnFresh sends a session fresh state; why says what is missing. It runs
	// on the worker pool, at most once at a time per session, and requests
	// made while it is pending are merged into one call.
	OnFresh func(ctx context.Context, s *Session, why Fresh)
	// OnExpire is called once when a session ends (expiry, Remove, Close):
	// release what it held. The session is already out of the registry.
	OnExpire func(ctx context.Context, s *Session)
	// OnMessage takes one text message a client sent upstream on its
	// WebSocket (the same body as an upstream POST), in order per session,
	// on a task worker; msg is valid only during the call. Nil: no
	// WebSocket transport.
	OnMessage func(ctx context.Context, s *Session, msg []byte)
	// MaxMessage caps an upstream WebSocket message (16 KiB, the POST limit).
	MaxMessage int

	// Filter decides whether a message flagged comet.Filtered reaches s (the
	// application's per-session delivery rules); nil delivers every message.
	Filter func(s *Session, m *comet.Message) bool
}

func (c *Config) setDefaults() {
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
	def(&c.ReplayKeepFor, 3*time.Second)
	def(&c.CallbackTimeout, 10*time.Second)
	defInt(&c.RecycleBytes, 256<<10)
	defInt(&c.ReplayEvents, 1024)
	defInt(&c.ReplayBytes, 512<<10)
	defInt(&c.ReplayKeep, 64)
	defInt(&c.Workers, 4)
	defInt(&c.MaxMessage, WSDefaultMaxMessage)
	c.ReplayEvents = min(c.ReplayEvents, 1<<20) // the ring counts in int32
	c.ReplayBytes = min(c.ReplayBytes, 1<<30)
	defInt(&c.Writers, runtime.GOMAXPROCS(0))
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.OnFresh == nil {
		c.OnFresh = func(context.Context, *Session, Fresh) {}
	}
	if c.OnExpire == nil {
		c.OnExpire = func(context.Context, *Session) {}
	}
}

// Hub owns every session and every held stream: the session registry, the
// reaper that expires sessions without a receiver, the small pool of writers
// that flushes streams (no goroutine is held per idle stream), and the
// workers that run the application's callbacks.
type Hub struct {
	cfg     Config
	bus     comet.Bus
	log     *slog.Logger
	metrics *Metrics

	mu       sync.RWMutex
	sessions map[string]*Session
	users    map[string]*Session // each user's newest session; Session.nextTab links the rest
	draining atomic.Bool         // Drain began: no downstream attaches any more
	closing  atomic.Bool         // Close began: streams end with EndShutdown

	// detached holds the sessions with no receiver, so the reaper looks at
	// those few instead of every session each round. Taken under Session.mu.
	detMu    sync.Mutex
	detached map[*Session]struct{}

	writers writerPool
	tasks   tasks
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// NewHub starts a hub's reaper, writers and workers; Close stops them.
func NewHub(cfg Config) *Hub {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, bus: cfg.Bus, log: cfg.Logger, metrics: cfg.Metrics,
		sessions: make(map[string]*Session),
		users:    make(map[string]*Session),
		detached: make(map[*Session]struct{}),
		cancel:   cancel,
	}
	h.writers.init(h)
	h.tasks.init(h)
	h.done.Add(1)
	go func() { defer h.done.Done(); h.reap(ctx) }()
	h.writers.start(ctx, &h.done, cfg.Writers)
	h.tasks.start(&h.done, cfg.Workers)
	return h
}

// NewSession registers a session of user (an opaque grouping key: the
// sessions of one user are listed together) carrying the application's
// state. Until a downstream attaches, the grace period is already running.
func (h *Hub) NewSession(user string, state any) *Session {
	s := &Session{
		id:       "s_" + randomID(16),
		user:     user,
		state:    state,
		hub:      h,
		detached: time.Now().UnixNano(),
		ring:     replay{maxEvents: int32(h.cfg.ReplayEvents), maxBytes: int32(h.cfg.ReplayBytes)},
	}
	h.detachedNow(s)
	h.mu.Lock()
	h.sessions[s.id] = s
	if head := h.users[s.user]; head != nil {
		s.nextTab, head.prevTab = head, s
	}
	h.users[s.user] = s
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

// Len reports how many sessions are live.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.sessions)
}

// UserSessions returns the live sessions of one user, newest first.
func (h *Hub) UserSessions(user string) []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*Session
	for s := h.users[user]; s != nil; s = s.nextTab {
		out = append(out, s)
	}
	return out
}

// HasSessions reports whether the user has a live session.
func (h *Hub) HasSessions(user string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.users[user] != nil
}

// Remove ends a session now (logout, kick, ban) and runs OnExpire under ctx
// on the caller's goroutine. Removing an ended session does nothing.
func (h *Hub) Remove(ctx context.Context, s *Session) {
	if !s.end() {
		return
	}
	h.forget(s)
	h.cfg.OnExpire(ctx, s)
}

// forget drops an ended session from the registry and the user index.
func (h *Hub) forget(s *Session) {
	h.mu.Lock()
	if _, ok := h.sessions[s.id]; ok {
		delete(h.sessions, s.id)
		h.unlinkTab(s)
	}
	n := len(h.sessions)
	h.mu.Unlock()
	h.metrics.sessions.Set(float64(n))
}

// unlinkTab drops s from its user's list in O(1) (a load test may open
// thousands of tabs as one user); h.mu is held.
func (h *Hub) unlinkTab(s *Session) {
	if s.prevTab != nil {
		s.prevTab.nextTab = s.nextTab
	} else if s.nextTab != nil {
		h.users[s.user] = s.nextTab
	} else {
		delete(h.users, s.user)
	}
	if s.nextTab != nil {
		s.nextTab.prevTab = s.prevTab
	}
	s.prevTab, s.nextTab = nil, nil
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

// reap ends the sessions that have had no receiver for the grace period. The
// check and the end are one step under the session's lock, so a stream that
// attaches in between either wins (the session lives) or finds it ended; the
// application's OnExpire then runs on a worker, never on the reaper.
func (h *Hub) reap(ctx context.Context) {
	period := min(h.cfg.Grace/4, time.Second)
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
				if s.endIfExpired(now, h.cfg.Grace) {
					h.metrics.expired.Inc()
					h.forget(s)
					h.tasks.expire(s)
				}
			}
			clear(list)
		}
	}
}

// Draining reports whether Drain has begun.
func (h *Hub) Draining() bool {
	return h.draining.Load()
}

// requestFresh asks the application for fresh state for s, on a worker.
func (h *Hub) requestFresh(s *Session, why Fresh) {
	if why&FreshReset != 0 {
		h.metrics.resets.Inc()
	}
	if why&FreshKeyframe != 0 {
		h.metrics.resyncs.Inc()
	}
	h.tasks.fresh(s, why)
}

// Flush waits until every attached stream has written what it has queued, or
// ctx ends. Used on shutdown so in-flight events reach the clients.
func (h *Hub) Flush(ctx context.Context) {
	h.writers.drain(ctx)
}

// Close ends every session (OnExpire runs for each under ctx), closes every
// stream and stops the hub's goroutines; callbacks still queued when ctx
// ends are dropped, so Close returns soon after ctx's deadline.
func (h *Hub) Close(ctx context.Context) {
	h.closing.Store(true) // streams stopped from here on end with "shutdown"
	for _, s := range h.Sessions() {
		if ctx.Err() != nil {
			s.end()
			h.forget(s)
			continue
		}
		h.Remove(ctx, s)
	}
	// Let the writers put out the end frames the removals queued (briefly:
	// a stream that cannot take them is closed without).
	flushCtx, cancel := context.WithTimeout(ctx, time.Second)
	h.writers.drain(flushCtx)
	cancel()
	h.writers.closeAll()
	h.cancel()
	release := h.tasks.stop(ctx)
	h.done.Wait()
	release()
}

// Config returns the hub's settings with defaults applied.
func (h *Hub) Config() Config { return h.cfg }

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

// RandomID returns n random bytes as unpadded base64url, for ids and tokens.
func RandomID(n int) string { return randomID(n) }
