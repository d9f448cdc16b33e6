-- 0004_matches_mode_ended: the week's leaderboard (comet.LeaderQuery.Since)
-- reads one mode's matches that ended since a cutoff; this index finds them
-- without scanning every match ever played.
CREATE INDEX matches_mode_ended ON matches (mode, ended);
