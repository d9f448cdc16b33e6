package modetest

import (
	"fmt"
	"slices"
	"sync"

	"comet"
	"comet/gameloop"
)

// Bus is a minimal in-process comet.Bus for rooms under test.
type Bus struct {
	mu     sync.Mutex
	topics map[string][]comet.Sink
}

// NewBus returns an empty Bus.
func NewBus() *Bus { return &Bus{topics: make(map[string][]comet.Sink)} }

// Publish sends m to every sink subscribed to topic.
func (b *Bus) Publish(topic string, m *comet.Message) {
	b.mu.Lock()
	sinks := slices.Clone(b.topics[topic])
	b.mu.Unlock()
	for _, s := range sinks {
		s.Send(m)
	}
}

// Subscribe adds s to topic.
func (b *Bus) Subscribe(topic string, s comet.Sink) comet.Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Contains(b.topics[topic], s) {
		b.topics[topic] = append(b.topics[topic], s)
	}
	return &sub{b: b, topic: topic, s: s}
}

// Subscribers counts topic's sinks.
func (b *Bus) Subscribers(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.topics[topic])
}

type sub struct {
	b     *Bus
	topic string
	s     comet.Sink
}

func (s *sub) Topic() string { return s.topic }
func (s *sub) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.topics[s.topic] = slices.DeleteFunc(s.b.topics[s.topic], func(x comet.Sink) bool { return x == s.s })
}

// Sink is a session under test: it keeps every message and rebuilds its view
// from room.snapshot and room.diff as a browser does.
type Sink struct {
	mu      sync.Mutex
	msgs    []*comet.Message
	replica gameloop.Replica
	err     error
}

// NewSink returns an empty Sink.
func NewSink() *Sink { return &Sink{} }

// Send records m and applies views to the replica.
func (s *Sink) Send(m *comet.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	var err error
	switch m.Type {
	case "room.snapshot":
		err = s.replica.ApplySnapshot(m.Data())
	case "room.diff":
		err = s.replica.ApplyDiff(m.Data())
	}
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("apply %s #%d: %w", m.Type, len(s.msgs), err)
	}
}

// Err is the first view that did not apply.
func (s *Sink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Replica is a copy of the view rebuilt so far.
func (s *Sink) Replica() gameloop.Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.replica
	return r
}

// Count is how many messages of type typ arrived.
func (s *Sink) Count(typ string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if m.Type == typ {
			n++
		}
	}
	return n
}

// Last is the data of the last message of type typ.
func (s *Sink) Last(typ string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.msgs) - 1; i >= 0; i-- {
		if s.msgs[i].Type == typ {
			return s.msgs[i].Data(), true
		}
	}
	return nil, false
}

// Types lists the types of the messages received so far, in order.
func (s *Sink) Types() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.Type
	}
	return out
}
