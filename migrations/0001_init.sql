-- 0001_init: Comet's first schema. Times are UTC unix milliseconds (INTEGER),
-- which sort correctly and need no time-zone parsing. Tables are STRICT so a
-- wrongly typed value is an error rather than silently stored.

-- players: persistent identities. banned bars a player from sessions; silenced
-- (an admin's mute) stops it saying anything in chat.
CREATE TABLE players (
	id         TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	banned     INTEGER NOT NULL DEFAULT 0 CHECK (banned IN (0, 1)),
	silenced   INTEGER NOT NULL DEFAULT 0 CHECK (silenced IN (0, 1))
) STRICT;

-- player_tokens: the SHA-256 hashes of a player's secret session tokens, one
-- per browser it logged in from; the tokens themselves are never stored.
CREATE TABLE player_tokens (
	token_hash BLOB    NOT NULL PRIMARY KEY,
	player_id  TEXT    NOT NULL REFERENCES players (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX player_tokens_player ON player_tokens (player_id, created_at);

-- claimed_names: a name reserved with a password. NOCASE makes "Ann" and
-- "ann" the same name (ASCII letters only: SQLite's NOCASE folds A-Z). One
-- claim per player, so a name login finds exactly one player.
CREATE TABLE claimed_names (
	name          TEXT    NOT NULL COLLATE NOCASE PRIMARY KEY,
	player_id     TEXT    NOT NULL UNIQUE REFERENCES players (id) ON DELETE CASCADE,
	password_hash BLOB    NOT NULL,
	claimed_at    INTEGER NOT NULL
) STRICT;

-- chat_messages: every line said. AUTOINCREMENT keeps ids strictly increasing
-- even after deletes, so an id is a safe resume cursor.
CREATE TABLE chat_messages (
	id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	channel   TEXT    NOT NULL,
	from_id   TEXT    NOT NULL,
	from_name TEXT    NOT NULL,
	text      TEXT    NOT NULL,
	me        INTEGER NOT NULL DEFAULT 0 CHECK (me IN (0, 1)),
	at        INTEGER NOT NULL
) STRICT;

-- History reads "the last N lines of a channel": a backwards scan of this index.
CREATE INDEX chat_messages_channel_id ON chat_messages (channel, id);

-- matches: one finished or aborted match.
CREATE TABLE matches (
	id      TEXT    NOT NULL PRIMARY KEY,
	room    TEXT    NOT NULL,
	mode    TEXT    NOT NULL,
	seed    INTEGER NOT NULL,
	started INTEGER NOT NULL,
	ended   INTEGER NOT NULL,
	aborted INTEGER NOT NULL DEFAULT 0 CHECK (aborted IN (0, 1))
) STRICT;

-- match_players: one participant's outcome. player_id has no foreign key
-- because bots ("bot-...") are not players. stats is a JSON object or NULL.
CREATE TABLE match_players (
	match_id  TEXT    NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
	player_id TEXT    NOT NULL,
	name      TEXT    NOT NULL,
	score     INTEGER NOT NULL,
	rank      INTEGER NOT NULL,
	bot       INTEGER NOT NULL DEFAULT 0 CHECK (bot IN (0, 1)),
	stats     TEXT    CHECK (stats IS NULL OR json_valid(stats)),
	PRIMARY KEY (match_id, player_id)
) STRICT;

-- A player's recent matches.
CREATE INDEX match_players_player ON match_players (player_id, match_id);

-- leaderboard: per mode, each human player's totals over the matches that
-- were not aborted. SaveMatch keeps it in step in the same transaction (matches
-- are never changed once saved), so reading the board is an index scan instead
-- of an aggregate over every match_players row.
CREATE TABLE leaderboard (
	mode       TEXT    NOT NULL,
	player_id  TEXT    NOT NULL,
	wins       INTEGER NOT NULL,
	best_score INTEGER NOT NULL,
	games      INTEGER NOT NULL,
	PRIMARY KEY (mode, player_id)
) STRICT;

CREATE INDEX leaderboard_rank ON leaderboard (mode, wins DESC, best_score DESC, games DESC, player_id);

-- mutes: muter no longer receives chat from muted.
CREATE TABLE mutes (
	muter_id   TEXT    NOT NULL REFERENCES players (id) ON DELETE CASCADE,
	muted_id   TEXT    NOT NULL REFERENCES players (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (muter_id, muted_id)
) STRICT;

-- Foreign-key checks on a player's deletion look mutes up by muted_id.
CREATE INDEX mutes_muted ON mutes (muted_id);
