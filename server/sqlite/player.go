package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"comet"
)

// playerRow is a players row as read, with its claim flag joined in.
type playerRow struct {
	ID        string `db:"id"`
	Name      string `db:"name"`
	Claimed   bool   `db:"claimed"`
	CreatedAt int64  `db:"created_at"`
	LastSeen  int64  `db:"last_seen"`
}

func (r *playerRow) player() *comet.Player {
	return &comet.Player{ID: r.ID, Name: r.Name, Claimed: r.Claimed, CreatedAt: fromMillis(r.CreatedAt)}
}

const selectPlayer = `SELECT p.id, p.name, p.created_at, p.last_seen,
	EXISTS (SELECT 1 FROM claimed_names c WHERE c.player_id = p.id) AS claimed
	FROM players p`

// MaxTokens is how many tokens (browsers) a player keeps: AddPlayerToken drops
// the oldest beyond it, so repeated logins cannot grow the table without bound.
const MaxTokens = comet.MaxPlayerTokens

// CreatePlayer inserts p with its token hash. It sets p.CreatedAt (to now if
// zero, in UTC ms as stored) and p.Claimed to false. ECONFLICT if the id or
// token is taken; EINVALID if a field is empty. p.Name is not checked against
// claimed names: a generated guest name must never fail a first visit, and
// chosen names go through RenamePlayer, which checks.
func (db *DB) CreatePlayer(ctx context.Context, p *comet.Player, tokenHash []byte) error {
	switch {
	case p == nil || p.ID == "":
		return comet.Errorf(comet.EINVALID, "player id is required")
	case p.Name == "":
		return comet.Errorf(comet.EINVALID, "player name is required")
	case len(tokenHash) == 0:
		return comet.Errorf(comet.EINVALID, "token hash is required")
	}
	created := db.nowMillis()
	if !p.CreatedAt.IsZero() {
		created = millis(p.CreatedAt)
	}
	err := db.write(ctx, "create player", func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO players (id, name, created_at, last_seen) VALUES (?, ?, ?, ?)`,
			p.ID, p.Name, created, db.nowMillis())
		if uniqueOn(err, "players.id") {
			return comet.Errorf(comet.ECONFLICT, "player %q already exists", p.ID)
		}
		if err != nil {
			return err
		}
		return insertToken(ctx, tx, p.ID, tokenHash, db.nowMillis())
	})
	if err != nil {
		return err
	}
	p.CreatedAt = fromMillis(created)
	p.Claimed = false
	return nil
}

// PlayerByToken finds the player whose token hashes to tokenHash (ENOTFOUND
// if none) and marks it seen now when its last-seen time is
// comet.LastSeenEvery old or more: one write per player per hour at most,
// which keeps an active guest from the retention policy's purge.
func (db *DB) PlayerByToken(ctx context.Context, tokenHash []byte) (*comet.Player, error) {
	var r playerRow
	err := db.r.GetContext(ctx, &r, selectPlayer+` JOIN player_tokens t ON t.player_id = p.id WHERE t.token_hash = ?`, tokenHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, comet.Errorf(comet.ENOTFOUND, "no player has this token")
	case err != nil:
		return nil, fmt.Errorf("player by token: %w", err)
	}
	if now := db.nowMillis(); now-r.LastSeen >= comet.LastSeenEvery.Milliseconds() {
		err := db.write(ctx, "mark player seen", func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE players SET last_seen = max(last_seen, ?) WHERE id = ?`, now, r.ID)
			if err != nil {
				return err
			}
			// Purged between the read and this write.
			return mustAffect(res, "no player has this token")
		})
		if err != nil {
			return nil, err
		}
	}
	return r.player(), nil
}

// PlayerByID finds a player by id (ENOTFOUND if none).
func (db *DB) PlayerByID(ctx context.Context, id string) (*comet.Player, error) {
	var r playerRow
	err := db.r.GetContext(ctx, &r, selectPlayer+` WHERE p.id = ?`, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, comet.Errorf(comet.ENOTFOUND, "player %q not found", id)
	case err != nil:
		return nil, fmt.Errorf("player by id %q: %w", id, err)
	}
	return r.player(), nil
}

