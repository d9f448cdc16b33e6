package bus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"comet"
	"comet/server/bustest"
)

type countSink struct {
	n    atomic.Int64
	mu   sync.Mutex
	last *comet.Message
}

func (c *countSink) Send(m *comet.Message) {
	c.n.Add(1)
	c.mu.Lock()
	c.last = m
	c.mu.Unlock()
}

func TestPublishReachesEverySubscriberOnce(t *testing.T) {
	b := New()
	sinks := make([]*countSink, 50)
	for i := range sinks {
		sinks[i] = &countSink{}
		b.Subscribe("lobby", sinks[i])
		b.Subscribe("lobby", sinks[i]) // twice is a no-op
	}
	other := &countSink{}
	b.Subscribe("room:1", other)

	m := comet.MustMessage("chat.msg", map[string]string{"text": "hi"})
	b.Publish("lobby", m)

	for i, s := range sinks {
		if got := s.n.Load(); got != 1 {
			t.Fatalf("sink %d got %d messages, want 1", i, got)
		}
		if s.last != m {
			t.Fatalf("sink %d got a different message pointer: publish must share one encoding", i)
		}
	}
	if other.n.Load() != 0 {
		t.Fatal("a subscriber of another topic received the message")
	}
	if got := b.Subscribers("lobby"); got != 50 {
		t.Fatalf("Subscribers = %d, want 50", got)
	}
}

func TestCloseRemovesAndEmptyTopicGoes(t *testing.T) {
	b := New()
	a, c := &countSink{}, &countSink{}
	sa := b.Subscribe("t", a)
	sc := b.Subscribe("t", c)
	if sa.Topic() != "t" {
		t.Fatalf("Topic() = %q", sa.Topic())
	}
	sa.Close()
	sa.Close() // idempotent
	b.Publish("t", comet.MustMessage("x", 1))
	if a.n.Load() != 0 || c.n.Load() != 1 {
		t.Fatalf("after close: a=%d c=%d, want 0 and 1", a.n.Load(), c.n.Load())
	}
	sc.Close()
	b.mu.RLock()
	n := len(b.topics)
	b.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d topics left after every subscription closed", n)
	}
	// The topic comes back on the next subscribe.
	b.Subscribe("t", a)
	b.Publish("t", comet.MustMessage("x", 2))
	if a.n.Load() != 1 {
		t.Fatal("resubscribed sink did not receive")
	}
}

func TestConcurrentSubscribePublishClose(t *testing.T) {
	b := New()
	var wg sync.WaitGroup
	stable := &countSink{}
	b.Subscribe("t", stable)
	const publishes = 2000
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < publishes; i++ {
			b.Publish("t", comet.MustMessage("x", i))
		}
	}()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				s := &countSink{}
				sub := b.Subscribe(fmt.Sprintf("t%d", i%3), s)
				sub2 := b.Subscribe("t", s)
				sub.Close()
				sub2.Close()
			}
		}(g)
	}
	wg.Wait()
	if got := stable.n.Load(); got != publishes {
		t.Fatalf("stable subscriber got %d of %d publishes", got, publishes)
	}
}

func BenchmarkPublish15k(b *testing.B) {
	bus := New()
	for i := 0; i < 15000; i++ {
		bus.Subscribe("lobby", &countSink{})
	}
	m := comet.MustMessage("chat.msg", map[string]string{"text": "hello"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus.Publish("lobby", m)
	}
}

// TestCloseInAnyOrderKeepsTheRest: removal swaps the last subscriber into the
// gap, so closing from the front, the back and the middle must leave exactly
// the others subscribed, each reached once.
func TestCloseInAnyOrderKeepsTheRest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(i int) bool
	}{
		{"front half", func(i int) bool { return i < 50 }},
		{"back half", func(i int) bool { return i >= 50 }},
		{"every third", func(i int) bool { return i%3 == 0 }},
		{"all but one", func(i int) bool { return i != 37 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New()
			sinks := make([]*countSink, 100)
			subs := make([]comet.Subscription, 100)
			for i := range sinks {
				sinks[i] = &countSink{}
				subs[i] = b.Subscribe("lobby", sinks[i])
			}
			want := 0
			for i, sub := range subs {
				if tc.close(i) {
					sub.Close()
					sub.Close() // twice is a no-op
				} else {
					want++
				}
			}
			if n := b.Subscribers("lobby"); n != want {
				t.Fatalf("Subscribers = %d, want %d", n, want)
			}
			b.Publish("lobby", comet.MustMessage("x", 1))
			for i, s := range sinks {
				if got, wantN := s.n.Load(), map[bool]int64{true: 0, false: 1}[tc.close(i)]; got != wantN {
					t.Fatalf("sink %d got %d messages, want %d", i, got, wantN)
				}
			}
			// A closed sink can come back, once.
			b.Subscribe("lobby", sinks[0])
			b.Subscribe("lobby", sinks[0])
			if n := b.Subscribers("lobby"); n != want+boolInt(tc.close(0)) {
				t.Fatalf("after resubscribe Subscribers = %d", n)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestConformance runs the behaviour every comet.Bus shares (server/bustest).
func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bustest.Nodes {
		b := New()
		return bustest.Nodes{Pub: b, Sub: b}
	})
}
