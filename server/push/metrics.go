package push

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the push core's Prometheus collectors.
type Metrics struct {
	sessions     prometheus.Gauge
	expired      prometheus.Counter
	streams      *prometheus.GaugeVec
	eventsQueued prometheus.Counter
	delivered    prometheus.Counter
	bytesOut     prometheus.Counter
	heartbeats   prometheus.Counter
	recycled     prometheus.Counter
	resets       prometheus.Counter
	slowCut      prometheus.Counter
	diffsDropped prometheus.Counter
	resyncs      prometheus.Counter
}

// NewMetrics makes the core's collectors and registers them with r (nil:
// none, for tests and tools). Registering twice on one registry panics.
func NewMetrics(r prometheus.Registerer) *Metrics {
	m := &Metrics{
		sessions:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "comet_sessions", Help: "Live sessions."}),
		expired:      prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_sessions_expired_total", Help: "Sessions expired after their grace period."}),
		streams:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "comet_streams", Help: "Held downstreams by transport."}, []string{"transport"}),
		eventsQueued: prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_events_queued_total", Help: "Events numbered into session queues."}),
		delivered:    prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_events_delivered_total", Help: "Events written to downstreams."}),
		bytesOut:     prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_stream_bytes_total", Help: "Bytes written to held streams."}),
		heartbeats:   prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_heartbeats_total", Help: "Heartbeats written."}),
		recycled:     prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_streams_recycled_total", Help: "Streams ended after their byte or age budget."}),
		resets:       prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_resets_total", Help: "sys.reset sent: a downstream resumed past its replay buffer."}),
		slowCut:      prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_slow_consumers_cut_total", Help: "Streams cut because the client took no bytes for the write timeout."}),
		diffsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_stale_diffs_dropped_total", Help: "Droppable messages dropped for sessions whose stream was backlogged."}),
		resyncs:      prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_slow_resyncs_total", Help: "Keyframes requested after a backlog cleared (droppable messages were dropped)."}),
	}
	for _, t := range TransportNames {
		m.streams.WithLabelValues(t)
	}
	if r != nil {
		r.MustRegister(m.sessions, m.expired, m.streams, m.eventsQueued, m.delivered,
			m.bytesOut, m.heartbeats, m.recycled, m.resets, m.slowCut, m.diffsDropped, m.resyncs)
	}
	return m
}
