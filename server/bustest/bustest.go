// Package bustest holds the behaviour every comet.Bus must have, as one table
// of tests that each bus's package runs with Run.
package bustest

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"comet"
	"comet/internal/check"
)

// Nodes is the bus under test as seen from two places: tests publish on Pub
// and subscribe on Sub. A bus of one process passes itself as both; a
// distributed one runs the table once with one node as both and once with
// two nodes.
type Nodes struct {
	Pub, Sub comet.Bus
	// Settle, if set, returns once subscriptions made on Sub take effect
	// for publishes on Pub.
	Settle func(t testing.TB)
}

// Wait bounds every wait for a delivery.
const Wait = 5 * time.Second

// Run runs every test against buses from open, a fresh pair per test.
func Run(t *testing.T, open func(t *testing.T) Nodes) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

var tests = []struct {
	name string
	run  func(t *testing.T, n Nodes)
}{
	{"PublishReachesEverySubscriberOnce", publishReachesEverySubscriberOnce},
	{"FlagsAndFromSurvive", flagsAndFromSurvive},
	{"CloseRemoves", closeRemoves},
	{"CloseInAnyOrderKeepsTheRest", closeInAnyOrderKeepsTheRest},
	{"TopicsAreSeparate", topicsAreSeparate},
	{"OrderPerPublisher", orderPerPublisher},
	{"ConcurrentSubscribePublishClose", concurrentSubscribePublishClose},
}

// Sink records what it is sent, in order.
type Sink struct {
	mu   sync.Mutex
	msgs []*comet.Message
}

// Send records m.
func (s *Sink) Send(m *comet.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

// Messages returns a copy of what s was sent.
func (s *Sink) Messages() []*comet.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*comet.Message(nil), s.msgs...)
}

var fences atomic.Int64

// fence publishes a unique message on topic and waits until every sink in
// witnesses has it: everything published before it on topic by the same
// publisher has then been delivered on the witnesses' node.
func fence(t *testing.T, n Nodes, topic string, witnesses ...*Sink) *comet.Message {
	t.Helper()
	id := fences.Add(1)
	f := comet.MustMessage("test.fence", id)
	n.Pub.Publish(topic, f)
	for _, w := range witnesses {
		check.For(t, Wait, func() error {
			ms := w.Messages()
			if len(ms) > 0 && bytes.Equal(ms[len(ms)-1].Frame, f.Frame) {
				return nil
			}
			for _, m := range ms {
				if bytes.Equal(m.Frame, f.Frame) {
					return fmt.Errorf("fence %d arrived but not last: %d messages", id, len(ms))
				}
			}
			return fmt.Errorf("fence %d not delivered on %s (%d messages)", id, topic, len(ms))
		})
	}
	return f
}

func settle(t *testing.T, n Nodes) {
	if n.Settle != nil {
		n.Settle(t)
	}
}

func same(a, b *comet.Message) bool {
	return a.Type == b.Type && bytes.Equal(a.Frame, b.Frame) && a.From == b.From && a.Flags == b.Flags
}

func publishReachesEverySubscriberOnce(t *testing.T, n Nodes) {
	sinks := make([]*Sink, 50)
	for i := range sinks {
		sinks[i] = &Sink{}
		n.Sub.Subscribe("lobby", sinks[i])
		n.Sub.Subscribe("lobby", sinks[i]) // twice is a no-op
	}
	other := &Sink{}
	n.Sub.Subscribe("room:1", other)
	if got := n.Sub.Subscribers("lobby"); got != 50 {
		t.Fatalf("Subscribers = %d, want 50", got)
	}
	settle(t, n)

	m := comet.MustMessage("chat.msg", map[string]string{"text": "hi"})
	m.From = "p_1"
	n.Pub.Publish("lobby", m.WithFlags(comet.Filtered))
	f := fence(t, n, "lobby", sinks...)
	fence(t, n, "room:1", other)

	first := sinks[0].Messages()[0]
	for i, s := range sinks {
		ms := s.Messages()
		if len(ms) != 2 || !same(ms[0], m) || !same(ms[1], f) {
			t.Fatalf("sink %d got %d messages (%v), want the message then the fence", i, len(ms), ms)
		}
		if ms[0] != first {
			t.Fatalf("sink %d got another *Message than sink 0: one publish must share one message on a node", i)
		}
	}
	if n.Pub == n.Sub && first != m {
		t.Fatal("the publishing node's sinks got a copy, not the published message")
	}
	if ms := other.Messages(); len(ms) != 1 {
		t.Fatalf("a subscriber of another topic got %d messages, want only its fence", len(ms))
	}
}

