package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus collectors. Every label takes a value
// from a short fixed list (never a node name or a sid), so a cluster of
// any size adds the same handful of series per node.
type metrics struct {
	calls      *prometheus.CounterVec // kind: http, relay, take, topics; outcome: see callOutcome
	rehomes    *prometheus.CounterVec // outcome: ok, lost
	fences     *prometheus.CounterVec // cause: nats_down, lease_lost
	drains     *prometheus.CounterVec // step: marked, saved
	takes      *prometheus.CounterVec // source: node, bucket, none, lost
	roomMoves  *prometheus.CounterVec // outcome: moved, refused, failed
	renewFails prometheus.Counter
	swept      prometheus.Counter
}

// newMetrics registers the node's collectors on r (a registry of their own
// when r is nil); the gauges read the node's state when scraped.
func newMetrics(r prometheus.Registerer, n *Node) (*metrics, error) {
	if r == nil {
		r = prometheus.NewRegistry()
	}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_cluster_forwards_total",
			Help: "Calls to another node by kind (http: a forwarded request, relay: a stream relay asked of a home, take: a drained session taken, topics: its topics asked before the take) and outcome (ok, unreachable, timeout, canceled, error).",
		}, []string{"kind", "outcome"}),
		rehomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_cluster_rehomes_total",
			Help: "Sessions whose home was gone re-homed on this node (ok), or lost to another node re-homing them first (lost).",
		}, []string{"outcome"}),
		fences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_cluster_fences_total",
			Help: "Times this node fenced, by cause (nats_down, lease_lost).",
		}, []string{"cause"}),
		drains: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_cluster_drained_sessions_total",
			Help: "Sessions this node drained: marked in the directory for another node to take (marked), saved to the bucket as it left because nobody took them (saved).",
		}, []string{"step"}),
		takes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_cluster_takes_total",
			Help: "Drained sessions taken by this node, by where the session came from (node: the drained node, bucket: its saved blob, none: nothing left, restarted with a sys.reset) or lost to another taker (lost).",
		}, []string{"source"}),
		roomMoves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comet_cluster_room_moves_total",
			Help: "Rooms this node handed to another node as it drained, by outcome (moved: the node took it and the match goes on there; refused: that node would not, another was tried; failed: no node took it, its members were told room.closed).",
		}, []string{"outcome"}),
		renewFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "comet_cluster_lease_renew_failures_total",
			Help: "Renewals of this node's lease that failed (retried until the lease's TTL, then the node fences).",
		}),
		swept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "comet_cluster_directory_swept_total",
			Help: "Session directory entries of nodes gone longer than the directory grace, deleted by this node's sweep.",
		}),
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "comet_cluster_nodes", Help: "Live nodes this node sees, itself included.",
		}, func() float64 { return float64(len(n.Nodes())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "comet_cluster_fenced", Help: "1 while this node is fenced (not serving), else 0.",
		}, func() float64 {
			if n.Fenced() {
				return 1
			}
			return 0
		}),
		relayedGauge(n, "home", func(rs *relays) int { return len(rs.home) }),
		relayedGauge(n, "edge", func(rs *relays) int { return len(rs.mirrors) }),
	}
	for _, c := range append([]prometheus.Collector{m.calls, m.rehomes, m.fences, m.drains, m.takes, m.roomMoves, m.renewFails, m.swept}, gauges...) {
		if err := r.Register(c); err != nil {
			return nil, fmt.Errorf("cluster: metrics: %w", err)
		}
	}
	return m, nil
}

// relayedGauge counts the relayed streams on one side: as home, relays to
// another node's stream; as edge, mirrors of another node's session.
func relayedGauge(n *Node, side string, count func(*relays) int) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "comet_cluster_relayed_streams",
		Help:        "Streams relayed between nodes: side=home, this node's sessions held on another node; side=edge, other nodes' sessions held here.",
		ConstLabels: prometheus.Labels{"side": side},
	}, func() float64 {
		n.relay.mu.Lock()
		defer n.relay.mu.Unlock()
		return float64(count(&n.relay))
	})
}

// callOutcome is a call's outcome label.
func callOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrUnreachable):
		return "unreachable"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "error"
	}
}

// fenceCause is a fence's cause label.
func fenceCause(why error) string {
	if errors.Is(why, ErrNATSDown) && !errors.Is(why, ErrLeaseLost) {
		return "nats_down"
	}
	return "lease_lost"
}
