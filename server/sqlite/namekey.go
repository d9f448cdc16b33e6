package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"comet"
)

// backfillNameKeys keys the claims whose name_key is NULL: those made before
// migration 0002, and every claim after 0003 cleared the keys to re-key them
// with the skeleton-based comet.NameKey, which SQL alone cannot compute.
// Oldest claims first: when two names share a key, the older claim gets it
// and the newer one keeps a NULL key, still found by its exact NOCASE name,
// and is logged. It returns how many rows it keyed.
func backfillNameKeys(ctx context.Context, w *sqlx.DB, log *slog.Logger) (int, error) {
	var rows []struct {
		Name     string `db:"name"`
		PlayerID string `db:"player_id"`
	}
	if err := w.SelectContext(ctx, &rows,
		`SELECT name, player_id FROM claimed_names WHERE name_key IS NULL ORDER BY claimed_at, rowid`); err != nil {
		return 0, fmt.Errorf("backfill claimed name keys: %w", err)
	}
	keyed := 0
	for _, r := range rows {
		key := comet.NameKey(r.Name)
		var owner string
		err := w.GetContext(ctx, &owner, `SELECT player_id FROM claimed_names WHERE name_key = ?`, key)
		switch {
		case err == nil:
			log.Warn("sqlite: claimed name looks like an older claim; only its exact name (ASCII case-insensitive) finds it",
				"name", r.Name, "player", r.PlayerID, "older_claim_by", owner)
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return keyed, fmt.Errorf("backfill claimed name keys: %w", err)
		}
		if _, err := w.ExecContext(ctx, `UPDATE claimed_names SET name_key = ? WHERE player_id = ? AND name_key IS NULL`,
			key, r.PlayerID); err != nil {
			return keyed, fmt.Errorf("backfill claimed name key of %q: %w", r.Name, err)
		}
		keyed++
	}
	return keyed, nil
}
