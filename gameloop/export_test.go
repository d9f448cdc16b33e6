package gameloop

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
