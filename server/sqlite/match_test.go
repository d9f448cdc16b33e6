package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"comet"
)

// t0 is a fixed base time for match fixtures.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// match builds a finished match of mode ending at t0+minutes; each player is
// "id:score:rank", with ids starting "bot-" being bots.
func match(id, mode string, minutes int, aborted bool, players ...string) *comet.MatchResult {
	r := &comet.MatchResult{ID: id, RoomID: "room-" + id, Mode: mode, Seed: int64(len(id)) * 7,
		Started: t0.Add(time.Duration(minutes-5) * time.Minute), Ended: t0.Add(time.Duration(minutes) * time.Minute), Aborted: aborted}
	for _, p := range players {
		var mp comet.MatchPlayer
		var score, rank int
		parts := strings.Split(p, ":")
		fmt.Sscan(parts[1], &score)
		fmt.Sscan(parts[2], &rank)
		mp = comet.MatchPlayer{PlayerID: parts[0], Name: "N" + parts[0], Score: score, Rank: rank}
		r.Players = append(r.Players, mp)
	}
	return r
}

func TestSaveMatch(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	r := match("m1", "race", 0, false, "a:10:1", "bot-1:20:2", "b:5:3")
	r.Players[0].Stats = map[string]int{"laps": 3, "crashes": 1}
	r.Players[2].Bot = true // a bot without the prefix still counts as a bot
	mustNil(t, db.SaveMatch(ctx, r))

	var m struct {
		ID      string `db:"id"`
		Room    string `db:"room"`
		Mode    string `db:"mode"`
		Seed    int64  `db:"seed"`
		Started int64  `db:"started"`
		Ended   int64  `db:"ended"`
		Aborted bool   `db:"aborted"`
	}
	mustNil(t, db.DB().Get(&m, `SELECT * FROM matches WHERE id = 'm1'`))
	if m.Room != r.RoomID || m.Mode != "race" || m.Seed != r.Seed || m.Started != r.Started.UnixMilli() || m.Ended != r.Ended.UnixMilli() || m.Aborted {
		t.Fatalf("match row = %+v", m)
	}
	var ps []struct {
		PlayerID string  `db:"player_id"`
		Name     string  `db:"name"`
		Score    int     `db:"score"`
		Rank     int     `db:"rank"`
		Bot      bool    `db:"bot"`
		Stats    *string `db:"stats"`
	}
	mustNil(t, db.DB().Select(&ps, `SELECT player_id, name, score, rank, bot, stats FROM match_players WHERE match_id = 'm1' ORDER BY rank`))
	if len(ps) != 3 {
		t.Fatalf("players = %+v", ps)
	}
	var stats map[string]int
	if ps[0].Stats == nil || json.Unmarshal([]byte(*ps[0].Stats), &stats) != nil || stats["laps"] != 3 || stats["crashes"] != 1 {
		t.Errorf("stats of a = %v", ps[0].Stats)
	}
	if ps[0].Bot || !ps[1].Bot || !ps[2].Bot || ps[1].Stats != nil {
		t.Errorf("bot flags/stats = %+v", ps)
	}

	tests := []struct {
		name string
		r    *comet.MatchResult
		code string
	}{
		{"same id again", match("m1", "race", 1, false, "c:1:1"), comet.ECONFLICT},
		{"nil", nil, comet.EINVALID},
		{"no id", match("", "race", 1, false), comet.EINVALID},
		{"no mode", match("m2", "", 1, false), comet.EINVALID},
		{"player twice", match("m3", "race", 1, false, "a:1:1", "a:2:2"), comet.EINVALID},
		{"player without id", match("m4", "race", 1, false, ":1:1"), comet.EINVALID},
		{"no players is fine", match("m5", "race", 1, true), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, db.SaveMatch(ctx, tt.r), tt.code)
		})
	}
	var n int
	mustNil(t, db.DB().Get(&n, `SELECT count(*) FROM matches`))
	if n != 2 {
		t.Errorf("%d matches stored, want 2 (m1, m5)", n)
	}
}

