package natsbus

import "sync"

// outbox is the bounded queue between Publish and the goroutine that hands
// messages to nats.go, so a publisher never waits on the connection.
type outbox struct {
	mu     sync.Mutex
	q      []outMsg
	bytes  int
	limit  int
	closed bool
	wake   chan struct{}
}

type outMsg struct {
	subj string
	data []byte
	mark chan struct{} // a Sync marker: closed when reached
}

func (o *outbox) init(limit int) {
	o.limit = limit
	o.wake = make(chan struct{}, 1)
}

// push queues m; false if the queue is full or closed. Markers are never
// refused for size.
func (o *outbox) push(m outMsg) bool {
	n := len(m.subj) + len(m.data)
	o.mu.Lock()
	if o.closed || m.mark == nil && o.bytes+n > o.limit {
		o.mu.Unlock()
		return false
	}
	o.q = append(o.q, m)
	o.bytes += n
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// close refuses further pushes; take returns what is left, then false.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take waits for queued messages and swaps them into buf; ok is false once
// the outbox is closed and this is the last of it.
func (o *outbox) take(buf []outMsg) (batch []outMsg, ok bool) {
	for {
		o.mu.Lock()
		if len(o.q) > 0 || o.closed {
			batch, o.q = o.q, buf
			o.bytes = 0
			closed := o.closed
			o.mu.Unlock()
			return batch, !closed
		}
		o.mu.Unlock()
		<-o.wake
	}
}
