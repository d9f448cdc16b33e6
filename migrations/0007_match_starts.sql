-- 0007_match_starts: a match under way, recorded when it starts and dropped
-- when its result is saved; one a crash interrupted is saved as aborted at
-- the next start (comet.MatchStartStore).
CREATE TABLE match_starts (
	id      TEXT    NOT NULL PRIMARY KEY,
	room    TEXT    NOT NULL,
	mode    TEXT    NOT NULL,
	started INTEGER NOT NULL
) STRICT;