// TestSaveMatchIsOneTransaction makes the third player's insert fail (a
// trigger) and checks that neither the match, nor its first players, nor
// their leaderboard totals remain.
func TestSaveMatchIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	db.DB().MustExec(`CREATE TRIGGER fail_on_boom BEFORE INSERT ON match_players
		WHEN NEW.name = 'Nboom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END`)
	err := db.SaveMatch(ctx, match("m1", "race", 0, false, "a:1:1", "b:2:2", "boom:3:3"))
	if err == nil || !strings.Contains(err.Error(), "boom refused") || !strings.Contains(err.Error(), "m1") {
		t.Fatalf("err = %v", err)
	}
	if code := comet.ErrorCode(err); code != comet.EINTERNAL {
		t.Fatalf("code = %q, want internal", code)
	}
	var n int
	mustNil(t, db.DB().Get(&n, `SELECT (SELECT count(*) FROM matches) + (SELECT count(*) FROM match_players) + (SELECT count(*) FROM leaderboard)`))
	if n != 0 {
		t.Fatalf("%d rows left after a failed SaveMatch", n)
	}
	// The writer is usable afterwards.
	mustNil(t, db.SaveMatch(ctx, match("m2", "race", 0, false, "a:1:1")))
	checkBoard(t, db, "race")
}

// boardFromMatches computes the leaderboard of mode from match_players
// directly: the reference the kept totals must always equal.
func boardFromMatches(t testing.TB, db *DB, mode string) []comet.LeaderRow {
	t.Helper()
	rows := []comet.LeaderRow{}
	mustNil(t, db.DB().Select(&rows, `SELECT mp.player_id,
			COALESCE(p.name, (SELECT l.name FROM match_players l JOIN matches lm ON lm.id = l.match_id
				WHERE l.player_id = mp.player_id ORDER BY lm.ended DESC, lm.id DESC LIMIT 1)) AS name,
			SUM(mp.rank = 1) AS wins, MAX(mp.score) AS best_score, COUNT(*) AS games
		FROM matches m
		JOIN match_players mp ON mp.match_id = m.id AND mp.bot = 0
		LEFT JOIN players p ON p.id = mp.player_id
		WHERE m.mode = ? AND m.aborted = 0
		GROUP BY mp.player_id
		ORDER BY wins DESC, best_score DESC, games DESC, mp.player_id`, mode))
	return rows
}

// checkBoard fails unless Leaderboard(mode) equals the reference computed
// from the stored matches.
func checkBoard(t testing.TB, db *DB, mode string) {
	t.Helper()
	got, err := db.Leaderboard(context.Background(), mode, MaxLimit)
	mustNil(t, err)
	if want := boardFromMatches(t, db, mode); !slices.Equal(got, want) {
		t.Fatalf("leaderboard of %s =\n%+v\nrecomputed from matches =\n%+v", mode, got, want)
	}
}

