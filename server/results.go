package server

import (
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"comet"
	"comet/gameloop"
)

// matchRecords sits between the game rooms and the store. It keeps each
// open room's last match result, so a tab reset while its room shows the
// result (the intermission) gets match.result again; and it records each
// match when it starts running (comet.MatchStartStore), so a match a crash
// interrupts is saved as aborted at the next start (AbortUnfinishedMatches).
// Every result the rooms save (every match a player took part in) passes
// through SaveMatch, which drops the start record in the same transaction.
type matchRecords struct {
	store comet.Store
	log   interface{ Error(string, ...any) }

	mu      sync.Mutex
	byRoom  map[string]*comet.MatchResult
	current map[string]string        // room → its current match (from the rooms' RecordTo)
	started map[string]string        // room → the match recorded as started
	writing map[string]chan struct{} // match → closed once its start record is written
}

func newMatchRecords(st comet.Store, log interface{ Error(string, ...any) }) *matchRecords {
	return &matchRecords{store: st, log: log, byRoom: make(map[string]*comet.MatchResult),
		current: make(map[string]string), started: make(map[string]string), writing: make(map[string]chan struct{})}
}

// SaveMatch keeps r as its room's last result, waits for the match's start
// record to be written (so the save drops it), then stores r.
func (l *matchRecords) SaveMatch(ctx context.Context, r *comet.MatchResult) error {
	l.mu.Lock()
	if !r.Aborted {
		l.byRoom[r.RoomID] = r
	}
	w := l.writing[r.ID]
	delete(l.writing, r.ID)
	l.mu.Unlock()
	if w != nil {
		select {
		case <-w:
		case <-ctx.Done():
		}
	}
	return l.store.SaveMatch(ctx, r)
}

func (l *matchRecords) Leaderboard(ctx context.Context, q comet.LeaderQuery) ([]comet.LeaderRow, error) {
	return l.store.Leaderboard(ctx, q)
}

func (l *matchRecords) PlayerMatches(ctx context.Context, playerID string, limit int) ([]comet.PlayerMatch, error) {
	return l.store.PlayerMatches(ctx, playerID, limit)
}

// recordTo wraps the rooms' RecordTo: it learns each room's current match.
func (l *matchRecords) recordTo(next func(roomID, matchID string) (io.WriteCloser, error)) func(roomID, matchID string) (io.WriteCloser, error) {
	return func(roomID, matchID string) (io.WriteCloser, error) {
		l.mu.Lock()
		l.current[roomID] = matchID
		l.mu.Unlock()
		if next == nil {
			return nil, nil
		}
		return next(roomID, matchID)
	}
}

// roomChanged records a match as started when its room starts running it,
// off the room's goroutine, and forgets a closed room.
func (l *matchRecords) roomChanged(info gameloop.RoomInfo, closed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if closed {
		delete(l.byRoom, info.ID)
		delete(l.current, info.ID)
		delete(l.started, info.ID)
		return
	}
	m := l.current[info.ID]
	if info.State != gameloop.StateRunning || m == "" || l.started[info.ID] == m {
		return
	}
	l.started[info.ID] = m
	done := make(chan struct{})
	l.writing[m] = done
	start := &comet.MatchStart{ID: m, RoomID: info.ID, Mode: info.Mode, Started: time.Now()}
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.store.StartMatch(ctx, start); err != nil {
			l.log.Error("record match start", "match", m, "room", info.ID, "err", err)
		}
	}()
}

// of returns the room's last result, or nil.
func (l *matchRecords) of(roomID string) *comet.MatchResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byRoom[roomID]
}

// AbortUnfinishedMatches saves the matches a previous process started and
// never finished (it crashed, or lost power) as aborted, except those of the
// rooms a restart hand-over carried on; call it after Restore, before
// serving. It returns how many it saved.
func (s *Server) AbortUnfinishedMatches(ctx context.Context) (int, error) {
	var keep []string
	for _, r := range s.games.Rooms() {
		keep = append(keep, r.ID)
	}
	slices.Sort(keep)
	n, err := s.store.AbortUnfinished(ctx, time.Now(), keep)
	if n > 0 {
		s.log.Info("unfinished matches of a previous process saved as aborted", "matches", n)
	}
	return n, err
}