// RenamePlayer sets a player's display name. ENOTFOUND if there is no such
// player; ECONFLICT if another player claimed name (in any case, Unicode
// case folding: see comet.NameKey). The
// player's own claim, if any, stays: renaming does not release it.
func (db *DB) RenamePlayer(ctx context.Context, id, name string) error {
	if name == "" {
		return comet.Errorf(comet.EINVALID, "player name is required")
	}
	return db.write(ctx, "rename player", func(tx *sqlx.Tx) error {
		if err := checkPlayer(ctx, tx, id); err != nil {
			return err
		}
		if err := checkNameFree(ctx, tx, name, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE players SET name = ? WHERE id = ?`, name, id)
		return err
	})
}

// ClaimName reserves name for player id with a password hash and makes it the
// player's display name. A player holds one claim: claiming again replaces its
// previous name and password. ENOTFOUND if there is no such player; ECONFLICT
// if another player claimed name (in any case, see comet.NameKey) first.
func (db *DB) ClaimName(ctx context.Context, id, name string, passwordHash []byte) error {
	switch {
	case name == "":
		return comet.Errorf(comet.EINVALID, "name is required")
	case len(passwordHash) == 0:
		return comet.Errorf(comet.EINVALID, "password hash is required")
	}
	return db.write(ctx, "claim name", func(tx *sqlx.Tx) error {
		if err := checkPlayer(ctx, tx, id); err != nil {
			return err
		}
		if err := checkNameFree(ctx, tx, name, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM claimed_names WHERE player_id = ?`, id); err != nil {
			return err
		}
		// The writer is serialized, so the check above already excludes a
		// race; the constraint is the backstop for another process.
		_, err := tx.ExecContext(ctx,
			`INSERT INTO claimed_names (name, name_key, player_id, password_hash, claimed_at) VALUES (?, ?, ?, ?, ?)`,
			name, comet.NameKey(name), id, passwordHash, db.nowMillis())
		if uniqueOn(err, "claimed_names.name") {
			return comet.Errorf(comet.ECONFLICT, "name %q is already claimed", name)
		}
		if err != nil {
			return err
		}
		// Claiming is activity: the player is seen now.
		_, err = tx.ExecContext(ctx, `UPDATE players SET name = ?, last_seen = ? WHERE id = ?`, name, db.nowMillis(), id)
		return err
	})
}

