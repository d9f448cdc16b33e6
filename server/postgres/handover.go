package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"comet"
)

// SaveHandover stores blob as the hand-over, replacing any older one.
func (db *DB) SaveHandover(ctx context.Context, blob []byte) error {
	if len(blob) == 0 {
		return comet.Errorf(comet.EINVALID, "an empty hand-over")
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO handover (id, blob, saved_at) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET blob = EXCLUDED.blob, saved_at = EXCLUDED.saved_at`, blob, db.nowMS())
	if err != nil {
		return wrap("save handover", err)
	}
	return nil
}

// TakeHandover returns the hand-over and deletes it in one statement;
// ENOTFOUND when there is none.
func (db *DB) TakeHandover(ctx context.Context) ([]byte, error) {
	var blob []byte
	err := db.pool.QueryRow(ctx, `DELETE FROM handover WHERE id = 1 RETURNING blob`).Scan(&blob)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, comet.Errorf(comet.ENOTFOUND, "no hand-over")
	}
	if err != nil {
		return nil, wrap("take handover", err)
	}
	return blob, nil
}
