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
	// SetSilenced stops (or lets again) a player say anything in chat; an
	// admin's mute, as opposed to one player muting another.
	SetSilenced(ctx context.Context, playerID string, silenced bool) error
	// Silenced reports whether an admin silenced a player.
	Silenced(ctx context.Context, playerID string) (bool, error)
}
