package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"

	"comet"
)

// SaveHandover stores blob as the hand-over, replacing any older one.
func (db *DB) SaveHandover(ctx context.Context, blob []byte) error {
	if len(blob) == 0 {
		return comet.Errorf(comet.EINVALID, "an empty hand-over")
	}
	return db.write(ctx, "save handover", func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO handover (id, blob, saved_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET blob = excluded.blob, saved_at = excluded.saved_at`, blob, db.nowMillis())
		return err
	})
}

// TakeHandover returns the hand-over and deletes it in one write
// transaction; ENOTFOUND when there is none.
func (db *DB) TakeHandover(ctx context.Context) ([]byte, error) {
	var blob []byte
	err := db.write(ctx, "take handover", func(tx *sqlx.Tx) error {
		err := tx.QueryRowxContext(ctx, `DELETE FROM handover WHERE id = 1 RETURNING blob`).Scan(&blob)
		if errors.Is(err, sql.ErrNoRows) {
			return comet.Errorf(comet.ENOTFOUND, "no hand-over")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return blob, nil
}
