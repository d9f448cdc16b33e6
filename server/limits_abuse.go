package server

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"comet"
	"comet/server/push"
)

// AbuseLimits bound guessing and costly work: password checks, join-code
// guesses, admin-token guesses, chat from one address, and bcrypt hashing.
// Zero fields take the defaults; a negative field turns that limit off.
type AbuseLimits struct {
	// ChatPerIPPerMinute caps chat lines per client address, on top of the
	// per-player limit (120 per minute, burst 20): guests are free to make.
	ChatPerIPPerMinute int
	// PasswordsPerMinute caps password checks (login and claim) per client
	// address and, for login, per name (10 per minute, burst 10).
	PasswordsPerMinute int
	// JoinCodeFailsPerMinute caps failed room.join / room.spectate lookups
	// (unknown room or code) per player and per client address (10).
	JoinCodeFailsPerMinute int
	// AdminFailsPerMinute caps wrong admin tokens per client address (5).
	AdminFailsPerMinute int
	// HashConcurrency caps bcrypt hashes running at once (GOMAXPROCS); more
	// wait their turn, as long as their event or request may.
	HashConcurrency int
}

func (l *AbuseLimits) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.ChatPerIPPerMinute, 120)
	def(&l.PasswordsPerMinute, 10)
	def(&l.JoinCodeFailsPerMinute, 10)
	def(&l.AdminFailsPerMinute, 5)
	def(&l.HashConcurrency, runtime.GOMAXPROCS(0))
}

// chatPerIPBurst is how many lines one address may say at once.
const chatPerIPBurst = 20

// guards holds the abuse limits' state.
type guards struct {
	chatPerIP      *keyedLimiter
	passwordPerIP  *keyedLimiter
	loginPerName   *keyedLimiter
	codeFailPerPl  *keyedLimiter
	codeFailPerIP  *keyedLimiter
	adminFailPerIP *keyedLimiter
	hashing        chan struct{} // nil: unbounded
	metrics        *Metrics
	keys           nameKeys
	// compare is bcrypt.CompareHashAndPassword (a seam for tests to count
	// and time comparisons).
	compare func(hash, password []byte) error

	dummyOnce sync.Once
	dummy     []byte // a bcrypt hash of nothing anyone knows
}

func newGuards(cfg AbuseLimits, m *Metrics) *guards {
	cfg.setDefaults()
	g := &guards{
		chatPerIP:      newKeyedLimiter("chat_per_ip", cfg.ChatPerIPPerMinute, chatPerIPBurst),
		passwordPerIP:  newKeyedLimiter("password_per_ip", cfg.PasswordsPerMinute, cfg.PasswordsPerMinute),
		loginPerName:   newKeyedLimiter("login_per_name", cfg.PasswordsPerMinute, cfg.PasswordsPerMinute),
		codeFailPerPl:  newKeyedLimiter("join_code_per_player", cfg.JoinCodeFailsPerMinute, cfg.JoinCodeFailsPerMinute),
		codeFailPerIP:  newKeyedLimiter("join_code_per_ip", cfg.JoinCodeFailsPerMinute, cfg.JoinCodeFailsPerMinute),
		adminFailPerIP: newKeyedLimiter("admin_per_ip", cfg.AdminFailsPerMinute, cfg.AdminFailsPerMinute),
		metrics:        m,
		compare:        bcrypt.CompareHashAndPassword,
	}
	if cfg.HashConcurrency > 0 {
		g.hashing = make(chan struct{}, cfg.HashConcurrency)
	}
	go g.dummyHash() // ready before the first login needs it
	return g
}

// refuse counts a refusal under the limiter's metric label and returns the
// rate_limited error with its Retry-After.
func (g *guards) refuse(k *keyedLimiter, retry time.Duration, format string, args ...any) error {
	g.metrics.limited.WithLabelValues(k.label).Inc()
	return &limitError{err: comet.Errorf(comet.ERATELIMIT, format, args...),
		retryAfter: strconv.Itoa(int(retry/time.Second) + 1)}
}

