package gameloop

import "sync"

// MaxInputsPerTick is how many inputs one player may queue between two ticks;
// the rest are dropped and counted. Browsers send on change, a few per tick
// at most, so only a misbehaving client hits it.
const MaxInputsPerTick = 8

// queued is one decoded input waiting for the next tick; raw is kept for the
// match recording.
type queued struct {
	num uint32
	in  any
	raw []byte
}

// inputQueue collects inputs from any goroutine for the room goroutine. Push
// never blocks: it takes a short lock and drops what is over the per-player
// budget.
type inputQueue struct {
	mu      sync.Mutex
	pending []queued
	counts  map[uint32]int // inputs queued this tick per player
	members map[string]uint32
	dropped uint64
}

func newInputQueue() *inputQueue {
	return &inputQueue{counts: make(map[uint32]int), members: make(map[string]uint32)}
}

// admit lets playerID's inputs in as player num; forget stops them.
func (q *inputQueue) admit(playerID string, num uint32) {
	q.mu.Lock()
	q.members[playerID] = num
	q.mu.Unlock()
}

func (q *inputQueue) forget(playerID string) {
	q.mu.Lock()
	delete(q.members, playerID)
	q.mu.Unlock()
}

// push queues in for playerID; it reports false when the player is not an
// active player of the room, and dropped when the budget was exhausted.
func (q *inputQueue) push(playerID string, in any, raw []byte) (ok, dropped bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	num, ok := q.members[playerID]
	if !ok {
		return false, false
	}
	if q.counts[num] >= MaxInputsPerTick {
		q.dropped++
		return true, true
	}
	q.counts[num]++
	q.pending = append(q.pending, queued{num: num, in: in, raw: raw})
	return true, false
}

// drain moves the queued inputs into dst (reused between ticks) and resets
// the budgets.
func (q *inputQueue) drain(dst []queued) []queued {
	q.mu.Lock()
	dst = append(dst[:0], q.pending...)
	clear(q.pending)
	q.pending = q.pending[:0]
	clear(q.counts)
	q.mu.Unlock()
	return dst
}
