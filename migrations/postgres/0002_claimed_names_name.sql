-- 0002_claimed_names_name: a claim left with an older name key when
-- comet.NameKey's rule changes (the store re-keys claims when it opens the
-- database, and a claim whose new key an older claim holds keeps its old
-- one) is found by its exact name: index it for ClaimByName and the
-- name-is-free check.
CREATE INDEX claimed_names_name ON claimed_names (name);
