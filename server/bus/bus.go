// Package bus is the in-process implementation of comet.Bus: topics held in
// memory, each publish handed to every subscriber's non-blocking Sink.
package bus

import (
	"sync"

	"comet"
)

// Bus is a comet.Bus for one process. The zero value is not usable; call New.
type Bus struct {
	mu     sync.RWMutex
	topics map[string]*topic
}

type topic struct {
	name string
	mu   sync.RWMutex
	subs map[comet.Sink]*subscription
}

type subscription struct {
	bus   *Bus
	topic *topic
	sink  comet.Sink
	once  sync.Once
}

var _ comet.Bus = (*Bus)(nil)

// New returns an empty bus.
func New() *Bus { return &Bus{topics: make(map[string]*topic)} }

// Publish hands m to every current subscriber of name. Sinks never block, so
// one slow session cannot delay the others.
func (b *Bus) Publish(name string, m *comet.Message) {
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	if t == nil {
		return
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for s := range t.subs {
		s.Send(m)
	}
}

// Subscribe adds s to the topic name, creating the topic on first use.
func (b *Bus) Subscribe(name string, s comet.Sink) comet.Subscription {
	for {
		b.mu.Lock()
		t := b.topics[name]
		if t == nil {
			t = &topic{name: name, subs: make(map[comet.Sink]*subscription)}
			b.topics[name] = t
		}
		b.mu.Unlock()

		t.mu.Lock()
		if t.subs == nil { // removed by the last Close between our two locks
			t.mu.Unlock()
			continue
		}
		sub := t.subs[s]
		if sub == nil {
			sub = &subscription{bus: b, topic: t, sink: s}
			t.subs[s] = sub
		}
		t.mu.Unlock()
		return sub
	}
}

// Subscribers reports how many sinks the topic has.
func (b *Bus) Subscribers(name string) int {
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	if t == nil {
		return 0
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.subs)
}

// Topic returns the subscription's topic name.
func (s *subscription) Topic() string { return s.topic.name }

// Close removes the subscription; the topic goes when its last one does.
func (s *subscription) Close() {
	s.once.Do(func() {
		t := s.topic
		t.mu.Lock()
		if t.subs[s.sink] == s {
			delete(t.subs, s.sink)
		}
		empty := len(t.subs) == 0
		if empty {
			t.subs = nil // tells a racing Subscribe to retry with a fresh topic
		}
		t.mu.Unlock()
		if empty {
			s.bus.mu.Lock()
			if s.bus.topics[t.name] == t {
				delete(s.bus.topics, t.name)
			}
			s.bus.mu.Unlock()
		}
	})
}
