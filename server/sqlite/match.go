package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"comet"
)

// SaveMatch stores r and its players, and adds its human players' results to
// the leaderboard unless r was aborted, in one transaction. A player is stored
// as a bot if its Bot flag is set or its id starts with "bot-". EINVALID if r has
// no id or mode or a player appears twice or without id; ECONFLICT if a match
// with r.ID was already saved.
func (db *DB) SaveMatch(ctx context.Context, r *comet.MatchResult) error {
	switch {
	case r == nil || r.ID == "":
		return comet.Errorf(comet.EINVALID, "match id is required")
	case r.Mode == "":
		return comet.Errorf(comet.EINVALID, "match %q: mode is required", r.ID)
	}
	seen := make(map[string]bool, len(r.Players))
	stats := make([]any, len(r.Players))
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
			stats[i] = string(b)
		}
	}
	return db.write(ctx, "save match "+r.ID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO matches (id, room, mode, seed, started, ended, aborted)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.RoomID, r.Mode, r.Seed, millis(r.Started), millis(r.Ended), boolInt(r.Aborted))
		if uniqueOn(err, "matches.id") {
			return comet.Errorf(comet.ECONFLICT, "match %q already saved", r.ID)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM match_starts WHERE id = ?`, r.ID); err != nil {
			return err
		}
		insert, err := tx.PreparexContext(ctx, `INSERT INTO match_players (match_id, player_id, name, score, rank, bot, stats)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insert.Close()
		count, err := tx.PreparexContext(ctx, `INSERT INTO leaderboard (mode, player_id, wins, best_score, games)
			VALUES (?, ?, ?, ?, 1)
			ON CONFLICT (mode, player_id) DO UPDATE SET
				wins = wins + excluded.wins,
				best_score = max(best_score, excluded.best_score),
				games = games + 1`)
		if err != nil {
			return err
		}
		defer count.Close()
		for i, p := range r.Players {
			bot := p.Bot || strings.HasPrefix(p.PlayerID, "bot-")
			if _, err := insert.ExecContext(ctx, r.ID, p.PlayerID, p.Name, p.Score, p.Rank, boolInt(bot), stats[i]); err != nil {
				return fmt.Errorf("player %q: %w", p.PlayerID, err)
			}
			if bot || r.Aborted {
				continue
			}
			if _, err := count.ExecContext(ctx, r.Mode, p.PlayerID, boolInt(p.Rank == 1), p.Score); err != nil {
				return fmt.Errorf("leaderboard of %q: %w", p.PlayerID, err)
			}
		}
		return nil
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
	rows := []comet.LeaderRow{}
	if q.Since.IsZero() {
		err = db.r.SelectContext(ctx, &rows, `SELECT b.player_id, p.name, b.wins, b.best_score, b.games
			FROM leaderboard b
			JOIN claimed_names c ON c.player_id = b.player_id
			JOIN players p ON p.id = b.player_id
			WHERE b.mode = ?
			ORDER BY b.wins DESC, b.best_score DESC, b.games DESC, b.player_id
			LIMIT ?`, q.Mode, limit)
	} else {
		err = db.r.SelectContext(ctx, &rows, `SELECT mp.player_id, p.name,
				SUM(mp.rank = 1) AS wins, MAX(mp.score) AS best_score, COUNT(*) AS games
			FROM matches m
			JOIN match_players mp ON mp.match_id = m.id AND mp.bot = 0
			JOIN claimed_names c ON c.player_id = mp.player_id
			JOIN players p ON p.id = mp.player_id
			WHERE m.mode = ? AND m.ended >= ? AND m.aborted = 0
			GROUP BY mp.player_id, p.name
			ORDER BY wins DESC, best_score DESC, games DESC, mp.player_id
			LIMIT ?`, q.Mode, millis(q.Since), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("leaderboard of %q: %w", q.Mode, err)
	}
	return rows, nil
}

// PlayerMatches lists up to limit (capped at MaxLimit) of a player's most
// recent matches, aborted ones included, newest first, each with its number of
// players. An unknown player has no matches. EINVALID if limit is not positive.
func (db *DB) PlayerMatches(ctx context.Context, playerID string, limit int) ([]comet.PlayerMatch, error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		MatchID string `db:"match_id"`
		Mode    string `db:"mode"`
		Ended   int64  `db:"ended"`
		Score   int    `db:"score"`
		Rank    int    `db:"rank"`
		Players int    `db:"players"`
		Aborted bool   `db:"aborted"`
	}
	err = db.r.SelectContext(ctx, &rows, `SELECT m.id AS match_id, m.mode, m.ended, mp.score, mp.rank, m.aborted,
			(SELECT count(*) FROM match_players c WHERE c.match_id = m.id) AS players
		FROM match_players mp JOIN matches m ON m.id = mp.match_id
		WHERE mp.player_id = ?
		ORDER BY m.ended DESC, m.id DESC
		LIMIT ?`, playerID, limit)
	if err != nil {
		return nil, fmt.Errorf("matches of %q: %w", playerID, err)
	}
	out := make([]comet.PlayerMatch, len(rows))
	for i, r := range rows {
		out[i] = comet.PlayerMatch{
			MatchID: r.MatchID, Mode: r.Mode, Ended: fromMillis(r.Ended),
			Score: r.Score, Rank: r.Rank, Players: r.Players, Aborted: r.Aborted,
		}
	}
	return out, nil
}