func flagsAndFromSurvive(t *testing.T, n Nodes) {
	s := &Sink{}
	n.Sub.Subscribe("chat:dm:p_1:p_2", s)
	settle(t, n)
	var want []*comet.Message
	froms := []string{"", "p_1", "Ünïcødé ✓", "a:b.c *>"}
	for f := comet.Flags(0); f < 8; f++ {
		for _, from := range froms {
			m := comet.MustMessage("t.flags", map[string]any{"f": int(f), "from": from, "html": "<b>&</b>\u2028"})
			m.From = from
			m.WithFlags(f)
			want = append(want, m)
			n.Pub.Publish("chat:dm:p_1:p_2", m)
		}
	}
	raw, err := comet.RawMessage("room.diff", []byte(`{"t":1,"e":[[1,2.5,"x"]]}`))
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, raw.WithFlags(comet.Droppable))
	n.Pub.Publish("chat:dm:p_1:p_2", raw)
	fence(t, n, "chat:dm:p_1:p_2", s)
	got := s.Messages()
	if len(got) != len(want)+1 {
		t.Fatalf("got %d messages, want %d and the fence", len(got), len(want))
	}
	for i, w := range want {
		if !same(got[i], w) {
			t.Fatalf("message %d: got {%q %s %q %d}, want {%q %s %q %d}", i,
				got[i].Type, got[i].Frame, got[i].From, got[i].Flags, w.Type, w.Frame, w.From, w.Flags)
		}
		if !bytes.Equal(got[i].Data(), w.Data()) {
			t.Fatalf("message %d: Data() = %s, want %s", i, got[i].Data(), w.Data())
		}
	}
}

func closeRemoves(t *testing.T, n Nodes) {
	a, c := &Sink{}, &Sink{}
	sa := n.Sub.Subscribe("t", a)
	sc := n.Sub.Subscribe("t", c)
	if sa.Topic() != "t" {
		t.Fatalf("Topic() = %q", sa.Topic())
	}
	settle(t, n)
	sa.Close()
	sa.Close() // idempotent
	if got := n.Sub.Subscribers("t"); got != 1 {
		t.Fatalf("Subscribers = %d after one of two closed", got)
	}
	n.Pub.Publish("t", comet.MustMessage("x", 1))
	fence(t, n, "t", c)
	if len(a.Messages()) != 0 || len(c.Messages()) != 2 {
		t.Fatalf("after close: a got %d, c got %d; want 0 and 2", len(a.Messages()), len(c.Messages()))
	}
	sc.Close()
	if got := n.Sub.Subscribers("t"); got != 0 {
		t.Fatalf("Subscribers = %d after every subscription closed", got)
	}
	// The topic comes back on the next subscribe.
	n.Sub.Subscribe("t", a)
	settle(t, n)
	m := comet.MustMessage("x", 2)
	n.Pub.Publish("t", m)
	fence(t, n, "t", a)
	if ms := a.Messages(); len(ms) != 2 || !same(ms[0], m) {
		t.Fatalf("resubscribed sink got %d messages, want the message and the fence", len(ms))
	}
	if len(c.Messages()) != 2 {
		t.Fatal("a closed subscription received again")
	}
}

