-- 0001_init: Comet's schema on PostgreSQL: the tables of SQLite's 0001 to 0004
-- in one file. Times are timestamptz, stored by the store truncated to the
-- millisecond (as SQLite's unix milliseconds) so both stores return the same
-- values. Ids are COLLATE "C" so every ORDER BY on them is bytewise, as in
-- SQLite, whatever the database's locale.

-- players: persistent identities. banned bars a player from sessions; silenced
-- (an admin's mute) stops it saying anything in chat. last_seen is the last
-- login or token use, rewritten at most hourly (comet.LastSeenEvery); the
-- retention policy purges guests by it.
CREATE TABLE players (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	name       text        NOT NULL,
	created_at timestamptz NOT NULL,
	last_seen  timestamptz NOT NULL,
	banned     boolean     NOT NULL DEFAULT false,
	silenced   boolean     NOT NULL DEFAULT false
);

CREATE INDEX players_last_seen ON players (last_seen);

-- player_tokens: SHA-256 hashes of a player's session tokens, one per
-- browser. seq orders tokens issued in the same millisecond.
CREATE TABLE player_tokens (
	token_hash bytea       NOT NULL PRIMARY KEY,
	player_id  text COLLATE "C" NOT NULL REFERENCES players (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	seq        bigint      NOT NULL GENERATED ALWAYS AS IDENTITY
);

CREATE INDEX player_tokens_player ON player_tokens (player_id, created_at, seq);

-- claimed_names: a name reserved with a password, unique by its key
-- (comet.NameKey, computed by the store). One claim per player.
CREATE TABLE claimed_names (
	name_key      text COLLATE "C" NOT NULL PRIMARY KEY,
	name          text        NOT NULL,
	player_id     text COLLATE "C" NOT NULL UNIQUE REFERENCES players (id) ON DELETE CASCADE,
	password_hash bytea       NOT NULL,
	claimed_at    timestamptz NOT NULL
);

-- chat_messages: every line said. An identity never hands out an id twice,
-- so ids only grow, even after deletes: a safe resume cursor.
CREATE TABLE chat_messages (
	id        bigint      NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	channel   text COLLATE "C" NOT NULL,
	from_id   text        NOT NULL,
	from_name text        NOT NULL,
	text      text        NOT NULL,
	me        boolean     NOT NULL DEFAULT false,
	at        timestamptz NOT NULL
);

CREATE INDEX chat_messages_channel_id ON chat_messages (channel, id);

CREATE INDEX chat_messages_at ON chat_messages (at);

-- matches: one finished or aborted match.
CREATE TABLE matches (
	id      text COLLATE "C" NOT NULL PRIMARY KEY,
	room    text        NOT NULL,
	mode    text COLLATE "C" NOT NULL,
	seed    bigint      NOT NULL,
	started timestamptz NOT NULL,
	ended   timestamptz NOT NULL,
	aborted boolean     NOT NULL DEFAULT false
);

-- match_players: one participant's outcome. No foreign key on player_id:
-- bots are not players, and a purged guest's results stay.
CREATE TABLE match_players (
	match_id  text COLLATE "C" NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
	player_id text COLLATE "C" NOT NULL,
	name      text        NOT NULL,
	score     bigint      NOT NULL,
	rank      bigint      NOT NULL,
	bot       boolean     NOT NULL DEFAULT false,
	stats     jsonb,
	PRIMARY KEY (match_id, player_id)
);

CREATE INDEX match_players_player ON match_players (player_id, match_id);

-- leaderboard: per mode, each human player's totals over matches not
-- aborted, kept in step by SaveMatch in the same transaction.
CREATE TABLE leaderboard (
	mode       text COLLATE "C" NOT NULL,
	player_id  text COLLATE "C" NOT NULL,
	wins       bigint      NOT NULL,
	best_score bigint      NOT NULL,
	games      bigint      NOT NULL,
	PRIMARY KEY (mode, player_id)
);

CREATE INDEX leaderboard_rank ON leaderboard (mode, wins DESC, best_score DESC, games DESC, player_id);

-- mutes: muter no longer receives chat from muted.
CREATE TABLE mutes (
	muter_id   text COLLATE "C" NOT NULL REFERENCES players (id) ON DELETE CASCADE,
	muted_id   text COLLATE "C" NOT NULL REFERENCES players (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (muter_id, muted_id)
);

CREATE INDEX mutes_muted ON mutes (muted_id);
