package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jmoiron/sqlx"

	"comet"
)

// purgeBatch is how many players or chat lines one Purge transaction deletes:
// small enough that the single writer is never held for long, so chat writes
// queued behind a large first purge wait milliseconds, not seconds.
const purgeBatch = 500

// Purge deletes the guests and chat lines policy no longer keeps as of now
// (see comet.RetentionPolicy), purgeBatch rows per transaction. A guest's
// tokens and mutes (by it and of it) go with it; its chat lines stay until
// the chat retention takes them, and its match results stay for good, so
// other players' histories and the leaderboard never change under them.
// It returns what it deleted, even when an error (such as ctx ending) stops it.
func (db *DB) Purge(ctx context.Context, policy comet.RetentionPolicy, now time.Time) (comet.PurgeStats, error) {
	var total comet.PurgeStats
	if err := policy.Validate(); err != nil {
		return total, err
	}
	if policy.Guests > 0 {
		cutoff := millis(now.Add(-policy.Guests))
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
		cutoff := millis(now.Add(-policy.Chat))
		for {
			var n int64
			err := db.write(ctx, "purge chat", func(tx *sqlx.Tx) error {
				res, err := tx.ExecContext(ctx, `DELETE FROM chat_messages WHERE id IN (
					SELECT id FROM chat_messages WHERE at < ? ORDER BY at LIMIT ?)`, cutoff, purgeBatch)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			total.Chat += n
			if err != nil {
				return total, err
			}
			if n < purgeBatch {
				break
			}
		}
	}
	return total, nil
}

// purgeGuests deletes, in one transaction, up to purgeBatch unclaimed players
// last seen before cutoff (UTC ms) with their tokens and mutes. Banned and
// silenced players are kept: an admin's decision stays on record.
func (db *DB) purgeGuests(ctx context.Context, cutoff int64) (comet.PurgeStats, error) {
	var st comet.PurgeStats
	err := db.write(ctx, "purge guests", func(tx *sqlx.Tx) error {
		var ids []string
		if err := tx.SelectContext(ctx, &ids, `SELECT p.id FROM players p
			WHERE p.last_seen < ? AND p.banned = 0 AND p.silenced = 0
				AND NOT EXISTS (SELECT 1 FROM claimed_names c WHERE c.player_id = p.id)
			ORDER BY p.last_seen LIMIT ?`, cutoff, purgeBatch); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		list, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		// Deleted explicitly (not left to ON DELETE CASCADE) to count them.
		for _, d := range []struct {
			n    *int64
			stmt string
		}{
			{&st.Tokens, `DELETE FROM player_tokens WHERE player_id IN (SELECT value FROM json_each(?1))`},
			{&st.Mutes, `DELETE FROM mutes WHERE muter_id IN (SELECT value FROM json_each(?1))
				OR muted_id IN (SELECT value FROM json_each(?1))`},
			{&st.Guests, `DELETE FROM players WHERE id IN (SELECT value FROM json_each(?1))`},
		} {
			res, err := tx.ExecContext(ctx, d.stmt, string(list))
			if err != nil {
				return err
			}
			if *d.n, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return comet.PurgeStats{}, err
	}
	return st, nil
}
