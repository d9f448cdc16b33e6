-- 0005_match_starts: a match under way, recorded when it starts and dropped
-- when its result is saved; one a crash interrupted is saved as aborted at
-- the next start (comet.MatchStartStore).
CREATE TABLE match_starts (
	id      text COLLATE "C" NOT NULL PRIMARY KEY,
	room    text             NOT NULL,
	mode    text COLLATE "C" NOT NULL,
	started timestamptz      NOT NULL
);
