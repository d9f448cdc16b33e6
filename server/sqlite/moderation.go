package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	sqlite3 "modernc.org/sqlite/lib"

	"comet"
)

// Mute makes muter stop receiving chat from muted; muting twice is a no-op.
// ENOTFOUND if either player does not exist; EINVALID for muting oneself.
func (db *DB) Mute(ctx context.Context, muterID, mutedID string) error {
	if muterID == mutedID {
		return comet.Errorf(comet.EINVALID, "a player cannot mute themselves")
	}
	return db.write(ctx, "mute", func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO mutes (muter_id, muted_id, created_at) VALUES (?, ?, ?)
			ON CONFLICT (muter_id, muted_id) DO NOTHING`, muterID, mutedID, db.nowMillis())
		if constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
			return comet.Errorf(comet.ENOTFOUND, "player %q or %q not found", muterID, mutedID)
		}
		return err
	})
}

// Unmute undoes Mute; unmuting someone not muted is a no-op.
func (db *DB) Unmute(ctx context.Context, muterID, mutedID string) error {
	return db.write(ctx, "unmute", func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM mutes WHERE muter_id = ? AND muted_id = ?`, muterID, mutedID)
		return err
	})
}

// Mutes lists the ids muter has muted, oldest mute first (empty, not nil, if none).
func (db *DB) Mutes(ctx context.Context, muterID string) ([]string, error) {
	ids := []string{}
	err := db.r.SelectContext(ctx, &ids,
		`SELECT muted_id FROM mutes WHERE muter_id = ? ORDER BY created_at, muted_id`, muterID)
	if err != nil {
		return nil, fmt.Errorf("mutes of %q: %w", muterID, err)
	}
	return ids, nil
}

// SetBanned bans or unbans a player (ENOTFOUND if there is no such player).
func (db *DB) SetBanned(ctx context.Context, playerID string, banned bool) error {
	return db.setFlag(ctx, "banned", playerID, banned)
}

// Banned reports whether a player is banned (ENOTFOUND if there is no such player).
func (db *DB) Banned(ctx context.Context, playerID string) (bool, error) {
	return db.flag(ctx, "banned", playerID)
}

// SetSilenced stops (or lets again) a player say anything in chat: an admin's
// mute. ENOTFOUND if there is no such player.
func (db *DB) SetSilenced(ctx context.Context, playerID string, silenced bool) error {
	return db.setFlag(ctx, "silenced", playerID, silenced)
}

// Silenced reports whether an admin silenced a player (ENOTFOUND if there is
// no such player).
func (db *DB) Silenced(ctx context.Context, playerID string) (bool, error) {
	return db.flag(ctx, "silenced", playerID)
}

// setFlag sets the 0/1 column of players (a constant of this file, never
// input) for playerID.
func (db *DB) setFlag(ctx context.Context, column, playerID string, on bool) error {
	return db.write(ctx, "set "+column, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE players SET `+column+` = ? WHERE id = ?`, boolInt(on), playerID)
		if err != nil {
			return err
		}
		return mustAffect(res, "player %q not found", playerID)
	})
}

// flag reads the 0/1 column of players for playerID.
func (db *DB) flag(ctx context.Context, column, playerID string) (bool, error) {
	var on bool
	err := db.r.GetContext(ctx, &on, `SELECT `+column+` FROM players WHERE id = ?`, playerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, comet.Errorf(comet.ENOTFOUND, "player %q not found", playerID)
	case err != nil:
		return false, fmt.Errorf("%s %q: %w", column, playerID, err)
	}
	return on, nil
}
