package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"comet"
)

func init() {
	tests = append(tests,
		test{"Mutes", testMutes},
		test{"Flags", testFlags},
	)
}

func testMutes(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "a", "b", "c")
	e.clock.Tick(time.Second)

	steps := []struct {
		name   string
		op     func() error
		code   string
		mutesA []string
	}{
		{"mute c", func() error { return e.Mute(ctx, "a", "c") }, "", []string{"c"}},
		{"mute b", func() error { return e.Mute(ctx, "a", "b") }, "", []string{"c", "b"}},
		{"mute twice is a no-op", func() error { return e.Mute(ctx, "a", "c") }, "", []string{"c", "b"}},
		{"mute unknown", func() error { return e.Mute(ctx, "a", "zz") }, comet.ENOTFOUND, []string{"c", "b"}},
		{"unknown muter", func() error { return e.Mute(ctx, "zz", "a") }, comet.ENOTFOUND, []string{"c", "b"}},
		{"mute self", func() error { return e.Mute(ctx, "a", "a") }, comet.EINVALID, []string{"c", "b"}},
		{"unmute c", func() error { return e.Unmute(ctx, "a", "c") }, "", []string{"b"}},
		{"unmute not muted", func() error { return e.Unmute(ctx, "a", "c") }, "", []string{"b"}},
		{"unmute unknown", func() error { return e.Unmute(ctx, "zz", "yy") }, "", []string{"b"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			wantCode(t, s.op(), s.code)
			got, err := e.Mutes(ctx, "a")
			mustNil(t, err)
			if !slices.Equal(got, s.mutesA) {
				t.Fatalf("Mutes(a) = %v, want %v", got, s.mutesA)
			}
		})
	}
	// Mutes are per muter.
	got, err := e.Mutes(ctx, "b")
	mustNil(t, err)
	if got == nil || len(got) != 0 {
		t.Fatalf("Mutes(b) = %#v, want empty non-nil", got)
	}
}

// testFlags covers bans and silences: set, idempotent, independent of each
// other and per player, and ENOTFOUND for an unknown player.
func testFlags(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "a", "b")
	type setFn func(ctx context.Context, id string, on bool) error
	type getFn func(ctx context.Context, id string) (bool, error)
	flags := []struct {
		name string
		set  setFn
		get  getFn
	}{
		{"banned", e.SetBanned, e.Banned},
		{"silenced", e.SetSilenced, e.Silenced},
	}
	for i, f := range flags {
		other := flags[1-i]
		t.Run(f.name, func(t *testing.T) {
			check := func(get getFn, id string, want bool) {
				t.Helper()
				got, err := get(ctx, id)
				mustNil(t, err)
				if got != want {
					t.Fatalf("%s(%s) = %v, want %v", f.name, id, got, want)
				}
			}
			check(f.get, "a", false)
			mustNil(t, f.set(ctx, "a", true))
			check(f.get, "a", true)
			check(f.get, "b", false)
			check(other.get, "a", false)
			mustNil(t, f.set(ctx, "a", true)) // idempotent
			check(f.get, "a", true)
			mustNil(t, f.set(ctx, "a", false))
			check(f.get, "a", false)

			wantCode(t, f.set(ctx, "zz", true), comet.ENOTFOUND)
			_, err := f.get(ctx, "zz")
			wantCode(t, err, comet.ENOTFOUND)
		})
	}
}
