package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"comet"
)

// Mute makes muter stop receiving chat from muted; muting twice is a no-op.
// ENOTFOUND if either player does not exist; EINVALID for muting oneself.
func (db *DB) Mute(ctx context.Context, muterID, mutedID string) error {
	if muterID == mutedID {
		return comet.Errorf(comet.EINVALID, "a player cannot mute themselves")
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO mutes (muter_id, muted_id, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (muter_id, muted_id) DO NOTHING`, muterID, mutedID, db.nowMS())
	if pgCode(err) == foreignKeyViolation {
		return comet.Errorf(comet.ENOTFOUND, "player %q or %q not found", muterID, mutedID)
	}
	if err != nil {
		return wrap("mute", err)
	}
	return nil
}

// Unmute undoes Mute; unmuting someone not muted is a no-op.
func (db *DB) Unmute(ctx context.Context, muterID, mutedID string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM mutes WHERE muter_id = $1 AND muted_id = $2`, muterID, mutedID); err != nil {
		return wrap("unmute", err)
	}
	return nil
}

// Mutes lists the ids muter has muted, oldest mute first (empty, not nil, if none).
func (db *DB) Mutes(ctx context.Context, muterID string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT muted_id FROM mutes WHERE muter_id = $1 ORDER BY created_at, muted_id`, muterID)
	if err != nil {
		return nil, wrap(fmt.Sprintf("mutes of %q", muterID), err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(fmt.Sprintf("mutes of %q", muterID), err)
	}
	if ids == nil {
		ids = []string{}
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

// SetSilenced stops (or lets again) a player say anything in chat: an
// admin's mute. ENOTFOUND if there is no such player.
func (db *DB) SetSilenced(ctx context.Context, playerID string, silenced bool) error {
	return db.setFlag(ctx, "silenced", playerID, silenced)
}

// Silenced reports whether an admin silenced a player (ENOTFOUND if there
// is no such player).
func (db *DB) Silenced(ctx context.Context, playerID string) (bool, error) {
	return db.flag(ctx, "silenced", playerID)
}

// setFlag sets the boolean column of players (a constant of this file, never
// input) for playerID.
func (db *DB) setFlag(ctx context.Context, column, playerID string, on bool) error {
	tag, err := db.pool.Exec(ctx, `UPDATE players SET `+column+` = $1 WHERE id = $2`, on, playerID)
	if err != nil {
		return wrap("set "+column, err)
	}
	if tag.RowsAffected() == 0 {
		return comet.Errorf(comet.ENOTFOUND, "player %q not found", playerID)
	}
	return nil
}

// flag reads the boolean column of players for playerID.
func (db *DB) flag(ctx context.Context, column, playerID string) (bool, error) {
	var on bool
	err := db.pool.QueryRow(ctx, `SELECT `+column+` FROM players WHERE id = $1`, playerID).Scan(&on)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, comet.Errorf(comet.ENOTFOUND, "player %q not found", playerID)
	case err != nil:
		return false, wrap(fmt.Sprintf("%s %q", column, playerID), err)
	}
	return on, nil
}
