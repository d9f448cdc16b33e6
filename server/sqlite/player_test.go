package sqlite

import (
	"context"
	"testing"
	"time"

	"comet"
)

// seedPlayers creates players p1..pn named P1..Pn with tokens t1..tn.
func seedPlayers(t *testing.T, db *DB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		mustNil(t, db.CreatePlayer(context.Background(), &comet.Player{ID: id, Name: "N" + id}, []byte("t"+id)))
	}
}

// TestLastSeenColumn checks the stored last_seen column: set by logins,
// and rewritten by a token lookup only when comet.LastSeenEvery old, so a
// busy player's lookups cost no writes.
func TestLastSeenColumn(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	clock := time.Unix(1000, 0)
	db.now = func() time.Time { return clock }
	seedPlayers(t, db, "p1")
	lastSeen := func() int64 {
		var ms int64
		mustNil(t, db.DB().Get(&ms, `SELECT last_seen FROM players WHERE id = 'p1'`))
		return ms
	}
	steps := []struct {
		name    string
		advance time.Duration
		op      func() error
		want    int64 // unix ms
	}{
		{"create", 0, func() error { return nil }, 1_000_000},
		{"add token", time.Minute, func() error { return db.AddPlayerToken(ctx, "p1", []byte("x")) }, 1_060_000},
		{"set token", time.Minute, func() error { return db.SetPlayerToken(ctx, "p1", []byte("y")) }, 1_120_000},
		{"lookup within the hour", 59 * time.Minute, func() error { _, err := db.PlayerByToken(ctx, []byte("y")); return err }, 1_120_000},
		{"lookup an hour on", time.Minute, func() error { _, err := db.PlayerByToken(ctx, []byte("y")); return err }, 4_720_000},
		{"lookup by id", 2 * time.Hour, func() error { _, err := db.PlayerByID(ctx, "p1"); return err }, 4_720_000},
		{"claim", 0, func() error { return db.ClaimName(ctx, "p1", "Pea", []byte("pw")) }, 11_920_000},
		{"a clock gone back never lowers it", -5 * time.Hour, func() error { _, err := db.PlayerByToken(ctx, []byte("y")); return err }, 11_920_000},
	}
	for _, s := range steps {
		clock = clock.Add(s.advance)
		mustNil(t, s.op())
		if got := lastSeen(); got != s.want {
			t.Fatalf("%s: last_seen = %d, want %d", s.name, got, s.want)
		}
	}
}
