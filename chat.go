package comet

import (
	"context"
	"time"
)

// ChatMessage is one line said on a channel ("lobby", "room:<id>", or a direct
// channel "dm:<a>:<b>" with the two player ids in sorted order).
type ChatMessage struct {
	ID       int64     `json:"id" db:"id"`
	Channel  string    `json:"channel" db:"channel"`
	FromID   string    `json:"-" db:"from_id"`
	FromName string    `json:"-" db:"from_name"`
	Text     string    `json:"text" db:"text"`
	Me       bool      `json:"me,omitempty" db:"me"` // a /me action line
	At       time.Time `json:"-" db:"at"`
}

// ChatStore persists chat lines. SaveChat returns only after the line is
// committed, so a client told "sent" never loses it.
type ChatStore interface {
	// SaveChat stores m and sets m.ID.
	SaveChat(ctx context.Context, m *ChatMessage) error
	// ChatHistory returns up to limit most recent lines of channel, oldest first.
	ChatHistory(ctx context.Context, channel string, limit int) ([]ChatMessage, error)
}
