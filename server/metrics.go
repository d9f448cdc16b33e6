package server

import (
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the server's Prometheus collectors, on a registry of their own
// so several servers can live in one test process.
type Metrics struct {
	Registry *prometheus.Registry

	requests     *prometheus.CounterVec
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
	upstream     *prometheus.CounterVec
	limited      *prometheus.CounterVec
}

// NewMetrics registers Comet's collectors plus the Go and process collectors.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	// go_gc_heap_live_bytes (the heap marked live by the last GC) is what a
	// held stream really costs; heap_inuse also counts garbage not yet swept.
	r.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
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
		diffsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_stale_diffs_dropped_total", Help: "Room diffs dropped for sessions whose stream was backlogged."}),
		resyncs:      prometheus.NewCounter(prometheus.CounterOpts{Name: "comet_slow_resyncs_total", Help: "Fresh room snapshots sent after a backlog cleared."}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_upstream_events_total", Help: "Client events by outcome (ok, duplicate, error).",
		}, []string{"outcome"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_limited_total", Help: "Requests or events refused by an abuse limit.",
		}, []string{"limit"}),
	}
	r.MustRegister(m.requests, m.sessions, m.expired, m.streams, m.eventsQueued, m.delivered,
		m.bytesOut, m.heartbeats, m.recycled, m.resets, m.slowCut, m.diffsDropped, m.resyncs, m.upstream, m.limited)
	for _, t := range transportNames {
		m.streams.WithLabelValues(t)
	}
	return m
}

// middleware counts every request by its route pattern (not its raw path, so
// session ids do not explode the label set).
func (m *Metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err != nil {
			c.Error(err) // write the error response now so the status is final
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
		return nil
	}
}
