package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"comet"
)

func init() {
	tests = append(tests,
		test{"PurgeGuests", testPurgeGuests},
		test{"PurgeKeepsMatchResults", testPurgeKeepsMatchResults},
		test{"PurgeChat", testPurgeChat},
		test{"PurgeManyInBatches", testPurgeManyInBatches},
		test{"PurgePolicy", testPurgePolicy},
		test{"LastSeen", testLastSeen},
	)
}

const day = 24 * time.Hour

// testPurgeGuests: which players a guest retention deletes, and what goes
// with them.
func testPurgeGuests(t *testing.T, e *env) {
	ctx := e.ctx
	// All created (seen) at T0 ...
	seedPlayers(t, e, "old", "claimed", "banned", "silenced", "muter", "fresh")
	mustNil(t, e.AddPlayerToken(ctx, "old", []byte("old-2")))
	mustNil(t, e.ClaimName(ctx, "claimed", "Keeper", []byte("pw")))
	mustNil(t, e.SetBanned(ctx, "banned", true))
	mustNil(t, e.SetSilenced(ctx, "silenced", true))
	mustNil(t, e.Mute(ctx, "muter", "old"))
	mustNil(t, e.Mute(ctx, "old", "muter"))
	mustNil(t, e.Mute(ctx, "old", "claimed"))
	mustNil(t, e.Mute(ctx, "muter", "claimed"))
	mustNil(t, e.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", FromID: "old", FromName: "Nold", Text: "bye"}))
	// ... but fresh logs in again 20 days later (ClaimName marked claimed seen
	// at T0 too; the claim, not the time, keeps it).
	e.clock.Set(T0.Add(20 * day))
	mustNil(t, e.AddPlayerToken(ctx, "fresh", []byte("fresh-2")))

	policy := comet.RetentionPolicy{Guests: 30 * day}
	// 29 days on, nobody is 30 days unseen.
	st, err := e.Purge(ctx, policy, T0.Add(29*day))
	mustNil(t, err)
	if st != (comet.PurgeStats{}) {
		t.Fatalf("purge at 29 days = %+v, want nothing", st)
	}
	// Exactly 30 days on: unseen for exactly the retention is kept.
	st, err = e.Purge(ctx, policy, T0.Add(30*day))
	mustNil(t, err)
	if st != (comet.PurgeStats{}) {
		t.Fatalf("purge at exactly 30 days = %+v, want nothing", st)
	}

	st, err = e.Purge(ctx, policy, T0.Add(31*day))
	mustNil(t, err)
	// old and muter go (tokens: told, old-2, tmuter; mutes: all four involve one of them).
	if want := (comet.PurgeStats{Guests: 2, Tokens: 3, Mutes: 4}); st != want {
		t.Fatalf("purge at 31 days = %+v, want %+v", st, want)
	}
	for id, want := range map[string]bool{"old": false, "muter": false, "claimed": true, "banned": true, "silenced": true, "fresh": true} {
		if got := exists(t, e, id); got != want {
			t.Errorf("player %s exists = %v, want %v", id, got, want)
		}
	}
	if got := tokenOwners(t, e, "told", "old-2", "tmuter", "tfresh", "fresh-2"); fmt.Sprint(got) !=
		fmt.Sprint(map[string]string{"told": "", "old-2": "", "tmuter": "", "tfresh": "fresh", "fresh-2": "fresh"}) {
		t.Errorf("tokens after purge: %v", got)
	}
	mutes, err := e.Mutes(ctx, "old")
	mustNil(t, err)
	if len(mutes) != 0 {
		t.Errorf("mutes of a purged player: %v", mutes)
	}
	// A purged guest's chat line stays (its sender's name is stored with it).
	hist, err := e.ChatHistory(ctx, "lobby", 10)
	mustNil(t, err)
	if len(hist) != 1 || hist[0].FromName != "Nold" {
		t.Errorf("history after guest purge = %+v", hist)
	}
	// Its id is free again and a second purge finds nothing more.
	seedPlayers(t, e, "old")
	st, err = e.Purge(ctx, policy, T0.Add(31*day))
	mustNil(t, err)
	if st != (comet.PurgeStats{}) {
		t.Fatalf("second purge = %+v", st)
	}
	// The claimed player's name is still guarded and logs in.
	wantCode(t, e.RenamePlayer(ctx, "fresh", "keeper"), comet.ECONFLICT)
	if p, _, err := e.ClaimByName(ctx, "KEEPER"); err != nil || p.ID != "claimed" {
		t.Errorf("ClaimByName after purge = %+v, %v", p, err)
	}
}

// testPurgeKeepsMatchResults: a purged guest's results stay in other
// players' histories; the board (claimed players only) is unchanged.
func testPurgeKeepsMatchResults(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "g", "c")
	mustNil(t, e.ClaimName(ctx, "c", "Cee", []byte("pw")))
	mustNil(t, e.SaveMatch(ctx, match("m1", "race", 1, false, "g:10:1", "c:5:2")))
	before, err := e.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 10})
	mustNil(t, err)
	cBefore, err := e.PlayerMatches(ctx, "c", 10)
	mustNil(t, err)

	st, err := e.Purge(ctx, comet.RetentionPolicy{Guests: 30 * day}, T0.Add(60*day))
	mustNil(t, err)
	if st.Guests != 1 || exists(t, e, "g") {
		t.Fatalf("purge = %+v; g exists %v", st, exists(t, e, "g"))
	}
	after, err := e.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 10})
	mustNil(t, err)
	// Only the claimed c is ranked, before and after: the guest g never was.
	if !slices.Equal(after, before) || len(after) != 1 || after[0].PlayerID != "c" || after[0].Name != "Cee" {
		t.Fatalf("leaderboard after purge = %+v, before %+v", after, before)
	}
	cAfter, err := e.PlayerMatches(ctx, "c", 10)
	mustNil(t, err)
	if !slices.Equal(cAfter, cBefore) || cAfter[0].Players != 2 {
		t.Fatalf("c's history after purge = %+v, before %+v", cAfter, cBefore)
	}
	if gm, err := e.PlayerMatches(ctx, "g", 10); err != nil || len(gm) != 1 {
		t.Fatalf("g's results after purge = %+v, %v", gm, err)
	}
}

