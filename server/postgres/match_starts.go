package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"comet"
)

// StartMatch records that m began (comet.MatchStartStore); SaveMatch drops
// the record. A match already saved, or already recorded, is left as it is.
func (db *DB) StartMatch(ctx context.Context, m *comet.MatchStart) error {
	switch {
	case m == nil || m.ID == "":
		return comet.Errorf(comet.EINVALID, "match id is required")
	case m.Mode == "":
		return comet.Errorf(comet.EINVALID, "match %q: mode is required", m.ID)
	}
	return db.write(ctx, "start match "+m.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO match_starts (id, room, mode, started)
			SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM matches WHERE id = $1)
			ON CONFLICT (id) DO NOTHING`,
			m.ID, m.RoomID, m.Mode, ms(m.Started))
		return err
	})
}

// AbortUnfinished saves each recorded match whose room is not in keepRooms
// as aborted, ended at ended, without players, and drops the records.
func (db *DB) AbortUnfinished(ctx context.Context, ended time.Time, keepRooms []string) (int, error) {
	n := 0
	err := db.write(ctx, "abort unfinished matches", func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT id, room, mode, started FROM match_starts ORDER BY id FOR UPDATE`)
		if err != nil {
			return err
		}
		type start struct {
			id, room, mode string
			started        time.Time
		}
		var starts []start
		for rows.Next() {
			var s start
			if err := rows.Scan(&s.id, &s.room, &s.mode, &s.started); err != nil {
				rows.Close()
				return err
			}
			starts = append(starts, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, s := range starts {
			if slices.Contains(keepRooms, s.room) {
				continue
			}
			end := ms(ended)
			if end.Before(s.started) {
				end = s.started
			}
			tag, err := tx.Exec(ctx, `INSERT INTO matches (id, room, mode, seed, started, ended, aborted)
				VALUES ($1, $2, $3, 0, $4, $5, true) ON CONFLICT (id) DO NOTHING`, s.id, s.room, s.mode, s.started, end)
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
			if _, err := tx.Exec(ctx, `DELETE FROM match_starts WHERE id = $1`, s.id); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
