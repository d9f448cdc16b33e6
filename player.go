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

// MaxPlayerTokens is how many tokens (browsers) a store keeps per player:
// AddPlayerToken drops the oldest beyond it, so logins cannot grow it unbounded.
const MaxPlayerTokens = 50

// LastSeenEvery is how stale a player's stored last-seen time may get: a
// store rewrites it on PlayerByToken at most this often, so a busy player
// costs one write per hour, not one per request.
const LastSeenEvery = time.Hour

// MinGuestRetention is the shortest guest retention a policy may set: below
// it, last-seen times (recorded hourly) could not tell an active guest from a
// gone one.
const MinGuestRetention = 24 * time.Hour

// RetentionPolicy says how long a store keeps what nobody asks for any more.
// A zero or negative duration keeps that kind of data forever.
type RetentionPolicy struct {
	// Guests: an unclaimed, unbanned, unsilenced player not seen (no token
	// used, no login) for this long is deleted with its tokens and mutes
	// (its own and others' of it). Its chat lines and match results stay.
	Guests time.Duration
	// Chat: chat lines older than this are deleted, whoever said them.
	Chat time.Duration
}

// Validate returns EINVALID if a positive Guests is below MinGuestRetention.
func (p RetentionPolicy) Validate() error {
	if p.Guests > 0 && p.Guests < MinGuestRetention {
		return Errorf(EINVALID, "guest retention %v is below the minimum %v (0 keeps guests forever)", p.Guests, MinGuestRetention)
	}
	return nil
}

// PurgeStats counts what one Purge deleted.
type PurgeStats struct {
	Guests int64 `json:"guests"` // players deleted
	Tokens int64 `json:"tokens"` // their tokens
	Mutes  int64 `json:"mutes"`  // mutes by or of them
	Chat   int64 `json:"chat"`   // chat lines past the chat retention
}

// Add returns the sum of s and o.
func (s PurgeStats) Add(o PurgeStats) PurgeStats {
	return PurgeStats{Guests: s.Guests + o.Guests, Tokens: s.Tokens + o.Tokens, Mutes: s.Mutes + o.Mutes, Chat: s.Chat + o.Chat}
}

// RetentionStore deletes what a RetentionPolicy no longer keeps.
type RetentionStore interface {
	// Purge deletes, as of now, the guests and chat lines policy no longer
	// keeps, in small transactions so writers never wait long; it returns
	// what it deleted so far even when ctx ends it early (with the error).
	// EINVALID if policy fails Validate.
	Purge(ctx context.Context, policy RetentionPolicy, now time.Time) (PurgeStats, error)
}
