package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"comet"
)

// SaveMatch stores r and its players, and adds its human players' results to
// the leaderboard unless r was aborted, in one transaction. A player is a bot
// if its Bot flag is set or its id starts with "bot-". EINVALID if r has no
// id or mode or a player appears twice or without id; ECONFLICT if a match
// with r.ID was already saved.
func (db *DB) SaveMatch(ctx context.Context, r *comet.MatchResult) error {
	switch {
	case r == nil || r.ID == "":
		return comet.Errorf(comet.EINVALID, "match id is required")
	case r.Mode == "":
		return comet.Errorf(comet.EINVALID, "match %q: mode is required", r.ID)
	}
	seen := make(map[string]bool, len(r.Players))
	stats := make([][]byte, len(r.Players))
	for i, p := range r.Players {
		if p.PlayerID == "" {
			return comet.Errorf(comet.EINVALID, "match %q: player %d has no id", r.ID, i)
		}
		if seen[p.PlayerID] {
			return comet.Errorf(comet.EINVALID, "match %q: player %q listed twice", r.ID, p.PlayerID)
		}
		seen[p.PlayerID] = true
		if len(p.Stats) > 0 {
			b, err := json.Marshal(p.Stats)
			if err != nil {
				return fmt.Errorf("save match %q: stats of %q: %w", r.ID, p.PlayerID, err)
			}
			stats[i] = b
		}
	}
	// Leaderboard rows are updated in player id order, so two matches
	// sharing players lock their rows in the same order and never deadlock.
	order := make([]int, len(r.Players))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(r.Players[a].PlayerID, r.Players[b].PlayerID) })

	return db.write(ctx, "save match "+r.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO matches (id, room, mode, seed, started, ended, aborted)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			r.ID, r.RoomID, r.Mode, r.Seed, ms(r.Started), ms(r.Ended), r.Aborted)
		if violates(err, uniqueViolation, "matches_pkey") {
			return comet.Errorf(comet.ECONFLICT, "match %q already saved", r.ID)
		}
		if err != nil {
			return err
		}
		var batch pgx.Batch
		batch.Queue(`DELETE FROM match_starts WHERE id = $1`, r.ID)
		for _, i := range order {
			p := r.Players[i]
			bot := p.Bot || strings.HasPrefix(p.PlayerID, "bot-")
			batch.Queue(`INSERT INTO match_players (match_id, player_id, name, score, rank, bot, stats)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.ID, p.PlayerID, p.Name, p.Score, p.Rank, bot, stats[i])
			if bot || r.Aborted {
				continue
			}
			win := 0
			if p.Rank == 1 {
				win = 1
			}
			batch.Queue(`INSERT INTO leaderboard (mode, player_id, wins, best_score, games)
				VALUES ($1, $2, $3, $4, 1)
				ON CONFLICT (mode, player_id) DO UPDATE SET
					wins = leaderboard.wins + excluded.wins,
					best_score = GREATEST(leaderboard.best_score, excluded.best_score),
					games = leaderboard.games + 1`, r.Mode, p.PlayerID, win, p.Score)
		}
		return tx.SendBatch(ctx, &batch).Close()
	})
}

// Leaderboard ranks the claimed players of q.Mode over its matches that were
// not aborted, all of them or those ended at or after q.Since: by wins, then
// best score, then games, then id. All time reads the totals SaveMatch keeps;
// a period sums its matches. EINVALID if q.Limit is not positive; it is capped
// at MaxLimit.
func (db *DB) Leaderboard(ctx context.Context, q comet.LeaderQuery) ([]comet.LeaderRow, error) {
	limit, err := checkLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	var rows pgx.Rows
	if q.Since.IsZero() {
		rows, err = db.pool.Query(ctx, `SELECT b.player_id, p.name, b.wins, b.best_score, b.games
			FROM leaderboard b
			JOIN claimed_names c ON c.player_id = b.player_id
			JOIN players p ON p.id = b.player_id
			WHERE b.mode = $1
			ORDER BY b.wins DESC, b.best_score DESC, b.games DESC, b.player_id
			LIMIT $2`, q.Mode, limit)
	} else {
		rows, err = db.pool.Query(ctx, `SELECT mp.player_id, p.name,
				count(*) FILTER (WHERE mp.rank = 1)::int AS wins, max(mp.score) AS best_score, count(*)::int AS games
			FROM matches m
			JOIN match_players mp ON mp.match_id = m.id AND NOT mp.bot
			JOIN claimed_names c ON c.player_id = mp.player_id
			JOIN players p ON p.id = mp.player_id
			WHERE m.mode = $1 AND m.ended >= $2 AND NOT m.aborted
			GROUP BY mp.player_id, p.name
			ORDER BY wins DESC, best_score DESC, games DESC, mp.player_id
			LIMIT $3`, q.Mode, q.Since, limit)
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("leaderboard of %q", q.Mode), err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (comet.LeaderRow, error) {
		var r comet.LeaderRow
		err := row.Scan(&r.PlayerID, &r.Name, &r.Wins, &r.BestScore, &r.Games)
		return r, err
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("leaderboard of %q", q.Mode), err)
	}
	if out == nil {
		out = []comet.LeaderRow{}
	}
	return out, nil
}

// PlayerMatches lists up to limit (capped at MaxLimit) of a player's most
// recent matches, aborted ones included, newest first, each with its number
// of players. An unknown player has none. EINVALID if limit is not positive.
func (db *DB) PlayerMatches(ctx context.Context, playerID string, limit int) ([]comet.PlayerMatch, error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT m.id, m.mode, m.ended, mp.score, mp.rank, m.aborted,
			(SELECT count(*) FROM match_players c WHERE c.match_id = m.id) AS players
		FROM match_players mp JOIN matches m ON m.id = mp.match_id
		WHERE mp.player_id = $1
		ORDER BY m.ended DESC, m.id DESC
		LIMIT $2`, playerID, limit)
	if err != nil {
		return nil, wrap(fmt.Sprintf("matches of %q", playerID), err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (comet.PlayerMatch, error) {
		var m comet.PlayerMatch
		err := row.Scan(&m.MatchID, &m.Mode, &m.Ended, &m.Score, &m.Rank, &m.Aborted, &m.Players)
		m.Ended = m.Ended.UTC()
		return m, err
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("matches of %q", playerID), err)
	}
	if out == nil {
		out = []comet.PlayerMatch{}
	}
	return out, nil
}