func closeInAnyOrderKeepsTheRest(t *testing.T, n Nodes) {
	for _, tc := range []struct {
		name  string
		close func(i int) bool
	}{
		{"front half", func(i int) bool { return i < 50 }},
		{"back half", func(i int) bool { return i >= 50 }},
		{"every third", func(i int) bool { return i%3 == 0 }},
		{"all", func(i int) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "lobby:" + tc.name
			witness := &Sink{}
			n.Sub.Subscribe(topic, witness)
			sinks := make([]*Sink, 100)
			subs := make([]comet.Subscription, 100)
			for i := range sinks {
				sinks[i] = &Sink{}
				subs[i] = n.Sub.Subscribe(topic, sinks[i])
			}
			settle(t, n)
			want := 1
			for i, sub := range subs {
				if tc.close(i) {
					sub.Close()
					sub.Close()
				} else {
					want++
				}
			}
			if got := n.Sub.Subscribers(topic); got != want {
				t.Fatalf("Subscribers = %d, want %d", got, want)
			}
			n.Pub.Publish(topic, comet.MustMessage("x", 1))
			fence(t, n, topic, witness)
			for i, s := range sinks {
				wantN := 2
				if tc.close(i) {
					wantN = 0
				}
				if got := len(s.Messages()); got != wantN {
					t.Fatalf("sink %d got %d messages, want %d", i, got, wantN)
				}
			}
		})
	}
}

// topicsAreSeparate publishes on topics whose names differ only in bytes a
// distributed bus must escape.
func topicsAreSeparate(t *testing.T, n Nodes) {
	topics := []string{"", "a", "a:b", "a_3Ab", "a.b", "a b", "a*", "*", ">", "a.>", "_", "__", "ü", "a:b:"}
	sinks := make([]*Sink, len(topics))
	for i, tp := range topics {
		sinks[i] = &Sink{}
		n.Sub.Subscribe(tp, sinks[i])
	}
	settle(t, n)
	for i, tp := range topics {
		n.Pub.Publish(tp, comet.MustMessage("x", tp))
		fence(t, n, tp, sinks[i])
	}
	for i, s := range sinks {
		ms := s.Messages()
		if len(ms) != 2 || !same(ms[0], comet.MustMessage("x", topics[i])) {
			t.Fatalf("topic %q: got %d messages, want its own message and its fence", topics[i], len(ms))
		}
	}
}

func orderPerPublisher(t *testing.T, n Nodes) {
	a, b := &Sink{}, &Sink{}
	n.Sub.Subscribe("room:r_1", a)
	n.Sub.Subscribe("room:r_1", b)
	settle(t, n)
	const count = 1000
	for i := 0; i < count; i++ {
		n.Pub.Publish("room:r_1", comet.MustMessage("x", i))
	}
	fence(t, n, "room:r_1", a, b)
	for _, s := range []*Sink{a, b} {
		ms := s.Messages()
		if len(ms) != count+1 {
			t.Fatalf("got %d messages, want %d and the fence", len(ms), count)
		}
		for i, m := range ms[:count] {
			if got := string(m.Data()); got != strconv.Itoa(i) {
				t.Fatalf("message %d is %s: out of order", i, got)
			}
		}
	}
}

func concurrentSubscribePublishClose(t *testing.T, n Nodes) {
	stable := &Sink{}
	n.Sub.Subscribe("t", stable)
	settle(t, n)
	const publishes = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < publishes; i++ {
			n.Pub.Publish("t", comet.MustMessage("x", i))
		}
	}()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := &Sink{}
				sub := n.Sub.Subscribe(fmt.Sprintf("t%d", i%3), s)
				sub2 := n.Sub.Subscribe("t", s)
				sub.Close()
				sub2.Close()
			}
		}()
	}
	wg.Wait()
	fence(t, n, "t", stable)
	ms := stable.Messages()
	if len(ms) != publishes+1 {
		t.Fatalf("stable subscriber got %d of %d publishes", len(ms)-1, publishes)
	}
	for i, m := range ms[:publishes] {
		if got := string(m.Data()); got != strconv.Itoa(i) {
			t.Fatalf("message %d is %s: out of order", i, got)
		}
	}
	for i := 0; i < 3; i++ {
		if got := n.Sub.Subscribers(fmt.Sprintf("t%d", i)); got != 0 {
			t.Fatalf("t%d has %d subscribers after every one closed", i, got)
		}
	}
}
