-- 0002_claimed_name_key: claimed names compared with Unicode case folding.
-- NOCASE on claimed_names.name folds ASCII only, so "Émile" and "émile" were
-- two names. name_key holds the name folded by the store in Go (each rune
-- mapped to the smallest rune of its simple case-folding orbit: two names
-- get the same key exactly when Go's strings.EqualFold says they are equal),
-- and a unique index makes it the claim's identity. SQLite's lower() folds
-- ASCII only, so existing rows are keyed by the store when it opens the
-- database (sqlite.Open); a row whose key another claim already has keeps a
-- NULL key and is still guarded by the NOCASE primary key.
ALTER TABLE claimed_names ADD COLUMN name_key TEXT;

CREATE UNIQUE INDEX claimed_names_name_key ON claimed_names (name_key);
