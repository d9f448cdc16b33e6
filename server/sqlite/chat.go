package sqlite

import (
	"context"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"comet"
)

// chatRow is a chat_messages row; at is UTC unix milliseconds.
type chatRow struct {
	ID       int64  `db:"id"`
	Channel  string `db:"channel"`
	FromID   string `db:"from_id"`
	FromName string `db:"from_name"`
	Text     string `db:"text"`
	Me       bool   `db:"me"`
	At       int64  `db:"at"`
	Key      string `db:"idem_key"`
}

// SaveChat stores m, sets m.ID, and sets m.At to now if it was zero (stored
// in UTC ms). It returns only after the commit, so an acknowledged line
// survives a crash of the process. A line whose Key is stored already is
// not stored again: comet.ErrDuplicate, with m.ID and m.At the stored
// line's. EINVALID if m has no channel.
func (db *DB) SaveChat(ctx context.Context, m *comet.ChatMessage) error {
	if m == nil || m.Channel == "" {
		return comet.Errorf(comet.EINVALID, "chat channel is required")
	}
	at := db.nowMillis()
	if !m.At.IsZero() {
		at = millis(m.At)
	}
	var id int64
	var dup bool
	err := db.write(ctx, "save chat", func(tx *sqlx.Tx) error {
		// A keyless line's NULL never collides. One writer: no other insert
		// runs between this one and the look-up of the stored line.
		res, err := tx.ExecContext(ctx,
			`INSERT INTO chat_messages (channel, from_id, from_name, text, me, at, idem_key) VALUES (?, ?, ?, ?, ?, ?, nullif(?, ''))
			ON CONFLICT (idem_key) DO NOTHING`,
			m.Channel, m.FromID, m.FromName, m.Text, boolInt(m.Me), at, m.Key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			dup = true
			return tx.QueryRowxContext(ctx, `SELECT id, at FROM chat_messages WHERE idem_key = ?`, m.Key).Scan(&id, &at)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return err
	}
	m.ID = id
	if m.At.IsZero() || dup {
		m.At = fromMillis(at)
	}
	if dup {
		return comet.ErrDuplicate
	}
	return nil
}

// ChatHistory returns up to limit (capped at MaxLimit) most recent lines of
// channel, oldest first. EINVALID if limit is not positive.
func (db *DB) ChatHistory(ctx context.Context, channel string, limit int) ([]comet.ChatMessage, error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return nil, err
	}
	// Newest first through the (channel, id) index, then reversed.
	var rows []chatRow
	err = db.r.SelectContext(ctx, &rows, `SELECT id, channel, from_id, from_name, text, me, at, coalesce(idem_key, '') AS idem_key
		FROM chat_messages WHERE channel = ? ORDER BY id DESC LIMIT ?`, channel, limit)
	if err != nil {
		return nil, fmt.Errorf("chat history of %q: %w", channel, err)
	}
	slices.Reverse(rows)
	out := make([]comet.ChatMessage, len(rows))
	for i, r := range rows {
		out[i] = comet.ChatMessage{
			ID: r.ID, Channel: r.Channel, FromID: r.FromID, FromName: r.FromName,
			Text: r.Text, Me: r.Me, At: fromMillis(r.At), Key: r.Key,
		}
	}
	return out, nil
}
