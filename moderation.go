package comet

import "context"

// ModerationStore persists mutes (one player hides another's chat) and bans
// (an admin bars a player from creating sessions).
type ModerationStore interface {
	// Mute makes muter stop receiving chat from muted; muting twice is a no-op.
	Mute(ctx context.Context, muterID, mutedID string) error
	// Unmute undoes Mute; unmuting someone not muted is a no-op.
	Unmute(ctx context.Context, muterID, mutedID string) error
	// Mutes lists the ids muter has muted.
	Mutes(ctx context.Context, muterID string) ([]string, error)
	// SetBanned bans or unbans a player.
	SetBanned(ctx context.Context, playerID string, banned bool) error
	// Banned reports whether a player is banned.
	Banned(ctx context.Context, playerID string) (bool, error)
}
