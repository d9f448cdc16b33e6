package sqlite

import (
	"context"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

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
	return db.write(ctx, "start match "+m.ID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO match_starts (id, room, mode, started)
			SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM matches WHERE id = ?)`,
			m.ID, m.RoomID, m.Mode, millis(m.Started), m.ID)
		return err
	})
}

// AbortUnfinished saves each recorded match whose room is not in keepRooms
// as aborted, ended at ended, without players, and drops the records.
func (db *DB) AbortUnfinished(ctx context.Context, ended time.Time, keepRooms []string) (int, error) {
	n := 0
	err := db.write(ctx, "abort unfinished matches", func(tx *sqlx.Tx) error {
		n = 0
		var rows []struct {
			ID      string `db:"id"`
			Room    string `db:"room"`
			Mode    string `db:"mode"`
			Started int64  `db:"started"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT id, room, mode, started FROM match_starts ORDER BY id`); err != nil {
			return err
		}
		for _, r := range rows {
			if slices.Contains(keepRooms, r.Room) {
				continue
			}
			res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO matches (id, room, mode, seed, started, ended, aborted)
				VALUES (?, ?, ?, 0, ?, ?, 1)`, r.ID, r.Room, r.Mode, r.Started, max(r.Started, millis(ended)))
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				n++
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM match_starts WHERE id = ?`, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
