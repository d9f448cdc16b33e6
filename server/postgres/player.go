package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"comet"
)

const selectPlayer = `SELECT p.id, p.name, p.created_at, p.last_seen,
	EXISTS (SELECT 1 FROM claimed_names c WHERE c.player_id = p.id) AS claimed
	FROM players p`

// scanPlayer reads one row of selectPlayer.
func scanPlayer(row pgx.Row) (*comet.Player, time.Time, error) {
	var p comet.Player
	var seen time.Time
	if err := row.Scan(&p.ID, &p.Name, &p.CreatedAt, &seen, &p.Claimed); err != nil {
		return nil, time.Time{}, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, seen, nil
}

// CreatePlayer inserts p with its token hash. It sets p.CreatedAt (to now if
// zero, truncated to the millisecond, UTC) and p.Claimed to false. ECONFLICT
// if the id or token is taken; EINVALID if a field is empty. As in SQLite,
// p.Name is not checked against claimed names.
func (db *DB) CreatePlayer(ctx context.Context, p *comet.Player, tokenHash []byte) error {
	switch {
	case p == nil || p.ID == "":
		return comet.Errorf(comet.EINVALID, "player id is required")
	case p.Name == "":
		return comet.Errorf(comet.EINVALID, "player name is required")
	case len(tokenHash) == 0:
		return comet.Errorf(comet.EINVALID, "token hash is required")
	}
	now := db.nowMS()
	created := now
	if !p.CreatedAt.IsZero() {
		created = ms(p.CreatedAt)
	}
	err := db.write(ctx, "create player", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO players (id, name, created_at, last_seen) VALUES ($1, $2, $3, $4)`,
			p.ID, p.Name, created, now)
		if violates(err, uniqueViolation, "players_pkey") {
			return comet.Errorf(comet.ECONFLICT, "player %q already exists", p.ID)
		}
		if err != nil {
			return err
		}
		return insertToken(ctx, tx, p.ID, tokenHash, now)
	})
	if err != nil {
		return err
	}
	p.CreatedAt = created
	p.Claimed = false
	return nil
}

// PlayerByToken finds the player whose token hashes to tokenHash (ENOTFOUND
// if none) and marks it seen now when its last-seen time is
// comet.LastSeenEvery old or more: at most one write per player per hour.
func (db *DB) PlayerByToken(ctx context.Context, tokenHash []byte) (*comet.Player, error) {
	p, seen, err := scanPlayer(db.pool.QueryRow(ctx,
		selectPlayer+` JOIN player_tokens t ON t.player_id = p.id WHERE t.token_hash = $1`, tokenHash))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, comet.Errorf(comet.ENOTFOUND, "no player has this token")
	case err != nil:
		return nil, fmt.Errorf("player by token: %w", err)
	}
	if now := db.nowMS(); now.Sub(seen) >= comet.LastSeenEvery {
		tag, err := db.pool.Exec(ctx, `UPDATE players SET last_seen = GREATEST(last_seen, $2) WHERE id = $1`, p.ID, now)
		if err != nil {
			return nil, fmt.Errorf("mark player seen: %w", err)
		}
		if tag.RowsAffected() == 0 { // purged between the read and this write
			return nil, comet.Errorf(comet.ENOTFOUND, "no player has this token")
		}
	}
	return p, nil
}

// PlayerByID finds a player by id (ENOTFOUND if none).
func (db *DB) PlayerByID(ctx context.Context, id string) (*comet.Player, error) {
	p, _, err := scanPlayer(db.pool.QueryRow(ctx, selectPlayer+` WHERE p.id = $1`, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, comet.Errorf(comet.ENOTFOUND, "player %q not found", id)
	case err != nil:
		return nil, wrap(fmt.Sprintf("player by id %q", id), err)
	}
	return p, nil
}

// RenamePlayer sets a player's display name. ENOTFOUND if there is no such
// player; ECONFLICT if another player claimed name (compared by
// comet.NameKey). The player's own claim, if any, stays.
func (db *DB) RenamePlayer(ctx context.Context, id, name string) error {
	if name == "" {
		return comet.Errorf(comet.EINVALID, "player name is required")
	}
	return db.write(ctx, "rename player", func(tx pgx.Tx) error {
		if err := lockName(ctx, tx, name); err != nil {
			return err
		}
		if err := lockPlayer(ctx, tx, id); err != nil {
			return err
		}
		if err := checkNameFree(ctx, tx, name, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE players SET name = $1 WHERE id = $2`, name, id)
		return err
	})
}

