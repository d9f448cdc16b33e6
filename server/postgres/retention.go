package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"comet"
)

// purgeBatch is how many players or chat lines one Purge transaction deletes,
// so no transaction holds many row locks or runs long.
const purgeBatch = 500

// Purge deletes the guests and chat lines policy no longer keeps as of now
// (see comet.RetentionPolicy), purgeBatch rows per transaction. A guest's
// tokens and mutes go with it; its chat lines stay until the chat retention
// takes them, and its match results stay for good. Guests are locked with
// SKIP LOCKED: one in the middle of a login is left for the next pass, and
// the login, which waits for the purge's lock otherwise, finds it gone
// (ENOTFOUND) rather than half deleted. It returns what it deleted, even
// when an error stops it.
func (db *DB) Purge(ctx context.Context, policy comet.RetentionPolicy, now time.Time) (comet.PurgeStats, error) {
	var total comet.PurgeStats
	if err := policy.Validate(); err != nil {
		return total, err
	}
	if policy.Guests > 0 {
		cutoff := now.Add(-policy.Guests)
		for {
			st, err := db.purgeGuests(ctx, cutoff)
			total = total.Add(st)
			if err != nil {
				return total, err
			}
			if st.Guests < purgeBatch {
				break
			}
		}
	}
	if policy.Chat > 0 {
		cutoff := now.Add(-policy.Chat)
		for {
			tag, err := db.pool.Exec(ctx, `DELETE FROM chat_messages WHERE id IN (
				SELECT id FROM chat_messages WHERE at < $1 ORDER BY at LIMIT $2)`, cutoff, purgeBatch)
			if err != nil {
				return total, wrap("purge chat", err)
			}
			total.Chat += tag.RowsAffected()
			if tag.RowsAffected() < purgeBatch {
				break
			}
		}
	}
	return total, nil
}

// purgeGuests deletes, in one transaction, up to purgeBatch unclaimed,
// unbanned, unsilenced players last seen before cutoff, with their tokens
// and mutes.
func (db *DB) purgeGuests(ctx context.Context, cutoff time.Time) (comet.PurgeStats, error) {
	var st comet.PurgeStats
	err := db.write(ctx, "purge guests", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT p.id FROM players p
			WHERE p.last_seen < $1 AND NOT p.banned AND NOT p.silenced
				AND NOT EXISTS (SELECT 1 FROM claimed_names c WHERE c.player_id = p.id)
			ORDER BY p.last_seen LIMIT $2
			FOR UPDATE SKIP LOCKED`, cutoff, purgeBatch)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return err
		}
		// Deleted explicitly (not left to ON DELETE CASCADE) to count them.
		for _, d := range []struct {
			n    *int64
			stmt string
		}{
			{&st.Tokens, `DELETE FROM player_tokens WHERE player_id = ANY($1)`},
			{&st.Mutes, `DELETE FROM mutes WHERE muter_id = ANY($1) OR muted_id = ANY($1)`},
			{&st.Guests, `DELETE FROM players WHERE id = ANY($1)`},
		} {
			tag, err := tx.Exec(ctx, d.stmt, ids)
			if err != nil {
				return err
			}
			*d.n = tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return comet.PurgeStats{}, err
	}
	return st, nil
}
