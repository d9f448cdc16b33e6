package comet

import (
	"context"
	"errors"
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

	// Key, when set, makes saving idempotent: a second line with the same
	// key is not stored again. The server sets it to the session id and
	// client seq of the chat.say, so a retried say is stored once.
	Key string `json:"-" db:"idem_key"`
}

// ErrDuplicate is what SaveChat returns for a line whose Key is stored
// already: nothing was inserted, and the line's ID and At were set to the
// stored line's.
var ErrDuplicate = errors.New("chat line already stored under its key")

// ChatStore persists chat lines. SaveChat returns only after the line is
// committed, so a client told "sent" never loses it.
type ChatStore interface {
	// SaveChat stores m and sets m.ID; ErrDuplicate if m.Key is stored already.
	SaveChat(ctx context.Context, m *ChatMessage) error
	// ChatHistory returns up to limit most recent lines of channel, oldest first.
	ChatHistory(ctx context.Context, channel string, limit int) ([]ChatMessage, error)
}
