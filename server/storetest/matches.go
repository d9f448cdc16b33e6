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
	claim(t, e, map[string]string{"a": "Na", "b": "Nb"})
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
	board, err := e.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 10})
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

// claim creates each player of names (id to name) and claims its name.
func claim(t *testing.T, e *env, names map[string]string) {
	t.Helper()
	for id, name := range names {
		mustNil(t, e.CreatePlayer(e.ctx, &comet.Player{ID: id, Name: "guest-" + id}, []byte("t"+id)))
		mustNil(t, e.ClaimName(e.ctx, id, name, []byte("pw")))
	}
}

// refBoard computes the leaderboard of mode from the matches saved that ended
// at or after since: the reference the store must equal. Only the players of
// claimed (id to current name) are ranked.
func refBoard(saved []*comet.MatchResult, mode string, since time.Time, claimed map[string]string) []comet.LeaderRow {
	rows := map[string]*comet.LeaderRow{}
	for _, r := range saved {
		if r.Mode != mode || r.Aborted || r.Ended.Before(since) {
			continue
		}
		for _, p := range r.Players {
			name, ok := claimed[p.PlayerID]
			if !ok || p.Bot || strings.HasPrefix(p.PlayerID, "bot-") {
				continue
			}
			row := rows[p.PlayerID]
			if row == nil {
				row = &comet.LeaderRow{PlayerID: p.PlayerID, Name: name, BestScore: p.Score}
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
	for _, row := range rows {
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
	// a and c claimed their names; b is a guest with a record; d has none.
	claim(t, e, map[string]string{"a": "Alice", "c": "Carol"})
	seedPlayers(t, e, "b")
	for _, r := range []*comet.MatchResult{
		match("m1", "race", 1, false, "a:10:1", "b:8:2", "bot-x:99:3"),
		match("m2", "race", 2, false, "b:12:1", "a:9:2", "c:30:3"),
		match("m3", "race", 3, false, "a:11:1", "c:2:2", "bot-x:50:1"),
		match("m4", "race", 4, true, "b:100:1", "c:100:1"), // aborted: not counted
		match("m5", "arena", 5, false, "d:7:1", "c:3:2"),   // other mode
		match("m6", "race", 6, false, "d:12:1"),
		match("m7", "race", 7, false, "b:1:2", "c:1:1"),
	} {
		mustNil(t, e.SaveMatch(ctx, r))
	}

	row := func(id, name string, wins, best, games int) comet.LeaderRow {
		return comet.LeaderRow{PlayerID: id, Name: name, Wins: wins, BestScore: best, Games: games}
	}
	at := func(minutes int) time.Time { return T0.Add(time.Duration(minutes) * time.Minute) }
	race := []comet.LeaderRow{
		row("a", "Alice", 2, 11, 3),
		row("c", "Carol", 1, 30, 3), // the guests b and d have wins too, but no claim
	}
	tests := []struct {
		name string
		q    comet.LeaderQuery
		want []comet.LeaderRow
		code string
	}{
		{"race", comet.LeaderQuery{Mode: "race", Limit: 10}, race, ""},
		{"race top 1", comet.LeaderQuery{Mode: "race", Limit: 1}, race[:1], ""},
		{"huge limit is capped, not refused", comet.LeaderQuery{Mode: "race", Limit: 1 << 30}, race, ""},
		{"arena", comet.LeaderQuery{Mode: "arena", Limit: 10}, []comet.LeaderRow{row("c", "Carol", 0, 3, 1)}, ""},
		{"unknown mode", comet.LeaderQuery{Mode: "nope", Limit: 10}, []comet.LeaderRow{}, ""},
		{"zero limit", comet.LeaderQuery{Mode: "race"}, nil, comet.EINVALID},
		// Since counts the matches ended at or after it: m3 on (m4 is aborted).
		{"since m3", comet.LeaderQuery{Mode: "race", Since: at(3), Limit: 10}, []comet.LeaderRow{row("a", "Alice", 1, 11, 1), row("c", "Carol", 1, 2, 2)}, ""},
		{"since m3 top 1", comet.LeaderQuery{Mode: "race", Since: at(3), Limit: 1}, []comet.LeaderRow{row("a", "Alice", 1, 11, 1)}, ""},
		{"since just after m3", comet.LeaderQuery{Mode: "race", Since: at(3).Add(time.Millisecond), Limit: 10}, []comet.LeaderRow{row("c", "Carol", 1, 1, 1)}, ""},
		{"since after the last", comet.LeaderQuery{Mode: "race", Since: at(8), Limit: 10}, []comet.LeaderRow{}, ""},
		{"since, other mode", comet.LeaderQuery{Mode: "arena", Since: at(1), Limit: 10}, []comet.LeaderRow{row("c", "Carol", 0, 3, 1)}, ""},
		{"since, zero limit", comet.LeaderQuery{Mode: "race", Since: at(1)}, nil, comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Leaderboard(ctx, tt.q)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if !slices.Equal(got, tt.want) || got == nil {
				t.Fatalf("leaderboard =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
	// A guest who claims a name joins the board with its past matches, under
	// its claimed name; renaming a player shows on the board.
	mustNil(t, e.ClaimName(ctx, "b", "Bob", []byte("pw")))
	mustNil(t, e.RenamePlayer(ctx, "a", "Alicia"))
	for _, tt := range []struct {
		since time.Time
		want  []comet.LeaderRow
	}{
		{time.Time{}, []comet.LeaderRow{row("a", "Alicia", 2, 11, 3), row("c", "Carol", 1, 30, 3), row("b", "Bob", 1, 12, 3)}},
		{at(2), []comet.LeaderRow{row("c", "Carol", 1, 30, 3), row("b", "Bob", 1, 12, 2), row("a", "Alicia", 1, 11, 2)}},
	} {
		got, err := e.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Since: tt.since, Limit: 10})
		mustNil(t, err)
		if !slices.Equal(got, tt.want) {
			t.Fatalf("since %v after claim and rename:\n%+v\nwant\n%+v", tt.since, got, tt.want)
		}
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
// ones, bots, ties, guests and claimed players) and checks the board, all
// time and since several cutoffs, against refBoard.
func testLeaderboardMatchesRecomputed(t *testing.T, e *env) {
	rng := rand.New(rand.NewPCG(1, 2))
	claimed := map[string]string{}
	for id := 0; id < 10; id += 2 {
		claimed[fmt.Sprintf("p%d", id)] = fmt.Sprintf("Claim%d", id)
	}
	claim(t, e, claimed)
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
		for _, since := range []time.Time{{}, T0.Add(300 * time.Second), T0.Add(900 * time.Second)} {
			got, err := e.Leaderboard(e.ctx, comet.LeaderQuery{Mode: mode, Since: since, Limit: 1000})
			mustNil(t, err)
			if want := refBoard(saved, mode, since, claimed); !slices.Equal(got, want) || len(want) == 0 {
				t.Fatalf("leaderboard of %s since %v =\n%+v\nrecomputed from matches =\n%+v", mode, since, got, want)
			}
		}
	}
}
