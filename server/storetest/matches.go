package storetest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"comet"
)

func init() {
	tests = append(tests,
		test{"SaveMatch", testSaveMatch},
		test{"Leaderboard", testLeaderboard},
		test{"PlayerMatches", testPlayerMatches},
		test{"LeaderboardMatchesRecomputed", testLeaderboardMatchesRecomputed},
	)
}

// match builds a finished match of mode ending at T0+minutes; each player is
// "id:score:rank", with ids starting "bot-" being bots.
func match(id, mode string, minutes int, aborted bool, players ...string) *comet.MatchResult {
	r := &comet.MatchResult{ID: id, RoomID: "room-" + id, Mode: mode, Seed: int64(len(id)) * 7,
		Started: T0.Add(time.Duration(minutes-5) * time.Minute), Ended: T0.Add(time.Duration(minutes) * time.Minute), Aborted: aborted}
	for _, p := range players {
		var score, rank int
		parts := strings.Split(p, ":")
		fmt.Sscan(parts[1], &score)
		fmt.Sscan(parts[2], &rank)
		r.Players = append(r.Players, comet.MatchPlayer{PlayerID: parts[0], Name: "N" + parts[0], Score: score, Rank: rank})
	}
	return r
}

func testSaveMatch(t *testing.T, e *env) {
	ctx := e.ctx
	r := match("m1", "race", 0, false, "a:10:1", "bot-1:20:2", "b:5:3")
	r.Players[0].Stats = map[string]int{"laps": 3, "crashes": 1}
	r.Players[2].Bot = true // a bot without the prefix still counts as a bot
	mustNil(t, e.SaveMatch(ctx, r))

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
			wantCode(t, e.SaveMatch(ctx, tt.r), tt.code)
		})
	}
	// Only a counts on the board: b is flagged a bot, bot-1 is one by id.
	board, err := e.Leaderboard(ctx, "race", 10)
	mustNil(t, err)
	if want := []comet.LeaderRow{{PlayerID: "a", Name: "Na", Wins: 1, BestScore: 10, Games: 1}}; !slices.Equal(board, want) {
		t.Fatalf("leaderboard = %+v, want %+v", board, want)
	}
	// m1 stored once with its three players; the refused m3 and m4 left nothing.
	for id, want := range map[string][]comet.PlayerMatch{
		"a":     {{MatchID: "m1", Mode: "race", Ended: T0, Score: 10, Rank: 1, Players: 3}},
		"bot-1": {{MatchID: "m1", Mode: "race", Ended: T0, Score: 20, Rank: 2, Players: 3}},
		"c":     {},
	} {
		got, err := e.PlayerMatches(ctx, id, 10)
		mustNil(t, err)
		if !slices.Equal(got, want) {
			t.Errorf("PlayerMatches(%s) = %+v, want %+v", id, got, want)
		}
	}
}

// refBoard computes the leaderboard of mode from the matches saved: the
// reference the store's totals must equal. Names are each player's name in
// its latest match (the tests using it store no player records).
func refBoard(saved []*comet.MatchResult, mode string) []comet.LeaderRow {
	rows := map[string]*comet.LeaderRow{}
	latest := map[string]*comet.MatchResult{}
	for _, r := range saved {
		for _, p := range r.Players {
			if l := latest[p.PlayerID]; l == nil || r.Ended.After(l.Ended) || (r.Ended.Equal(l.Ended) && r.ID > l.ID) {
				latest[p.PlayerID] = r
			}
			if r.Mode != mode || r.Aborted || p.Bot || strings.HasPrefix(p.PlayerID, "bot-") {
				continue
			}
			row := rows[p.PlayerID]
			if row == nil {
				row = &comet.LeaderRow{PlayerID: p.PlayerID, BestScore: p.Score}
				rows[p.PlayerID] = row
			}
			row.Games++
			row.BestScore = max(row.BestScore, p.Score)
			if p.Rank == 1 {
				row.Wins++
			}
		}
	}
	out := []comet.LeaderRow{}
	for id, row := range rows {
		for _, p := range latest[id].Players {
			if p.PlayerID == id {
				row.Name = p.Name
			}
		}
		out = append(out, *row)
	}
	slices.SortFunc(out, func(a, b comet.LeaderRow) int {
		return cmp.Or(cmp.Compare(b.Wins, a.Wins), cmp.Compare(b.BestScore, a.BestScore),
			cmp.Compare(b.Games, a.Games), cmp.Compare(a.PlayerID, b.PlayerID))
	})
	return out
}

