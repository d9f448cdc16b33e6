package comet

import (
	"context"
	"time"
)

// MatchResult is a finished (or aborted) match as handed to storage.
type MatchResult struct {
	ID      string        `json:"id"`
	RoomID  string        `json:"room"`
	Mode    string        `json:"mode"`
	Seed    int64         `json:"seed"`
	Started time.Time     `json:"started"`
	Ended   time.Time     `json:"ended"`
	Aborted bool          `json:"aborted,omitempty"`
	Players []MatchPlayer `json:"players"`
}

// MatchPlayer is one participant's outcome. Bots have IDs starting "bot-" and
// are stored but never ranked on the leaderboard.
type MatchPlayer struct {
	PlayerID string         `json:"id"`
	Name     string         `json:"name"`
	Score    int            `json:"score"`
	Rank     int            `json:"rank"` // 1 = winner
	Bot      bool           `json:"bot,omitempty"`
	Stats    map[string]int `json:"stats,omitempty"`
}

// LeaderRow is one player's standing in one mode.
type LeaderRow struct {
	PlayerID  string `json:"id" db:"player_id"`
	Name      string `json:"name" db:"name"`
	Wins      int    `json:"wins" db:"wins"`
	BestScore int    `json:"best_score" db:"best_score"`
	Games     int    `json:"games" db:"games"`
}

// LeaderQuery selects a leaderboard: the claimed players of one mode, over
// its finished matches that ended at or after Since (all of them when zero).
type LeaderQuery struct {
	Mode  string
	Since time.Time
	Limit int
}

// PlayerMatch is one entry in a player's match history.
type PlayerMatch struct {
	MatchID string    `json:"match" db:"match_id"`
	Mode    string    `json:"mode" db:"mode"`
	Ended   time.Time `json:"ended" db:"ended"`
	Score   int       `json:"score" db:"score"`
	Rank    int       `json:"rank" db:"rank"`
	Players int       `json:"players" db:"players"`
	Aborted bool      `json:"aborted" db:"aborted"`
}

// MatchStore persists match results and answers the leaderboard queries.
type MatchStore interface {
	// SaveMatch stores r and its players in one transaction.
	SaveMatch(ctx context.Context, r *MatchResult) error
	// Leaderboard ranks the claimed players of q.Mode by wins, then best score.
	Leaderboard(ctx context.Context, q LeaderQuery) ([]LeaderRow, error)
	// PlayerMatches lists a player's most recent matches, newest first.
	PlayerMatches(ctx context.Context, playerID string, limit int) ([]PlayerMatch, error)
}

// MatchStart is a match under way, recorded when it starts so that one a
// crash interrupts is saved as aborted at the next start.
type MatchStart struct {
	ID      string
	RoomID  string
	Mode    string
	Started time.Time
}

// MatchStartStore records the matches under way.
type MatchStartStore interface {
	// StartMatch records that m began; SaveMatch drops the record. A match
	// already saved is not recorded again. EINVALID without an id or mode.
	StartMatch(ctx context.Context, m *MatchStart) error
	// AbortUnfinished saves every recorded match whose room is not in
	// keepRooms (rooms a restart hand-over carried on) as an aborted match
	// that ended at ended, without players, drops their records, and
	// returns how many it saved.
	AbortUnfinished(ctx context.Context, ended time.Time, keepRooms []string) (int, error)
}

// Store is everything Comet persists. The default implementation is SQLite
// (server/sqlite); server/postgres is the other.
type Store interface {
	PlayerStore
	ChatStore
	MatchStore
	MatchStartStore
	ModerationStore
	RetentionStore
	HandoverStore
	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	Close() error
}
