package server

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"comet"
)

// Limits are the per-address abuse limits. Zero fields take the defaults; a
// negative field turns that limit off (load tests from one address).
type Limits struct {
	SessionsPerMinute int // new sessions per client address per minute (100)
	SessionsPerIP     int // live sessions at once per client address (200)
	StreamsPerIP      int // downstreams held at once per client address (50)
	RoomsPerMinute    int // rooms created per client address per minute, burst 5 (6)
	// TrustedProxies are the proxies whose X-Forwarded-For names the client;
	// requests from anywhere else are keyed by their own address.
	TrustedProxies []netip.Prefix
}

func (l *Limits) setDefaults() {
	if l.SessionsPerMinute == 0 {
		l.SessionsPerMinute = 100
	}
	if l.StreamsPerIP == 0 {
		l.StreamsPerIP = 50
	}
	if l.SessionsPerIP == 0 {
		l.SessionsPerIP = 200
	}
	if l.RoomsPerMinute == 0 {
		l.RoomsPerMinute = 6
	}
}

// limiter enforces Limits. Entries of addresses idle for a while are swept,
// so a scan from many addresses cannot grow it without bound.
type limiter struct {
	cfg Limits

	mu      sync.Mutex
	perIP   map[netip.Addr]*ipState
	swept   time.Time
	metrics *Metrics
}

type ipState struct {
	sessions *rate.Limiter
	live     int // sessions alive
	streams  int
	costs    [len(costRules)]*rate.Limiter // per-address rows of the cost table, made on first use
	seen     time.Time
}

func newLimiter(cfg Limits, m *Metrics) *limiter {
	cfg.setDefaults()
	return &limiter{cfg: cfg, perIP: make(map[netip.Addr]*ipState), swept: time.Now(), metrics: m}
}

// clientAddr is the address a request is limited by: its peer, or the
// right-most X-Forwarded-For hop that is not a trusted proxy; an IPv6
// address counts as its /64, which one subscriber usually holds whole.
func (l *limiter) clientAddr(r *http.Request) netip.Addr {
	return limitKey(l.peerAddr(r))
}

// limitKey is the key an address is limited under: itself for IPv4, its /64
// network for IPv6 (a host picks any address in its /64 at will).
func limitKey(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

func (l *limiter) peerAddr(r *http.Request) netip.Addr {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !l.trusted(peer) {
		return peer
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if a = a.Unmap(); !l.trusted(a) {
			return a
		}
	}
	return peer
}

func (l *limiter) trusted(a netip.Addr) bool {
	for _, p := range l.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (l *limiter) state(a netip.Addr, now time.Time) *ipState {
	if now.Sub(l.swept) > time.Minute {
		for k, st := range l.perIP {
			if st.streams == 0 && st.live == 0 && now.Sub(st.seen) > 2*time.Minute {
				delete(l.perIP, k)
			}
		}
		l.swept = now
	}
	st := l.perIP[a]
	if st == nil {
		perMin := max(l.cfg.SessionsPerMinute, 1)
		st = &ipState{sessions: rate.NewLimiter(rate.Limit(float64(perMin)/60), perMin)}
		l.perIP[a] = st
	}
	st.seen = now
	return st
}

// allowSession takes one new session for the request's address, or returns a
// 429 error with Retry-After.
func (l *limiter) allowSession(r *http.Request) error {
	if l.cfg.SessionsPerMinute < 0 {
		return nil
	}
	a := l.clientAddr(r)
	l.mu.Lock()
	res := l.state(a, time.Now()).sessions.Reserve()
	delay := res.Delay()
	if delay > 0 {
		res.Cancel()
	}
	l.mu.Unlock()
	if delay > 0 {
		l.metrics.limited.WithLabelValues("sessions_per_ip").Inc()
		return &limitError{err: comet.Errorf(comet.ERATELIMIT, "too many new sessions from your address; try again shortly"),
			retryAfter: strconv.Itoa(int(delay/time.Second) + 1)}
	}
	return nil
}

// acquireStream counts one held downstream for the request's address; the
// returned release must be called when it ends.
func (l *limiter) acquireStream(r *http.Request) (release func(), err error) {
	if l.cfg.StreamsPerIP < 0 {
		return func() {}, nil
	}
	a := l.clientAddr(r)
	l.mu.Lock()
	st := l.state(a, time.Now())
	if st.streams >= l.cfg.StreamsPerIP {
		l.mu.Unlock()
		l.metrics.limited.WithLabelValues("streams_per_ip").Inc()
		return nil, &limitError{err: comet.Errorf(comet.ERATELIMIT, "too many open streams from your address (at most %d)", l.cfg.StreamsPerIP),
			retryAfter: "5"}
	}
	st.streams++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			st.streams--
			st.seen = time.Now()
			l.mu.Unlock()
		})
	}, nil
}

// acquireSession counts one live session for the request's address and
// returns the key to release it with, or a 429 error when the address holds
// SessionsPerIP sessions already.
func (l *limiter) acquireSession(r *http.Request) (netip.Addr, error) {
	a := l.clientAddr(r)
	if l.cfg.SessionsPerIP < 0 {
		return a, nil
	}
	l.mu.Lock()
	st := l.state(a, time.Now())
	if st.live >= l.cfg.SessionsPerIP {
		l.mu.Unlock()
		l.metrics.limited.WithLabelValues("live_sessions_per_ip").Inc()
		return a, &limitError{err: comet.Errorf(comet.ERATELIMIT, "too many live sessions from your address (at most %d); close some tabs", l.cfg.SessionsPerIP),
			retryAfter: "30"}
	}
	st.live++
	l.mu.Unlock()
	return a, nil
}

// releaseSession undoes acquireSession when the session ends.
func (l *limiter) releaseSession(a netip.Addr) {
	if l.cfg.SessionsPerIP < 0 {
		return
	}
	l.mu.Lock()
	if st := l.perIP[a]; st != nil && st.live > 0 {
		st.live--
		st.seen = time.Now()
	}
	l.mu.Unlock()
}

// chargeAddress takes one token of the cost table's row i for address a;
// the room_create row's rate is Limits.RoomsPerMinute (negative: no limit).
func (l *limiter) chargeAddress(a netip.Addr, i int) bool {
	rule := costRules[i]
	if rule.name == "room_create" {
		if l.cfg.RoomsPerMinute < 0 {
			return true
		}
		rule.every, rule.burst = time.Minute/time.Duration(l.cfg.RoomsPerMinute), min(l.cfg.RoomsPerMinute, rule.burst)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state(a, time.Now())
	if st.costs[i] == nil {
		st.costs[i] = rate.NewLimiter(rate.Every(rule.every), rule.burst)
	}
	return st.costs[i].Allow()
}
