-- 0004_retention: indexes for the retention policy (comet.RetentionPolicy).
-- Purge finds guests unseen since a cutoff and chat lines older than one, a
-- batch at a time; without these it would scan both tables on every pass.
-- players.last_seen is rewritten at most hourly per player (comet.LastSeenEvery),
-- so keeping it indexed costs little.
CREATE INDEX players_last_seen ON players (last_seen);

CREATE INDEX chat_messages_at ON chat_messages (at);
