package server

import (
	"context"
	"sync"

	"comet"
)

// lastResults keeps each open room's last match result, so a tab reset
// while its room shows the result (the intermission) gets match.result
// again. It sits between the game rooms and the store: every result the
// rooms save (every match a player took part in) passes through SaveMatch.
type lastResults struct {
	comet.MatchStore
	mu     sync.Mutex
	byRoom map[string]*comet.MatchResult
}

func newLastResults(st comet.MatchStore) *lastResults {
	return &lastResults{MatchStore: st, byRoom: make(map[string]*comet.MatchResult)}
}

// SaveMatch keeps r as its room's last result, then stores it.
func (l *lastResults) SaveMatch(ctx context.Context, r *comet.MatchResult) error {
	if !r.Aborted {
		l.mu.Lock()
		l.byRoom[r.RoomID] = r
		l.mu.Unlock()
	}
	return l.MatchStore.SaveMatch(ctx, r)
}

// of returns the room's last result, or nil.
func (l *lastResults) of(roomID string) *comet.MatchResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byRoom[roomID]
}

// forget drops a closed room's result.
func (l *lastResults) forget(roomID string) {
	l.mu.Lock()
	delete(l.byRoom, roomID)
	l.mu.Unlock()
}
