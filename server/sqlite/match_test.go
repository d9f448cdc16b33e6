package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestSaveMatchRows checks the stored rows, stats included (no query reads
// stats back); the behaviour is in server/storetest.
func TestSaveMatchRows(t *testing.T) {
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
	// The writer is usable afterwards, and a's totals hold m2 alone.
	mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: "a", Name: "A"}, []byte("ta")))
	mustNil(t, db.ClaimName(ctx, "a", "A", []byte("pw")))
	mustNil(t, db.SaveMatch(ctx, match("m2", "race", 0, false, "a:1:1")))
	checkBoard(t, db, "race")
	if got, err := db.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 10}); err != nil || len(got) != 1 || got[0].Games != 1 {
		t.Fatalf("board after m2 = %+v, %v", got, err)
	}
}

// boardFromMatches computes the all-time leaderboard of mode from
// match_players directly: the reference the kept totals must always equal.
func boardFromMatches(t testing.TB, db *DB, mode string) []comet.LeaderRow {
	t.Helper()
	rows := []comet.LeaderRow{}
	mustNil(t, db.DB().Select(&rows, `SELECT mp.player_id, p.name,
			SUM(mp.rank = 1) AS wins, MAX(mp.score) AS best_score, COUNT(*) AS games
		FROM matches m
		JOIN match_players mp ON mp.match_id = m.id AND mp.bot = 0
		JOIN claimed_names c ON c.player_id = mp.player_id
		JOIN players p ON p.id = mp.player_id
		WHERE m.mode = ? AND m.aborted = 0
		GROUP BY mp.player_id
		ORDER BY wins DESC, best_score DESC, games DESC, mp.player_id`, mode))
	return rows
}

// checkBoard fails unless Leaderboard(mode) equals the reference computed
// from the stored matches.
func checkBoard(t testing.TB, db *DB, mode string) {
	t.Helper()
	got, err := db.Leaderboard(context.Background(), comet.LeaderQuery{Mode: mode, Limit: MaxLimit})
	mustNil(t, err)
	if want := boardFromMatches(t, db, mode); !slices.Equal(got, want) {
		t.Fatalf("leaderboard of %s =\n%+v\nrecomputed from matches =\n%+v", mode, got, want)
	}
}

func BenchmarkLeaderboard(b *testing.B) {
	db := newTestDB(b)
	ctx := context.Background()
	// 2,000 matches of 4 humans and a bot among 200 players.
	for i := range 200 {
		mustNil(b, db.CreatePlayer(ctx, &comet.Player{ID: fmt.Sprintf("p%d", i), Name: "P"}, []byte{byte(i), 1}))
		mustNil(b, db.ClaimName(ctx, fmt.Sprintf("p%d", i), fmt.Sprintf("P%d", i), []byte("pw")))
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
		rows, err := db.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 20})
		if err != nil || len(rows) != 20 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}
