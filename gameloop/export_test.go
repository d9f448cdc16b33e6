package gameloop

// HandRoom is a room driven by hand, tick by tick, without its goroutine:
// for benchmarks and deterministic engine tests in package gameloop_test.
type HandRoom struct{ r *room }

// NewHandRoom builds a room of mode (max players, 0: the default).
func NewHandRoom(m *Manager, mode string, max int) *HandRoom {
	return &HandRoom{r: m.newRoom(mode, mode, max, false, "")}
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

// Resync sends a member a fresh snapshot, as Manager.Resync does.
func (h *HandRoom) Resync(id string) { h.r.resync(h.r.members[id]) }

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

// Leave takes a member out as Manager.Leave does.
func (h *HandRoom) Leave(id string) { h.r.leave(h.r.members[id], true) }

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

// RoomExited is closed when the goroutine of open room id returns (nil for
// an unknown room): a test's fence for a room the watchdog abandoned.
func (m *Manager) RoomExited(id string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.byID[id]; r != nil {
		return r.exited
	}
	return nil
}
