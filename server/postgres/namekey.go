package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"comet"
)

// rekeyClaims brings every claim's name_key in line with comet.NameKey, for
// when the key's rule changes: SQL cannot compute the key, so Open does it in
// Go. Oldest claims first; a claim whose new key an older claim already holds
// keeps its old key, is logged, and is still found by its exact name (see
// ClaimByName), so its owner can log in. It returns how many claims it
// re-keyed; with keys already current it reads the claims and writes nothing.
func rekeyClaims(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (int, error) {
	type claim struct{ key, name, player string }
	rows, err := pool.Query(ctx, `SELECT name_key, name, player_id FROM claimed_names ORDER BY claimed_at, player_id`)
	if err != nil {
		return 0, fmt.Errorf("re-key claimed names: %w", err)
	}
	claims, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claim, error) {
		var c claim
		err := r.Scan(&c.key, &c.name, &c.player)
		return c, err
	})
	if err != nil {
		return 0, fmt.Errorf("re-key claimed names: %w", err)
	}
	var stale []claim
	for _, c := range claims {
		if c.key != comet.NameKey(c.name) {
			stale = append(stale, c)
		}
	}
	// A claim may need a key another stale claim still holds and is about
	// to give up: go round until a pass moves nothing.
	keyed := 0
	for len(stale) > 0 {
		var left []claim
		for _, c := range stale {
			tag, err := pool.Exec(ctx, `UPDATE claimed_names SET name_key = $1
				WHERE player_id = $2 AND name_key = $3
					AND NOT EXISTS (SELECT 1 FROM claimed_names WHERE name_key = $1)`,
				comet.NameKey(c.name), c.player, c.key)
			if err != nil {
				return keyed, fmt.Errorf("re-key claimed name %q: %w", c.name, err)
			}
			if tag.RowsAffected() == 1 {
				keyed++
			} else {
				left = append(left, c)
			}
		}
		if len(left) == len(stale) {
			for _, c := range left {
				log.Warn("postgres: claimed name has the key of an older claim; only its exact name finds it",
					"name", c.name, "player", c.player)
			}
			break
		}
		stale = left
	}
	return keyed, nil
}

// rekeyTimeout bounds rekeyClaims when Open's context has no deadline.
const rekeyTimeout = time.Minute
