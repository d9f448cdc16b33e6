-- 0005_handover: the hand-over a process leaves its successor on a graceful
-- restart (comet.HandoverStore): one row at most, an opaque blob the server
-- writes (sessions and their state) and the next process takes and deletes.
CREATE TABLE handover (
	id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	blob     BLOB    NOT NULL,
	saved_at INTEGER NOT NULL
) STRICT;
