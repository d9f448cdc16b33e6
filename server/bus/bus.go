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
	// subs is dense so a publish walks memory in order; each subscription
	// knows its index, so removal swaps the last one into its place.
	subs  []*subscription
	index map[comet.Sink]*subscription // one subscription per sink
	gone  bool                         // emptied and dropped from the bus: Subscribe must retry
}

type subscription struct {
	bus   *Bus
	topic *topic
	sink  comet.Sink
	idx   int // in topic.subs; -1 once closed
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
	for _, s := range t.subs {
		s.sink.Send(m)
	}
}

// Subscribe adds s to the topic name, creating the topic on first use.
// Subscribing a sink already on the topic returns its subscription.
func (b *Bus) Subscribe(name string, s comet.Sink) comet.Subscription {
	for {
		b.mu.Lock()
		t := b.topics[name]
		if t == nil {
			t = &topic{name: name}
			b.topics[name] = t
		}
		b.mu.Unlock()

		t.mu.Lock()
		if t.gone { // removed by the last Close between our two locks
			t.mu.Unlock()
			continue
		}
		if sub := t.index[s]; sub != nil {
			t.mu.Unlock()
			return sub
		}
		if t.index == nil {
			t.index = make(map[comet.Sink]*subscription)
		}
		sub := &subscription{bus: b, topic: t, sink: s, idx: len(t.subs)}
		t.subs = append(t.subs, sub)
		t.index[s] = sub
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
// Closing twice is a no-op.
func (s *subscription) Close() {
	t := s.topic
	t.mu.Lock()
	if s.idx < 0 {
		t.mu.Unlock()
		return
	}
	last := len(t.subs) - 1
	moved := t.subs[last]
	t.subs[s.idx], moved.idx = moved, s.idx
	t.subs[last] = nil
	t.subs = t.subs[:last]
	delete(t.index, s.sink)
	s.idx = -1
	empty := len(t.subs) == 0
	if empty {
		t.gone = true
		t.subs, t.index = nil, nil
	} else if cap(t.subs) > 64 && len(t.subs) < cap(t.subs)/4 {
		t.subs = append([]*subscription(nil), t.subs...) // give back a crowd's array
	}
	t.mu.Unlock()
	if empty {
		s.bus.mu.Lock()
		if s.bus.topics[t.name] == t {
			delete(s.bus.topics, t.name)
		}
		s.bus.mu.Unlock()
	}
}
