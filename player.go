package comet

import (
	"context"
	"time"
)

// Player is a persistent identity: a guest created on a browser's first
// session, optionally claimed with a password so nobody else can take its name.
type Player struct {
	ID        string    `json:"id" db:"id"`
	Name      string    `json:"name" db:"name"`
	Claimed   bool      `json:"claimed" db:"claimed"`
	CreatedAt time.Time `json:"-" db:"created_at"`
}

// PlayerStore persists players. Tokens are stored only as hashes.
type PlayerStore interface {
	// CreatePlayer inserts p (its ID and Name set by the caller) with the
	// SHA-256 hash of its secret token.
	CreatePlayer(ctx context.Context, p *Player, tokenHash []byte) error
	// PlayerByToken finds the player whose token hashes to tokenHash
	// (ENOTFOUND if none).
	PlayerByToken(ctx context.Context, tokenHash []byte) (*Player, error)
	// PlayerByID finds a player by id (ENOTFOUND if none).
	PlayerByID(ctx context.Context, id string) (*Player, error)
	// RenamePlayer sets a player's display name (ECONFLICT if the name is
	// claimed by another player).
	RenamePlayer(ctx context.Context, id, name string) error
	// ClaimName reserves name for player id with a password hash (ECONFLICT if
	// another player claimed it first).
	ClaimName(ctx context.Context, id, name string, passwordHash []byte) error
	// ClaimByName returns the player that claimed name and its password hash
	// (ENOTFOUND if unclaimed). Names compare case-insensitively.
	ClaimByName(ctx context.Context, name string) (*Player, []byte, error)
	// SetPlayerToken replaces a player's token hash.
	SetPlayerToken(ctx context.Context, id string, tokenHash []byte) error
	// AddPlayerToken adds another token for a player (login in a second
	// browser); tokens issued earlier stay valid. PlayerByToken finds either.
	AddPlayerToken(ctx context.Context, id string, tokenHash []byte) error
}
