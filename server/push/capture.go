package push

import (
	"slices"
	"sync"

	"comet"
)

// maxCaptured bounds what one Capture keeps: a take lasts one or two
// round trips between nodes, in which a topic carries a handful of lines;
// past the bound the capture keeps nothing more and says so (Close's
// overflowed).
const maxCaptured = 1024

// A Capture holds what the bus delivers on a session's topics while the
// session is being taken from another node. Without it a line published
// between the old home's save and the new home's subscription would reach
// neither: the old home ended the session, the new one had not subscribed
// it yet. Open it before asking for the session, and hand it to
// RestoreCaptured, which closes it; Close it instead if the take fails.
type Capture struct {
	after  uint64     // the old home's seq when the capture was asked for
	mu     sync.Mutex // leaf: send runs under the bus topic lock
	subs   []comet.Subscription
	msgs   []captured
	over   bool
	closed bool
}

// captured is one line a Capture kept, with the topic it came on.
type captured struct {
	topic string
	m     *comet.Message
}

// captureSink is a Capture's subscriber to one topic.
type captureSink struct {
	c     *Capture
	topic string
}

func (k captureSink) Send(m *comet.Message) { k.c.send(k.topic, m) }

// Capture subscribes a new Capture to topics on the hub's bus. after is
// the seq the old home had numbered when it listed the topics, before the
// capture began: only its events after that can be lines the capture holds
// too (an older event with the same frame, a state repeated since,
// is another line). A bus whose subscriptions take effect later (another
// process's server) must be waited on by the caller before the take
// begins.
func (h *Hub) Capture(topics []string, after uint64) *Capture {
	c := &Capture{after: after}
	subs := make([]comet.Subscription, 0, len(topics))
	for _, t := range topics {
		subs = append(subs, h.bus.Subscribe(t, captureSink{c, t}))
	}
	c.mu.Lock()
	c.subs = subs
	c.mu.Unlock()
	return c
}

// send keeps m, in the order the bus delivered it.
func (c *Capture) send(topic string, m *comet.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed, c.over:
	case len(c.msgs) >= maxCaptured:
		c.over = true
	default:
		c.msgs = append(c.msgs, captured{topic, m})
	}
}

// Close ends the capture's subscriptions and returns what it kept. It is
// safe to call more than once; later calls return nothing.
func (c *Capture) Close() (msgs []captured, overflowed bool) {
	c.mu.Lock()
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false
	}
	c.closed = true
	msgs, c.msgs = c.msgs, nil
	return msgs, c.over
}

// RestoreCaptured is Restore for a session taken from another node while c
// held its topics' lines: the session gets, after its saved events, each
// line captured on one of sv.Topics that the old home had not numbered (by
// frame: the bus carries a frame unchanged, so a line the old home
// numbered after the capture's seq has the same bytes in sv.Events), then
// what reached the session
// once subscribed that c did not already hold (the same *Message: one
// delivery on this node). The order is the order this node's bus
// delivered them. overflowed reports a capture that ran past its bound:
// lines after that point may be missing. A nil c is plain Restore.
func (h *Hub) RestoreCaptured(sv SavedSession, state any, c *Capture) (s *Session, overflowed bool, err error) {
	if c == nil {
		s, err := h.Restore(sv, state)
		return s, false, err
	}
	s, err = h.restore(sv, state, true)
	if err != nil {
		c.Close()
		return nil, false, err
	}
	kept, overflowed := c.Close() // the session is subscribed: c's part ends here
	numbered := make(map[string]struct{})
	for _, e := range sv.Events {
		if e.Seq > c.after {
			numbered[string(e.Frame)] = struct{}{}
		}
	}
	seen := make(map[*comet.Message]struct{}, len(kept))
	for _, k := range kept {
		seen[k.m] = struct{}{}
		if _, ok := numbered[string(k.m.Frame)]; !ok && slices.Contains(sv.Topics, k.topic) {
			s.deliver(k.m)
		}
	}
	// What the bus delivered to the session meanwhile was held (filtered
	// already, by Send); take it in order until none is left, then let Send
	// number directly.
	for {
		s.mu.Lock()
		held := *s.hold
		if len(held) == 0 {
			s.hold = nil
			s.mu.Unlock()
			return s, overflowed, nil
		}
		*s.hold = make([]*comet.Message, 0, 4)
		s.mu.Unlock()
		for _, m := range held {
			if _, dup := seen[m]; dup {
				continue
			}
			if _, ok := numbered[string(m.Frame)]; !ok {
				s.queueAs(m, true)
			}
		}
	}
}
