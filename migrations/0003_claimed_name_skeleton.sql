-- 0003_claimed_name_skeleton: claimed names are unique by look, not only by
-- case. name_key becomes comet.NameKey: the UTS #39 confusable skeleton of the
-- case-folded, NFKC-normalised name without invisible characters, so "Ada"
-- and "Аda" (Cyrillic А), "Bob" and "B0b" are one name. SQL cannot compute
-- the skeleton: every key is cleared here and the store keys the claims again
-- in Go when it opens the database (sqlite.Open), oldest claim first; a newer
-- claim whose key an older one already holds keeps a NULL key, is logged, and
-- is still found by its exact (NOCASE) name, so its owner can log in.
UPDATE claimed_names SET name_key = NULL;
