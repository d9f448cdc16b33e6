// Package retention runs a store's retention policy: it purges unseen guests
// and old chat lines once at start and then on an interval, logs what went,
// and counts it in Prometheus.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"comet"
)

// Defaults used by Run when a Config field is zero.
const (
	DefaultInterval = time.Hour
	DefaultTimeout  = 5 * time.Minute
)

// Config is what Run needs. Store and Policy are required; the rest default.
type Config struct {
	Store  comet.RetentionStore
	Policy comet.RetentionPolicy
	// Interval between passes after the first (DefaultInterval if zero).
	Interval time.Duration
	// Timeout bounds one pass; a pass cut short resumes at the next one
	// (DefaultTimeout if zero).
	Timeout time.Duration
	// Logger gets one line per pass that deleted something, and errors; nil discards.
	Logger *slog.Logger
	// Registerer, if set, gets comet_retention_purged_total{kind} and
	// comet_retention_errors_total; registering fails Run if the names are taken.
	Registerer prometheus.Registerer
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Runner purges on a schedule; make one with New, then call Run or Pass.
type Runner struct {
	cfg    Config
	purged *prometheus.CounterVec
	errs   prometheus.Counter
}

// New checks cfg (EINVALID for a missing store or a policy that fails
// Validate), fills its defaults and registers its metrics.
func New(cfg Config) (*Runner, error) {
	if cfg.Store == nil {
		return nil, comet.Errorf(comet.EINVALID, "retention: a store is required")
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Runner{
		cfg: cfg,
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_retention_purged_total",
			Help: "Rows deleted by the retention policy, by kind (guests, tokens, mutes, chat).",
		}, []string{"kind"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "comet_retention_errors_total",
			Help: "Retention passes that failed or were cut short.",
		}),
	}
	for _, k := range []string{"guests", "tokens", "mutes", "chat"} {
		r.purged.WithLabelValues(k) // exported as 0 from the start
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{r.purged, r.errs} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("retention: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Enabled reports whether the policy deletes anything at all.
func (r *Runner) Enabled() bool { return r.cfg.Policy.Guests > 0 || r.cfg.Policy.Chat > 0 }

// Pass runs one purge under the configured timeout, counts and logs what it
// deleted, and returns it with the store's error, if any.
func (r *Runner) Pass(ctx context.Context) (comet.PurgeStats, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	st, err := r.cfg.Store.Purge(ctx, r.cfg.Policy, r.cfg.Now())
	for kind, n := range map[string]int64{"guests": st.Guests, "tokens": st.Tokens, "mutes": st.Mutes, "chat": st.Chat} {
		r.purged.WithLabelValues(kind).Add(float64(n))
	}
	if st != (comet.PurgeStats{}) {
		r.cfg.Logger.Info("retention: purged", "guests", st.Guests, "tokens", st.Tokens, "mutes", st.Mutes, "chat", st.Chat)
	}
	if err != nil {
		r.errs.Inc()
		return st, fmt.Errorf("retention pass: %w", err)
	}
	return st, nil
}

// Run runs a pass at once and then every Interval until ctx ends, and
// returns nil then. A failed pass is logged and the next one tried on time.
// If the policy keeps everything, Run logs that and returns at once.
func (r *Runner) Run(ctx context.Context) error {
	log := r.cfg.Logger
	if !r.Enabled() {
		log.Info("retention: off, keeping guests and chat forever")
		return nil
	}
	log.Info("retention: on", "guests", r.cfg.Policy.Guests, "chat", r.cfg.Policy.Chat, "interval", r.cfg.Interval)
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := r.Pass(ctx); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil
			}
			log.Error("retention: pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Run is New then Runner.Run: it purges once at start and then every
// cfg.Interval until ctx ends. It returns an error only for a bad Config.
func Run(ctx context.Context, cfg Config) error {
	r, err := New(cfg)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}
