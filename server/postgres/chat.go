package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"comet"
)

// SaveChat stores m, sets m.ID, and sets m.At to now if it was zero (stored
// truncated to the millisecond, UTC). It returns only after the commit. A
// line whose Key is stored already is not stored again: comet.ErrDuplicate,
// with m.ID and m.At the stored line's. EINVALID if m has no channel, or
// text PostgreSQL refuses (a NUL byte, invalid UTF-8: the server never
// sends either).
func (db *DB) SaveChat(ctx context.Context, m *comet.ChatMessage) error {
	if m == nil || m.Channel == "" {
		return comet.Errorf(comet.EINVALID, "chat channel is required")
	}
	at := db.nowMS()
	if !m.At.IsZero() {
		at = ms(m.At)
	}
	var id int64
	// A keyless line's NULL never collides.
	err := db.pool.QueryRow(ctx, `INSERT INTO chat_messages (channel, from_id, from_name, text, me, at, idem_key)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, '')) ON CONFLICT (idem_key) DO NOTHING RETURNING id`,
		m.Channel, m.FromID, m.FromName, m.Text, m.Me, at, m.Key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		// The conflicting insert had committed (ON CONFLICT waits for it),
		// so this statement, with a snapshot of its own, sees it.
		err = db.pool.QueryRow(ctx, `SELECT id, at FROM chat_messages WHERE idem_key = $1`, m.Key).Scan(&m.ID, &m.At)
		if err != nil {
			return wrap("save chat: read the line stored under its key", err)
		}
		m.At = m.At.UTC()
		return comet.ErrDuplicate
	}
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
	rows, err := db.pool.Query(ctx, `SELECT id, channel, from_id, from_name, text, me, at, coalesce(idem_key, '')
		FROM chat_messages WHERE channel = $1 ORDER BY id DESC LIMIT $2`, channel, limit)
	if err != nil {
		return nil, wrap(fmt.Sprintf("chat history of %q", channel), err)
	}
	defer rows.Close()
	out := []comet.ChatMessage{}
	for rows.Next() {
		var m comet.ChatMessage
		if err := rows.Scan(&m.ID, &m.Channel, &m.FromID, &m.FromName, &m.Text, &m.Me, &m.At, &m.Key); err != nil {
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
