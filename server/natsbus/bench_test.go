package natsbus_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"comet"
	"comet/server/bus"
	"comet/server/natsbus"
)

// signalSink counts deliveries and wakes a waiter on each.
type signalSink struct {
	n    atomic.Int64
	wake chan struct{}
}

func newSignalSink() *signalSink { return &signalSink{wake: make(chan struct{}, 1)} }

func (s *signalSink) Send(*comet.Message) {
	s.n.Add(1)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// waitFor blocks until s has n deliveries.
func (s *signalSink) waitFor(b *testing.B, n int64) {
	deadline := time.After(10 * time.Second)
	for s.n.Load() < n {
		select {
		case <-s.wake:
		case <-deadline:
			b.Fatalf("%d of %d delivered after 10s", s.n.Load(), n)
		}
	}
}

// benchBuses gives the publishing and the subscribing bus of each case: the
// in-process bus, natsbus delivering on its own node, and natsbus from one
// node to another through the embedded nats-server.
func benchBuses(b *testing.B) map[string][2]comet.Bus {
	s := runServer(b)
	one := node(b, connect(b, s), natsbus.Config{})
	pa, pb := node(b, connect(b, s), natsbus.Config{}), node(b, connect(b, s), natsbus.Config{})
	in := bus.New()
	return map[string][2]comet.Bus{
		"inprocess":   {in, in},
		"nats-local":  {one, one},
		"nats-remote": {pa, pb},
	}
}

var benchMsg = comet.MustMessage("chat.msg", map[string]string{
	"channel": "lobby", "from": "p_0123456789", "name": "somebody", "text": "a line of chat about the size of most lines",
})

// BenchmarkPublishDeliver is one message in flight at a time: ns/op is the
// publish→deliver latency, with p50 and p99 beside it.
func BenchmarkPublishDeliver(b *testing.B) { benchPublishDeliver(b, 1) }

// BenchmarkPublishDeliver1000 is the same to the last of 1000 sinks (a lobby).
func BenchmarkPublishDeliver1000(b *testing.B) { benchPublishDeliver(b, 1000) }

func benchPublishDeliver(b *testing.B, sinks int) {
	for _, name := range []string{"inprocess", "nats-local", "nats-remote"} {
		b.Run(name, func(b *testing.B) {
			buses := benchBuses(b)[name]
			for i := 1; i < sinks; i++ {
				buses[1].Subscribe("lobby", newSignalSink())
			}
			sk := newSignalSink() // subscribed last, so delivered to last
			buses[1].Subscribe("lobby", sk)
			if nb, ok := buses[1].(*natsbus.Bus); ok {
				sync2(nb)(b)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				buses[0].Publish("lobby", benchMsg)
				sk.waitFor(b, int64(i+1))
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkThroughput publishes as fast as deliveries keep up, with at most
// 4096 messages in flight: msgs/s is the sustained rate. (natsbus on one node
// delivers locally at once, so there nothing holds the publisher back and past
// its queue it drops, by design: that case is left out.)
func BenchmarkThroughput(b *testing.B) {
	for _, name := range []string{"inprocess", "nats-remote"} {
		b.Run(name, func(b *testing.B) {
			buses := benchBuses(b)[name]
			sk := newSignalSink()
			buses[1].Subscribe("lobby", sk)
			if nb, ok := buses[1].(*natsbus.Bus); ok {
				sync2(nb)(b)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if int64(i)-sk.n.Load() >= 4096 {
					sk.waitFor(b, int64(i)-2048)
				}
				buses[0].Publish("lobby", benchMsg)
			}
			sk.waitFor(b, int64(b.N))
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			if nb, ok := buses[0].(*natsbus.Bus); ok && nb.Stats().Dropped > 0 {
				b.Fatalf("dropped: %+v", nb.Stats())
			}
		})
	}
}