func testPurgeChat(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "p")
	at := func(days int) time.Time { return T0.Add(time.Duration(days) * day) }
	lines := []struct {
		channel string
		days    int
	}{{"lobby", 0}, {"room:1", 5}, {"lobby", 9}, {"lobby", 10}, {"dm:p:q", 11}, {"lobby", 40}}
	var last int64
	for i, l := range lines {
		m := &comet.ChatMessage{Channel: l.channel, FromID: "p", Text: fmt.Sprint(i), At: at(l.days)}
		if i%2 == 0 { // keyed and keyless lines purge alike
			m.Key = fmt.Sprintf("s_p:%d", i)
		}
		mustNil(t, e.SaveChat(ctx, m))
		last = m.ID
	}
	// Retention of 30 days at day 40: the cutoff is day 10; older goes, day 10 stays.
	st, err := e.Purge(ctx, comet.RetentionPolicy{Chat: 30 * day, Guests: 0}, at(40))
	mustNil(t, err)
	if want := (comet.PurgeStats{Chat: 3}); st != want {
		t.Fatalf("purge = %+v, want %+v", st, want)
	}
	texts := func(channel string) []string {
		hist, err := e.ChatHistory(ctx, channel, 100)
		mustNil(t, err)
		var out []string
		for _, m := range hist {
			out = append(out, m.Text)
		}
		return out
	}
	for ch, want := range map[string][]string{"lobby": {"3", "5"}, "room:1": nil, "dm:p:q": {"4"}} {
		if got := texts(ch); !slices.Equal(got, want) {
			t.Errorf("%s after purge = %v, want %v", ch, got, want)
		}
	}
	// Guests were not part of this policy: p (unseen 40 days) stays.
	if !exists(t, e, "p") {
		t.Error("chat-only purge deleted a player")
	}
	// Ids keep increasing after deletes: an id stays a safe resume cursor.
	m := &comet.ChatMessage{Channel: "lobby", Text: "new"}
	mustNil(t, e.SaveChat(ctx, m))
	if m.ID <= last {
		t.Errorf("id after purge = %d, last before = %d", m.ID, last)
	}
}

