-- 0003_handover: the hand-over a process leaves its successor on a graceful
-- restart (comet.HandoverStore): one row at most, an opaque blob the server
-- writes (sessions and their state) and the next process takes and deletes.
CREATE TABLE handover (
	id       SMALLINT    NOT NULL PRIMARY KEY CHECK (id = 1),
	blob     BYTEA       NOT NULL,
	saved_at TIMESTAMPTZ NOT NULL
);
