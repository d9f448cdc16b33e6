package postgres

import (
	"context"
	"fmt"
	"slices"

	"comet"
)

// SaveChat stores m, sets m.ID, and sets m.At to now if it was zero (stored
// truncated to the millisecond, UTC). It returns only after the commit.
// EINVALID if m has no channel, or text PostgreSQL refuses (a NUL byte,
// invalid UTF-8: the server never sends either).
func (db *DB) SaveChat(ctx context.Context, m *comet.ChatMessage) error {
	if m == nil || m.Channel == "" {
		return comet.Errorf(comet.EINVALID, "chat channel is required")
	}
	at := db.nowMS()
	if !m.At.IsZero() {
		at = ms(m.At)
	}
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO chat_messages (channel, from_id, from_name, text, me, at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		m.Channel, m.FromID, m.FromName, m.Text, m.Me, at).Scan(&id)
	if err != nil {
		return wrap("save chat", err)
	}
	m.ID = id
	if m.At.IsZero() {
		m.At = at
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
	rows, err := db.pool.Query(ctx, `SELECT id, channel, from_id, from_name, text, me, at
		FROM chat_messages WHERE channel = $1 ORDER BY id DESC LIMIT $2`, channel, limit)
	if err != nil {
		return nil, wrap(fmt.Sprintf("chat history of %q", channel), err)
	}
	defer rows.Close()
	out := []comet.ChatMessage{}
	for rows.Next() {
		var m comet.ChatMessage
		if err := rows.Scan(&m.ID, &m.Channel, &m.FromID, &m.FromName, &m.Text, &m.Me, &m.At); err != nil {
			return nil, fmt.Errorf("chat history of %q: %w", channel, err)
		}
		m.At = m.At.UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("chat history of %q", channel), err)
	}
	slices.Reverse(out)
	return out, nil
}