// testPurgeManyInBatches purges more rows than one batch of any store.
func testPurgeManyInBatches(t *testing.T, e *env) {
	ctx := e.ctx
	const guests, lines = 1100, 1300
	for i := range guests {
		mustNil(t, e.CreatePlayer(ctx, &comet.Player{ID: fmt.Sprintf("g%04d", i), Name: "g"}, fmt.Appendf(nil, "t%d", i)))
	}
	for i := range lines {
		mustNil(t, e.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", Text: fmt.Sprint(i)}))
	}
	st, err := e.Purge(ctx, comet.RetentionPolicy{Guests: day, Chat: day}, T0.Add(2*day))
	mustNil(t, err)
	if want := (comet.PurgeStats{Guests: guests, Tokens: guests, Chat: lines}); st != want {
		t.Fatalf("purge = %+v, want %+v", st, want)
	}
	if exists(t, e, "g0000") || exists(t, e, fmt.Sprintf("g%04d", guests-1)) {
		t.Error("guests left after purge")
	}
	if hist, err := e.ChatHistory(ctx, "lobby", 10); err != nil || len(hist) != 0 {
		t.Errorf("history = %d lines, %v", len(hist), err)
	}
}

func testPurgePolicy(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "p")
	mustNil(t, e.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", Text: "x"}))
	far := T0.Add(10000 * day)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		policy comet.RetentionPolicy
		code   string
	}{
		{"zero keeps forever", ctx, comet.RetentionPolicy{}, ""},
		{"negative keeps forever", ctx, comet.RetentionPolicy{Guests: -day, Chat: -1}, ""},
		{"guests below the minimum", ctx, comet.RetentionPolicy{Guests: time.Hour}, comet.EINVALID},
		{"cancelled context", cancelled, comet.RetentionPolicy{Guests: day, Chat: day}, comet.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := e.Purge(tt.ctx, tt.policy, far)
			if tt.code == comet.EINTERNAL {
				if comet.ErrorCode(err) != comet.EINTERNAL || !errors.Is(err, context.Canceled) {
					t.Fatalf("error = %v; want an internal error wrapping context.Canceled", err)
				}
			} else {
				wantCode(t, err, tt.code)
			}
			if st != (comet.PurgeStats{}) {
				t.Fatalf("purge = %+v, want nothing deleted", st)
			}
		})
	}
	if !exists(t, e, "p") {
		t.Fatal("a keep-forever or refused purge deleted p")
	}
}

// testLastSeen: what marks a guest seen, and that a token lookup rewrites
// the time at most every comet.LastSeenEvery.
func testLastSeen(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "lookup-late", "lookup-soon", "add", "set", "claim", "idle")
	e.clock.Set(T0.Add(comet.LastSeenEvery - time.Minute))
	_, err := e.PlayerByToken(ctx, []byte("tlookup-soon")) // too soon: not rewritten
	mustNil(t, err)
	e.clock.Set(T0.Add(2 * day))
	_, err = e.PlayerByToken(ctx, []byte("tlookup-late"))
	mustNil(t, err)
	mustNil(t, e.AddPlayerToken(ctx, "add", []byte("add-2")))
	mustNil(t, e.SetPlayerToken(ctx, "set", []byte("set-2")))
	mustNil(t, e.ClaimName(ctx, "claim", "Claimer", []byte("pw")))
	// Lookups by id, renames and mutes are not logins.
	_, err = e.PlayerByID(ctx, "idle")
	mustNil(t, err)
	mustNil(t, e.RenamePlayer(ctx, "idle", "Idler"))

	// At T0+31d with 30 days: the cutoff is T0+1d. Seen at T0 goes.
	st, err := e.Purge(ctx, comet.RetentionPolicy{Guests: 30 * day}, T0.Add(31*day))
	mustNil(t, err)
	if st.Guests != 2 {
		t.Errorf("purged %d guests, want 2 (lookup-soon, idle)", st.Guests)
	}
	for id, want := range map[string]bool{"lookup-late": true, "lookup-soon": false, "add": true, "set": true, "claim": true, "idle": false} {
		if got := exists(t, e, id); got != want {
			t.Errorf("player %s exists = %v, want %v", id, got, want)
		}
	}
	// A token lookup of a player purged meanwhile is ENOTFOUND.
	_, err = e.PlayerByToken(ctx, []byte("tidle"))
	wantCode(t, err, comet.ENOTFOUND)
}
