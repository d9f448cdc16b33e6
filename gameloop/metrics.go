package gameloop

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus collectors, labelled by mode.
type metrics struct {
	tick     *prometheus.HistogramVec
	overruns *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	invalid  *prometheus.CounterVec
	rooms    *prometheus.GaugeVec
	players  *prometheus.GaugeVec // role: human, bot, spectator
	matches  *prometheus.CounterVec
	bytes    *prometheus.CounterVec // kind: snapshot, diff (bytes × recipients)
	hung     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		tick: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "comet_game_tick_seconds",
			Help:    "Time to run one room tick: inputs, simulation, bots, diffs and encoding.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .02, .05, .1},
		}, []string{"mode"}),
		overruns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_game_tick_overruns_total",
			Help: "Ticks that took longer than their budget (1/tick rate).",
		}, []string{"mode"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_game_ticks_skipped_total",
			Help: "Ticks skipped because a room fell behind by more than its catch-up limit.",
		}, []string{"mode"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_game_inputs_dropped_total",
			Help: "Inputs dropped because a player sent more than the per-tick budget.",
		}, []string{"mode"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_game_inputs_invalid_total",
			Help: "Inputs rejected by a mode's decoder.",
		}, []string{"mode"}),
		rooms: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "comet_game_rooms",
			Help: "Open rooms.",
		}, []string{"mode"}),
		players: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "comet_game_players",
			Help: "Participants in rooms by role (human, bot, spectator).",
		}, []string{"mode", "role"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_game_matches_total",
			Help: "Matches ended, by outcome (finished, aborted).",
		}, []string{"mode", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_game_sent_bytes_total",
			Help: "View bytes handed to sessions (message size × recipients), by kind (snapshot, diff).",
		}, []string{"mode", "kind"}),
		hung: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_game_rooms_hung_total",
			Help: "Rooms closed by the watchdog because a tick (or another room operation) hung.",
		}, []string{"mode"}),
	}
	if reg == nil {
		return m
	}
	m.tick = register(reg, m.tick)
	m.overruns = register(reg, m.overruns)
	m.skipped = register(reg, m.skipped)
	m.dropped = register(reg, m.dropped)
	m.invalid = register(reg, m.invalid)
	m.rooms = register(reg, m.rooms)
	m.players = register(reg, m.players)
	m.matches = register(reg, m.matches)
	m.bytes = register(reg, m.bytes)
	m.hung = register(reg, m.hung)
	return m
}

// register registers c, or returns the collector already registered under
// its name (a second Manager on the same registry shares the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("gameloop: register metrics: " + err.Error()) // a name clash is a programming error
	}
	return c
}

// roomMetrics are one room's pre-resolved series, so ticks do no label lookups.
type roomMetrics struct {
	tick                     prometheus.Observer
	overruns, skipped        prometheus.Counter
	dropped, invalid         prometheus.Counter
	humans, bots, spectators prometheus.Gauge
	finished, aborted        prometheus.Counter
	snapshotBytes, diffBytes prometheus.Counter
	rooms                    prometheus.Gauge
	abandoned                prometheus.Counter
}

func (m *metrics) forMode(mode string) *roomMetrics {
	return &roomMetrics{
		tick:          m.tick.WithLabelValues(mode),
		overruns:      m.overruns.WithLabelValues(mode),
		skipped:       m.skipped.WithLabelValues(mode),
		dropped:       m.dropped.WithLabelValues(mode),
		invalid:       m.invalid.WithLabelValues(mode),
		humans:        m.players.WithLabelValues(mode, "human"),
		bots:          m.players.WithLabelValues(mode, "bot"),
		spectators:    m.players.WithLabelValues(mode, "spectator"),
		finished:      m.matches.WithLabelValues(mode, "finished"),
		aborted:       m.matches.WithLabelValues(mode, "aborted"),
		snapshotBytes: m.bytes.WithLabelValues(mode, "snapshot"),
		diffBytes:     m.bytes.WithLabelValues(mode, "diff"),
		rooms:         m.rooms.WithLabelValues(mode),
		abandoned:     m.hung.WithLabelValues(mode),
	}
}