// hash runs fn (a bcrypt hash or comparison) once a hashing slot is free.
// If ctx ends first the server is too busy hashing: the client is told to
// retry (429 rate_limited, Retry-After), which is the truth, not a 500.
func (g *guards) hash(ctx context.Context, fn func()) error {
	if g.hashing != nil {
		select {
		case g.hashing <- struct{}{}:
			defer func() { <-g.hashing }()
		case <-ctx.Done():
			g.metrics.limited.WithLabelValues("hash_busy").Inc()
			return &limitError{err: comet.Errorf(comet.ERATELIMIT, "the server is busy checking passwords; try again shortly"), retryAfter: "2"}
		}
	}
	fn()
	return nil
}

// dummyHash is a bcrypt hash at the cost real claims use, compared against
// when a login names nobody, so an unknown name costs the same time as a
// wrong password.
func (g *guards) dummyHash() []byte {
	g.dummyOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(push.RandomID(16)), bcrypt.DefaultCost)
		if err != nil {
			panic(fmt.Sprintf("bcrypt dummy hash: %v", err)) // only on a bad cost, a bug
		}
		g.dummy = h
	})
	return g.dummy
}

// addrKey is the string an address is limited under ("" for none).
func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	if a.Is6() && !a.Is4In6() {
		a = netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a.String()
}

type addrCtxKey struct{}

// withClientAddr records the client address of the request carrying events,
// for the limits keyed by address.
func withClientAddr(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, addrCtxKey{}, addrKey(a))
}

// clientAddrOf returns the address key withClientAddr recorded ("" if none).
func clientAddrOf(ctx context.Context) string {
	s, _ := ctx.Value(addrCtxKey{}).(string)
	return s
}

// eventAddr is the address key a client event's limits use: that of the
// request that carried it, or else the address the tab was opened from (an
// upstream that is not a POST, such as a WebSocket, still meets the limits).
func eventAddr(ctx context.Context, t *tab) string {
	if a := clientAddrOf(ctx); a != "" {
		return a
	}
	return addrKey(t.addr)
}

// keyedLimiter is a token bucket per key (an address, a player, a name).
// Buckets idle long enough to be full again are swept, so keys seen once do
// not accumulate.
type keyedLimiter struct {
	label string // metric label
	limit rate.Limit
	burst int
	off   bool

	mu    sync.Mutex
	m     map[string]*keyedBucket
	swept time.Time
}

type keyedBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newKeyedLimiter(label string, perMinute, burst int) *keyedLimiter {
	return &keyedLimiter{label: label, limit: rate.Limit(float64(perMinute) / 60), burst: max(burst, 1),
		off: perMinute < 0, m: make(map[string]*keyedBucket), swept: time.Now()}
}

func (k *keyedLimiter) bucket(key string, now time.Time) *keyedBucket {
	full := time.Duration(float64(k.burst) / float64(k.limit) * float64(time.Second))
	if now.Sub(k.swept) > time.Minute {
		for key, b := range k.m {
			if now.Sub(b.seen) > full {
				delete(k.m, key)
			}
		}
		k.swept = now
	}
	b := k.m[key]
	if b == nil {
		b = &keyedBucket{lim: rate.NewLimiter(k.limit, k.burst)}
		k.m[key] = b
	}
	b.seen = now
	return b
}

// take spends one token of key's bucket; when none is left it spends
// nothing and says how long until one is.
func (k *keyedLimiter) take(key string) (ok bool, retry time.Duration) {
	if k.off || key == "" {
		return true, 0
	}
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.bucket(key, now).lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// check says whether key's bucket has a token left, spending none.
func (k *keyedLimiter) check(key string) (ok bool, retry time.Duration) {
	if k.off || key == "" {
		return true, 0
	}
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	tokens := k.bucket(key, now).lim.TokensAt(now)
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) / float64(k.limit) * float64(time.Second))
}

// MinAdminToken is the shortest admin token the server accepts (bytes): a
// shorter one could be guessed, the failure limit notwithstanding.
const MinAdminToken = 16