func testLeaderboard(t *testing.T, e *env) {
	ctx := e.ctx
	// a and c have player records; b and d only appear in matches.
	mustNil(t, e.CreatePlayer(ctx, &comet.Player{ID: "a", Name: "Alice"}, []byte("ta")))
	mustNil(t, e.CreatePlayer(ctx, &comet.Player{ID: "c", Name: "Carol"}, []byte("tc")))
	for _, r := range []*comet.MatchResult{
		match("m1", "race", 1, false, "a:10:1", "b:8:2", "bot-x:99:3"),
		match("m2", "race", 2, false, "b:12:1", "a:9:2", "c:30:3"),
		match("m3", "race", 3, false, "a:11:1", "c:2:2", "bot-x:50:1"),
		match("m4", "race", 4, true, "b:100:1", "c:100:1"), // aborted: not counted
		match("m5", "arena", 5, false, "d:7:1", "c:3:2"),   // other mode
		match("m6", "race", 6, false, "d:12:1"),
	} {
		mustNil(t, e.SaveMatch(ctx, r))
	}
	// b played last under a new name; d has no player record.
	last := match("m7", "race", 7, false, "b:1:2", "c:1:1")
	last.Players[0].Name = "Bobby"
	mustNil(t, e.SaveMatch(ctx, last))

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
		{"huge limit is capped, not refused", "race", 1 << 30, race, ""},
		{"arena", "arena", 10, []comet.LeaderRow{row("d", "Nd", 1, 7, 1), row("c", "Carol", 0, 3, 1)}, ""},
		{"unknown mode", "nope", 10, []comet.LeaderRow{}, ""},
		{"zero limit", "race", 0, nil, comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Leaderboard(ctx, tt.mode, tt.limit)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if !slices.Equal(got, tt.want) || got == nil {
				t.Fatalf("leaderboard =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
	// Renaming a player shows on the board.
	mustNil(t, e.RenamePlayer(ctx, "a", "Alicia"))
	got, err := e.Leaderboard(ctx, "race", 1)
	mustNil(t, err)
	if len(got) != 1 || got[0].Name != "Alicia" {
		t.Fatalf("after rename: %+v", got)
	}
}

func testPlayerMatches(t *testing.T, e *env) {
	ctx := e.ctx
	for _, r := range []*comet.MatchResult{
		match("m1", "race", 1, false, "a:10:1", "b:8:2", "bot-x:99:3"),
		match("m3", "arena", 3, true, "a:0:2", "b:0:1"),
		match("m2", "race", 2, false, "b:12:1", "a:9:2"),
		match("m4", "race", 4, false, "b:1:1"),
	} {
		mustNil(t, e.SaveMatch(ctx, r))
	}
	pm := func(id, mode string, minutes, score, rank, players int, aborted bool) comet.PlayerMatch {
		return comet.PlayerMatch{MatchID: id, Mode: mode, Ended: T0.Add(time.Duration(minutes) * time.Minute),
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
		{"huge limit is capped, not refused", "a", 1 << 30, aAll, ""},
		{"bot has history too", "bot-x", 10, []comet.PlayerMatch{pm("m1", "race", 1, 99, 3, 3, false)}, ""},
		{"unknown player", "zz", 10, []comet.PlayerMatch{}, ""},
		{"negative limit", "a", -5, nil, comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.PlayerMatches(ctx, tt.player, tt.limit)
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

// testLeaderboardMatchesRecomputed saves random matches (both modes, aborted
// ones, bots, ties) and checks the kept totals against refBoard.
func testLeaderboardMatchesRecomputed(t *testing.T, e *env) {
	rng := rand.New(rand.NewPCG(1, 2))
	var saved []*comet.MatchResult
	for i := range 150 {
		r := &comet.MatchResult{ID: fmt.Sprintf("m%03d", i), Mode: []string{"race", "arena"}[rng.IntN(2)],
			Ended: T0.Add(time.Duration(rng.IntN(1000)) * time.Second), Aborted: rng.IntN(5) == 0}
		for j, id := range rng.Perm(12)[:1+rng.IntN(5)] {
			pid := fmt.Sprintf("p%d", id)
			if id >= 10 {
				pid = fmt.Sprintf("bot-%d", id)
			}
			r.Players = append(r.Players, comet.MatchPlayer{PlayerID: pid, Name: fmt.Sprintf("%s-%d", pid, i), Score: rng.IntN(20) - 5, Rank: 1 + j/2})
		}
		mustNil(t, e.SaveMatch(e.ctx, r))
		saved = append(saved, r)
	}
	for _, mode := range []string{"race", "arena"} {
		got, err := e.Leaderboard(e.ctx, mode, 1000)
		mustNil(t, err)
		if want := refBoard(saved, mode); !slices.Equal(got, want) {
			t.Fatalf("leaderboard of %s =\n%+v\nrecomputed from matches =\n%+v", mode, got, want)
		}
	}
}
