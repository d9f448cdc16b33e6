package server

import (
	"net/http"
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"comet/server/push"
)

// Metrics are the server's Prometheus collectors, on a registry of their own
// so several servers can live in one test process.
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	Push     *push.Metrics // the push core's collectors, on the same registry

	upstream  *prometheus.CounterVec
	limited   *prometheus.CounterVec
	homeCache *prometheus.CounterVec
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
		Push: push.NewMetrics(r),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_upstream_events_total", Help: "Client events by outcome (ok, duplicate, error).",
		}, []string{"outcome"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_limited_total", Help: "Requests or events refused by an abuse limit.",
		}, []string{"limit"}),
		homeCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_cluster_home_cache_total",
			Help: "POSTs forwarded to the home this node remembered for their session (hit), or routed again from the directory because that node no longer held it (stale).",
		}, []string{"outcome"}),
	}
	r.MustRegister(m.requests, m.upstream, m.limited, m.homeCache)
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
		m.requests.WithLabelValues(methodLabel(c.Request().Method), route, strconv.Itoa(c.Response().Status)).Inc()
		return nil
	}
}

// methodLabel is a request's method as a label: one of HTTP's methods, or
// "other" for any other string, so a client cannot grow the label set.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	default:
		return "other"
	}
}

// Handler serves the registry as Prometheus text.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