// ClaimByName returns the player that claimed name (in any case, see comet.NameKey)
// and its password hash; ENOTFOUND if nobody did. A claim whose name equals
// name under SQLite's ASCII-only NOCASE wins over one equal only by key: the
// rule a claim made before migration 0002 was found by.
func (db *DB) ClaimByName(ctx context.Context, name string) (*comet.Player, []byte, error) {
	var r struct {
		playerRow
		PasswordHash []byte `db:"password_hash"`
	}
	err := db.r.GetContext(ctx, &r, `SELECT p.id, p.name, p.created_at, 1 AS claimed, c.password_hash
		FROM claimed_names c JOIN players p ON p.id = c.player_id
		WHERE c.name = ?1 OR c.name_key = ?2
		ORDER BY c.name = ?1 DESC LIMIT 1`, name, comet.NameKey(name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil, comet.Errorf(comet.ENOTFOUND, "name %q is not claimed", name)
	case err != nil:
		return nil, nil, fmt.Errorf("claim by name %q: %w", name, err)
	}
	return r.player(), r.PasswordHash, nil
}

// SetPlayerToken makes tokenHash the player's only token, ending every other
// browser's login, and marks the player seen now. ENOTFOUND if there is no
// such player; ECONFLICT if another player has that token hash.
func (db *DB) SetPlayerToken(ctx context.Context, id string, tokenHash []byte) error {
	if len(tokenHash) == 0 {
		return comet.Errorf(comet.EINVALID, "token hash is required")
	}
	return db.write(ctx, "set player token", func(tx *sqlx.Tx) error {
		if err := checkPlayer(ctx, tx, id); err != nil {
			return err
		}
		if owner, err := tokenOwner(ctx, tx, tokenHash); err != nil {
			return err
		} else if owner != "" && owner != id {
			return comet.Errorf(comet.ECONFLICT, "token already in use")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM player_tokens WHERE player_id = ?`, id); err != nil {
			return err
		}
		return insertToken(ctx, tx, id, tokenHash, db.nowMillis())
	})
}

// AddPlayerToken adds a token for a player (a login in another browser) and
// marks the player seen now; its earlier tokens stay valid, up to the newest
// MaxTokens. Adding a token the player already has is a no-op. ENOTFOUND if
// there is no such player; ECONFLICT if another player has that token hash.
func (db *DB) AddPlayerToken(ctx context.Context, id string, tokenHash []byte) error {
	if len(tokenHash) == 0 {
		return comet.Errorf(comet.EINVALID, "token hash is required")
	}
	return db.write(ctx, "add player token", func(tx *sqlx.Tx) error {
		if err := checkPlayer(ctx, tx, id); err != nil {
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
		if err := insertToken(ctx, tx, id, tokenHash, db.nowMillis()); err != nil {
			return err
		}
		// rowid breaks ties between tokens added in the same millisecond.
		_, err = tx.ExecContext(ctx, `DELETE FROM player_tokens WHERE player_id = ?1 AND rowid NOT IN (
			SELECT rowid FROM player_tokens WHERE player_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)`,
			id, MaxTokens)
		return err
	})
}

// insertToken records tokenHash for player id and marks the player seen at now.
func insertToken(ctx context.Context, tx *sqlx.Tx, id string, tokenHash []byte, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO player_tokens (token_hash, player_id, created_at) VALUES (?, ?, ?)`,
		tokenHash, id, now)
	if uniqueOn(err, "player_tokens.token_hash") {
		return comet.Errorf(comet.ECONFLICT, "token already in use")
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE players SET last_seen = ? WHERE id = ?`, now, id)
	return err
}

// tokenOwner returns the id of the player holding tokenHash, "" if none.
func tokenOwner(ctx context.Context, tx *sqlx.Tx, tokenHash []byte) (string, error) {
	var owner string
	err := tx.GetContext(ctx, &owner, `SELECT player_id FROM player_tokens WHERE token_hash = ?`, tokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return owner, err
}

// checkPlayer returns ENOTFOUND unless player id exists.
func checkPlayer(ctx context.Context, tx *sqlx.Tx, id string) error {
	var exists bool
	if err := tx.GetContext(ctx, &exists, `SELECT count(*) > 0 FROM players WHERE id = ?`, id); err != nil {
		return err
	}
	if !exists {
		return comet.Errorf(comet.ENOTFOUND, "player %q not found", id)
	}
	return nil
}

// checkNameFree returns ECONFLICT if a player other than id claimed name:
// equal by key (Unicode case folding), or by NOCASE for an old claim that
// could not be keyed.
func checkNameFree(ctx context.Context, tx *sqlx.Tx, name, id string) error {
	var taken bool
	err := tx.GetContext(ctx, &taken, `SELECT count(*) > 0 FROM claimed_names
		WHERE (name = ? OR name_key = ?) AND player_id <> ?`, name, comet.NameKey(name), id)
	switch {
	case err != nil:
		return err
	case taken:
		return comet.Errorf(comet.ECONFLICT, "name %q is already claimed", name)
	}
	return nil
}

// mustAffect returns ENOTFOUND (with the formatted message) if res changed no row.
func mustAffect(res sql.Result, format string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return comet.Errorf(comet.ENOTFOUND, format, args...)
	}
	return nil
}