func TestLeaderboard(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	// a and c have player records; b and d only appear in matches.
	mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: "a", Name: "Alice"}, []byte("ta")))
	mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: "c", Name: "Carol"}, []byte("tc")))
	for _, r := range []*comet.MatchResult{
		match("m1", "race", 1, false, "a:10:1", "b:8:2", "bot-x:99:3"),
		match("m2", "race", 2, false, "b:12:1", "a:9:2", "c:30:3"),
		match("m3", "race", 3, false, "a:11:1", "c:2:2", "bot-x:50:1"),
		match("m4", "race", 4, true, "b:100:1", "c:100:1"), // aborted: not counted
		match("m5", "arena", 5, false, "d:7:1", "c:3:2"),   // other mode
		match("m6", "race", 6, false, "d:12:1"),
	} {
		mustNil(t, db.SaveMatch(ctx, r))
	}
	// b played last under a new name; d has no player record.
	last := match("m7", "race", 7, false, "b:1:2", "c:1:1")
	last.Players[0].Name = "Bobby"
	mustNil(t, db.SaveMatch(ctx, last))

	row := func(id, name string, wins, best, games int) comet.LeaderRow {
		return comet.LeaderRow{PlayerID: id, Name: name, Wins: wins, BestScore: best, Games: games}
	}
	race := []comet.LeaderRow{
		row("a", "Alice", 2, 11, 3),
		row("c", "Carol", 1, 30, 3), // wins 1, best 30 beats b's and d's 12
		row("b", "Bobby", 1, 12, 3), // same wins and best as d, more games
		row("d", "Nd", 1, 12, 1),
	}
	tests := []struct {
		name  string
		mode  string
		limit int
		want  []comet.LeaderRow
		code  string
	}{
		{"race", "race", 10, race, ""},
		{"race top 2", "race", 2, race[:2], ""},
		{"arena", "arena", 10, []comet.LeaderRow{row("d", "Nd", 1, 7, 1), row("c", "Carol", 0, 3, 1)}, ""},
		{"unknown mode", "nope", 10, []comet.LeaderRow{}, ""},
		{"zero limit", "race", 0, nil, comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Leaderboard(ctx, tt.mode, tt.limit)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if !slices.Equal(got, tt.want) || got == nil {
				t.Fatalf("leaderboard =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
	checkBoard(t, db, "race")
	checkBoard(t, db, "arena")
	// Renaming a player shows on the board.
	mustNil(t, db.RenamePlayer(ctx, "a", "Alicia"))
	got, err := db.Leaderboard(ctx, "race", 1)
	mustNil(t, err)
	if len(got) != 1 || got[0].Name != "Alicia" {
		t.Fatalf("after rename: %+v", got)
	}
}

func TestPlayerMatches(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	for _, r := range []*comet.MatchResult{
		match("m1", "race", 1, false, "a:10:1", "b:8:2", "bot-x:99:3"),
		match("m3", "arena", 3, true, "a:0:2", "b:0:1"),
		match("m2", "race", 2, false, "b:12:1", "a:9:2"),
		match("m4", "race", 4, false, "b:1:1"),
	} {
		mustNil(t, db.SaveMatch(ctx, r))
	}
	pm := func(id, mode string, minutes, score, rank, players int, aborted bool) comet.PlayerMatch {
		return comet.PlayerMatch{MatchID: id, Mode: mode, Ended: t0.Add(time.Duration(minutes) * time.Minute),
			Score: score, Rank: rank, Players: players, Aborted: aborted}
	}
	aAll := []comet.PlayerMatch{
		pm("m3", "arena", 3, 0, 2, 2, true),
		pm("m2", "race", 2, 9, 2, 2, false),
		pm("m1", "race", 1, 10, 1, 3, false),
	}
	tests := []struct {
		name   string
		player string
		limit  int
		want   []comet.PlayerMatch
		code   string
	}{
		{"newest first", "a", 10, aAll, ""},
		{"limit", "a", 2, aAll[:2], ""},
		{"bot has history too", "bot-x", 10, []comet.PlayerMatch{pm("m1", "race", 1, 99, 3, 3, false)}, ""},
		{"unknown player", "zz", 10, []comet.PlayerMatch{}, ""},
		{"negative limit", "a", -5, nil, comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.PlayerMatches(ctx, tt.player, tt.limit)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if got == nil || len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] || got[i].Ended.Location() != time.UTC {
					t.Fatalf("row %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func BenchmarkLeaderboard(b *testing.B) {
	db := newTestDB(b)
	ctx := context.Background()
	// 2,000 matches of 4 humans and a bot among 200 players.
	for i := range 200 {
		mustNil(b, db.CreatePlayer(ctx, &comet.Player{ID: fmt.Sprintf("p%d", i), Name: "P"}, []byte{byte(i), 1}))
	}
	for i := range 2000 {
		r := &comet.MatchResult{ID: fmt.Sprintf("m%d", i), Mode: "race", Started: t0, Ended: t0}
		for j := range 4 {
			r.Players = append(r.Players, comet.MatchPlayer{PlayerID: fmt.Sprintf("p%d", (i*7+j*13)%200), Score: (i * j) % 97, Rank: j + 1})
		}
		r.Players = append(r.Players, comet.MatchPlayer{PlayerID: "bot-1", Score: 1, Rank: 5})
		mustNil(b, db.SaveMatch(ctx, r))
	}
	b.ReportAllocs()
	for b.Loop() {
		rows, err := db.Leaderboard(ctx, "race", 20)
		if err != nil || len(rows) != 20 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}

// TestLeaderboardMatchesRecomputed saves random matches (both modes, aborted
// ones, bots, ties) and checks the kept totals against a recomputation.
func TestLeaderboardMatchesRecomputed(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 150 {
		r := &comet.MatchResult{ID: fmt.Sprintf("m%d", i), Mode: []string{"race", "arena"}[rng.IntN(2)],
			Ended: t0.Add(time.Duration(rng.IntN(1000)) * time.Second), Aborted: rng.IntN(5) == 0}
		for j, id := range rng.Perm(12)[:1+rng.IntN(5)] {
			pid := fmt.Sprintf("p%d", id)
			if id >= 10 {
				pid = fmt.Sprintf("bot-%d", id)
			}
			r.Players = append(r.Players, comet.MatchPlayer{PlayerID: pid, Name: pid, Score: rng.IntN(20) - 5, Rank: 1 + j/2})
		}
		mustNil(t, db.SaveMatch(ctx, r))
	}
	checkBoard(t, db, "race")
	checkBoard(t, db, "arena")
}
