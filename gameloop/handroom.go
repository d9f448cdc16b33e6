package gameloop

import "fmt"

// HandRoom is a room driven by hand, tick by tick, without its goroutine:
// for gameloop/modetest, benchmarks and deterministic engine tests. It is
// the real room (joins, seats, bots, lifecycle, views, recording); only time
// and the tick are the caller's.
type HandRoom struct{ r *room }

// NewHandRoom builds a room of mode (max players, 0: the default; never more
// than the mode's MaxPlayers). It panics on an unknown mode.
func NewHandRoom(m *Manager, mode string, max int) *HandRoom {
	if _, ok := m.modes[mode]; !ok {
		panic(fmt.Sprintf("gameloop: NewHandRoom: unknown mode %q", mode))
	}
	return &HandRoom{r: m.newRoom(mode, mode, max, false, "")}
}

// Max is the room's capacity.
func (h *HandRoom) Max() int { return h.r.max }

// Players counts the seated players, bots included.
func (h *HandRoom) Players() int { return len(h.r.players) }

// Match is the current match's id.
func (h *HandRoom) Match() string { return h.r.match.id }

// Digest is the SHA-256 (hex) of the current game's full state, as a
// recording's end line carries it.
func (h *HandRoom) Digest() string { return digestOf(h.r.match.game) }

// ViewOf is the view key of member id (0 for a spectator or an unknown id).
func (h *HandRoom) ViewOf(id string) ViewKey {
	mb := h.r.members[id]
	if mb == nil {
		return 0
	}
	return h.r.match.game.viewOf(mb.num)
}

// Queued reports whether member id waits for a seat.
func (h *HandRoom) Queued(id string) bool {
	mb := h.r.members[id]
	return mb != nil && mb.queued
}

func (h *HandRoom) Join(p Participant) error           { return h.r.join(p, false) }
func (h *HandRoom) Spectate(p Participant) error       { return h.r.join(p, true) }
func (h *HandRoom) Input(id string, data []byte) error { return h.r.input(id, data) }
func (h *HandRoom) Step()                              { h.r.step(h.r.mgr.clock.Now()) }
func (h *HandRoom) Tick() uint64                       { return h.r.tick }
func (h *HandRoom) State() string                      { return h.r.state }

// Start skips waiting and countdown.
func (h *HandRoom) Start() {
	h.r.match.started = h.r.mgr.clock.Now()
	h.r.setState(StateRunning, h.r.mgr.clock.Now())
}

// Resync asks for a member's fresh start at the next Step, as Manager.Resync.
func (h *HandRoom) Resync(id string) { h.r.queueResync(id) }

// SnapshotBytes is what sending every viewer a full snapshot of its current
// view would cost, in message bytes.
func (h *HandRoom) SnapshotBytes() int {
	r := h.r
	sizes := map[ViewKey]int{}
	total := 0
	for _, mb := range r.viewers {
		k := r.match.game.viewOf(mb.num)
		n, ok := sizes[k]
		if !ok {
			w := r.render(k)
			n = len(r.enc.snapshot(w, r.match.id).Frame)
			r.pool.release(w)
			sizes[k] = n
		}
		total += n
	}
	return total
}

// Groups is how many distinct messages the last tick encoded.
func (h *HandRoom) Groups() int { return h.r.lastGroups }

// Views counts the distinct views of the last tick's viewers.
func (h *HandRoom) Views() int {
	keys := map[ViewKey]bool{}
	for _, mb := range h.r.viewers {
		keys[mb.key] = true
	}
	return len(keys)
}

// Leave takes a member out as Manager.Leave does; a no-op for a stranger.
func (h *HandRoom) Leave(id string) {
	if mb := h.r.members[id]; mb != nil {
		h.r.leave(mb, true)
	}
}

// SnapshotFor is the snapshot data a viewer would get now, without sending
// it or touching its diff base.
func (h *HandRoom) SnapshotFor(id string) []byte {
	r := h.r
	mb := r.members[id]
	w := r.render(r.match.game.viewOf(mb.num))
	defer r.pool.release(w)
	return appendSnapshot(nil, w.tick, r.match.id, w)
}

// Close closes the room as its goroutine would.
func (h *HandRoom) Close(reason string) { h.r.close(reason) }
