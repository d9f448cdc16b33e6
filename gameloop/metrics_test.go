package gameloop

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestTwoManagersShareOneRegistry: a second set of collectors on the same
// registry reuses the first instead of panicking.
func TestTwoManagersShareOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := newMetrics(reg), newMetrics(reg)
	a.forMode("walk").dropped.Inc()
	b.forMode("walk").dropped.Inc()
	if got := metricValue(t, reg, "comet_game_inputs_dropped_total"); got != 2 {
		t.Errorf("dropped %v, want 2 counted in one series", got)
	}
	newMetrics(nil).forMode("x").tick.Observe(1) // unregistered metrics still work
}