// ClaimName reserves name for player id with a password hash, makes it the
// player's display name and marks the player seen. A player holds one claim:
// claiming again replaces it. ENOTFOUND if there is no such player;
// ECONFLICT if another player claimed name (by comet.NameKey) first.
func (db *DB) ClaimName(ctx context.Context, id, name string, passwordHash []byte) error {
	switch {
	case name == "":
		return comet.Errorf(comet.EINVALID, "name is required")
	case len(passwordHash) == 0:
		return comet.Errorf(comet.EINVALID, "password hash is required")
	}
	return db.write(ctx, "claim name", func(tx pgx.Tx) error {
		if err := lockName(ctx, tx, name); err != nil {
			return err
		}
		if err := lockPlayer(ctx, tx, id); err != nil {
			return err
		}
		if err := checkNameFree(ctx, tx, name, id); err != nil {
			return err
		}
		now := db.nowMS()
		if _, err := tx.Exec(ctx, `DELETE FROM claimed_names WHERE player_id = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO claimed_names (name_key, name, player_id, password_hash, claimed_at)
			VALUES ($1, $2, $3, $4, $5)`, comet.NameKey(name), name, id, passwordHash, now)
		if violates(err, uniqueViolation, "claimed_names_pkey") {
			return comet.Errorf(comet.ECONFLICT, "name %q is already claimed", name)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE players SET name = $1, last_seen = GREATEST(last_seen, $2) WHERE id = $3`, name, now, id)
		return err
	})
}

// ClaimByName returns the player that claimed name (by comet.NameKey) and
// its password hash; ENOTFOUND if nobody did. A claim left with an older
// key by a change of the key's rule (see rekeyClaims) is found by its exact
// name, which wins over an equal key, as in server/sqlite.
func (db *DB) ClaimByName(ctx context.Context, name string) (*comet.Player, []byte, error) {
	var p comet.Player
	var hash []byte
	err := db.pool.QueryRow(ctx, `SELECT p.id, p.name, p.created_at, c.password_hash
		FROM claimed_names c JOIN players p ON p.id = c.player_id
		WHERE c.name_key = $1 OR c.name = $2
		ORDER BY c.name = $2 DESC LIMIT 1`, comet.NameKey(name), name).Scan(&p.ID, &p.Name, &p.CreatedAt, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil, comet.Errorf(comet.ENOTFOUND, "name %q is not claimed", name)
	case err != nil:
		return nil, nil, wrap(fmt.Sprintf("claim by name %q", name), err)
	}
	p.Claimed = true
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, hash, nil
}

// SetPlayerToken makes tokenHash the player's only token, ending every other
// browser's login, and marks the player seen now. ENOTFOUND if there is no
// such player; ECONFLICT if another player has that token hash.
func (db *DB) SetPlayerToken(ctx context.Context, id string, tokenHash []byte) error {
	if len(tokenHash) == 0 {
		return comet.Errorf(comet.EINVALID, "token hash is required")
	}
	return db.write(ctx, "set player token", func(tx pgx.Tx) error {
		if err := lockPlayer(ctx, tx, id); err != nil {
			return err
		}
		if owner, err := tokenOwner(ctx, tx, tokenHash); err != nil {
			return err
		} else if owner != "" && owner != id {
			return comet.Errorf(comet.ECONFLICT, "token already in use")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM player_tokens WHERE player_id = $1`, id); err != nil {
			return err
		}
		return insertToken(ctx, tx, id, tokenHash, db.nowMS())
	})
}

// AddPlayerToken adds a token for a player (a login in another browser) and
// marks the player seen now; its earlier tokens stay valid, up to the newest
// comet.MaxPlayerTokens. Adding a token the player has is a no-op. ENOTFOUND
// if there is no such player; ECONFLICT if another player has that token.
func (db *DB) AddPlayerToken(ctx context.Context, id string, tokenHash []byte) error {
	if len(tokenHash) == 0 {
		return comet.Errorf(comet.EINVALID, "token hash is required")
	}
	return db.write(ctx, "add player token", func(tx pgx.Tx) error {
		if err := lockPlayer(ctx, tx, id); err != nil {
			return err
		}
		owner, err := tokenOwner(ctx, tx, tokenHash)
		switch {
		case err != nil:
			return err
		case owner == id:
			return nil
		case owner != "":
			return comet.Errorf(comet.ECONFLICT, "token already in use")
		}
		if err := insertToken(ctx, tx, id, tokenHash, db.nowMS()); err != nil {
			return err
		}
		// seq breaks ties between tokens added in the same millisecond.
		_, err = tx.Exec(ctx, `DELETE FROM player_tokens WHERE player_id = $1 AND seq NOT IN (
			SELECT seq FROM player_tokens WHERE player_id = $1 ORDER BY created_at DESC, seq DESC LIMIT $2)`,
			id, comet.MaxPlayerTokens)
		return err
	})
}

// insertToken records tokenHash for player id and marks the player seen at now.
func insertToken(ctx context.Context, tx pgx.Tx, id string, tokenHash []byte, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO player_tokens (token_hash, player_id, created_at) VALUES ($1, $2, $3)`,
		tokenHash, id, now)
	if violates(err, uniqueViolation, "player_tokens_pkey") {
		return comet.Errorf(comet.ECONFLICT, "token already in use")
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE players SET last_seen = GREATEST(last_seen, $1) WHERE id = $2`, now, id)
	return err
}

// tokenOwner returns the id of the player holding tokenHash, "" if none.
func tokenOwner(ctx context.Context, tx pgx.Tx, tokenHash []byte) (string, error) {
	var owner string
	err := tx.QueryRow(ctx, `SELECT player_id FROM player_tokens WHERE token_hash = $1`, tokenHash).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return owner, err
}

// lockPlayer locks player id's row until the transaction ends (so a purge or
// another change of the same player waits), or returns ENOTFOUND.
func lockPlayer(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM players WHERE id = $1 FOR UPDATE`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return comet.Errorf(comet.ENOTFOUND, "player %q not found", id)
	}
	return err
}

// lockName serializes, until the transaction ends, every claim and rename to
// names with the same key: the check that a name is free and the write that
// takes it cannot interleave with another's (PostgreSQL runs writers in
// parallel, unlike SQLite's single writer). Locks are taken name first, then
// the player's row, everywhere.
func lockName(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, comet.NameKey(name))
	return err
}

// checkNameFree returns ECONFLICT if a player other than id claimed name:
// equal by key, or exactly for a claim left with an older key.
func checkNameFree(ctx context.Context, tx pgx.Tx, name, id string) error {
	var taken bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM claimed_names
		WHERE (name_key = $1 OR name = $2) AND player_id <> $3)`,
		comet.NameKey(name), name, id).Scan(&taken)
	switch {
	case err != nil:
		return err
	case taken:
		return comet.Errorf(comet.ECONFLICT, "name %q is already claimed", name)
	}
	return nil
}
