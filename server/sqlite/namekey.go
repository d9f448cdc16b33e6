package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// nameKey is the key under which a claimed name is unique: each rune
// replaced by the smallest rune of its simple case-folding orbit
// (unicode.SimpleFold), so nameKey(a) == nameKey(b) exactly when
// strings.EqualFold(a, b) — the comparison the server uses for names online.
// "Émile", "émile" and "ÉMILE" share a key; no normalization is applied, so
// a precomposed "é" and "e" + combining accent stay different names.
func nameKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		if r == utf8.RuneError {
			b.WriteRune(r)
			continue
		}
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// backfillNameKeys keys the claims made before migration 0002, which SQL
// alone cannot fold. Oldest claims first: when two old names fold to one key
// (possible only with non-ASCII letters), the older claim gets the key and
// the newer one keeps a NULL key, still found by its NOCASE name, and is
// logged. It returns how many rows it keyed.
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
		key := nameKey(r.Name)
		var owner string
		err := w.GetContext(ctx, &owner, `SELECT player_id FROM claimed_names WHERE name_key = ?`, key)
		switch {
		case err == nil:
			log.Warn("sqlite: claimed name folds like an older claim; it keeps ASCII-only case folding",
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
