package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"comet"
)

func TestMutes(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	seedPlayers(t, db, "a", "b", "c")
	clock := time.Unix(1000, 0)
	db.now = func() time.Time { clock = clock.Add(time.Second); return clock }

	steps := []struct {
		name   string
		op     func() error
		code   string
		mutesA []string
	}{
		{"mute c", func() error { return db.Mute(ctx, "a", "c") }, "", []string{"c"}},
		{"mute b", func() error { return db.Mute(ctx, "a", "b") }, "", []string{"c", "b"}},
		{"mute twice is a no-op", func() error { return db.Mute(ctx, "a", "c") }, "", []string{"c", "b"}},
		{"mute unknown", func() error { return db.Mute(ctx, "a", "zz") }, comet.ENOTFOUND, []string{"c", "b"}},
		{"unknown muter", func() error { return db.Mute(ctx, "zz", "a") }, comet.ENOTFOUND, []string{"c", "b"}},
		{"mute self", func() error { return db.Mute(ctx, "a", "a") }, comet.EINVALID, []string{"c", "b"}},
		{"unmute c", func() error { return db.Unmute(ctx, "a", "c") }, "", []string{"b"}},
		{"unmute not muted", func() error { return db.Unmute(ctx, "a", "c") }, "", []string{"b"}},
		{"unmute unknown", func() error { return db.Unmute(ctx, "zz", "yy") }, "", []string{"b"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			wantCode(t, s.op(), s.code)
			got, err := db.Mutes(ctx, "a")
			mustNil(t, err)
			if !slices.Equal(got, s.mutesA) {
				t.Fatalf("Mutes(a) = %v, want %v", got, s.mutesA)
			}
		})
	}
	// Mutes are per muter.
	got, err := db.Mutes(ctx, "b")
	mustNil(t, err)
	if got == nil || len(got) != 0 {
		t.Fatalf("Mutes(b) = %#v, want empty non-nil", got)
	}
}

// TestFlags covers bans and silences: set, idempotent, independent of each
// other and per player, and ENOTFOUND for an unknown player.
func TestFlags(t *testing.T) {
	ctx := context.Background()
	flags := []struct {
		name string
		set  func(db *DB, ctx context.Context, id string, on bool) error
		get  func(db *DB, ctx context.Context, id string) (bool, error)
	}{
		{"banned", (*DB).SetBanned, (*DB).Banned},
		{"silenced", (*DB).SetSilenced, (*DB).Silenced},
	}
	for i, f := range flags {
		other := flags[1-i]
		t.Run(f.name, func(t *testing.T) {
			db := newTestDB(t)
			seedPlayers(t, db, "a", "b")
			check := func(get func(*DB, context.Context, string) (bool, error), id string, want bool) {
				t.Helper()
				got, err := get(db, ctx, id)
				mustNil(t, err)
				if got != want {
					t.Fatalf("%s(%s) = %v, want %v", f.name, id, got, want)
				}
			}
			check(f.get, "a", false)
			mustNil(t, f.set(db, ctx, "a", true))
			check(f.get, "a", true)
			check(f.get, "b", false)
			check(other.get, "a", false)
			mustNil(t, f.set(db, ctx, "a", true)) // idempotent
			check(f.get, "a", true)
			mustNil(t, f.set(db, ctx, "a", false))
			check(f.get, "a", false)

			wantCode(t, f.set(db, ctx, "zz", true), comet.ENOTFOUND)
			_, err := f.get(db, ctx, "zz")
			wantCode(t, err, comet.ENOTFOUND)
		})
	}
}
