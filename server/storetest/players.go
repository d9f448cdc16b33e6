package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"comet"
)

func init() {
	tests = append(tests,
		test{"CreatePlayer", testCreatePlayer},
		test{"PlayerLookups", testPlayerLookups},
		test{"RenamePlayer", testRenamePlayer},
		test{"ClaimName", testClaimName},
		test{"ClaimNameFoldsUnicodeCase", testClaimNameFoldsUnicodeCase},
		test{"PlayerTokens", testPlayerTokens},
		test{"AddPlayerTokenKeepsNewest", testAddPlayerTokenKeepsNewest},
	)
}

func testCreatePlayer(t *testing.T, e *env) {
	ctx := e.ctx
	fixed := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	e.clock.Set(fixed)

	p := &comet.Player{ID: "p1", Name: "Ann", Claimed: true}
	mustNil(t, e.CreatePlayer(ctx, p, []byte("tok")))
	wantCreated := time.Date(2024, 5, 6, 6, 8, 9, 123000000, time.UTC)
	if p.Claimed || !p.CreatedAt.Equal(wantCreated) || p.CreatedAt.Location() != time.UTC {
		t.Fatalf("after create: %+v; want Claimed false, CreatedAt %v UTC", p, wantCreated)
	}
	mustNil(t, e.ClaimName(ctx, "p1", "Taken", []byte("pw")))

	tests := []struct {
		name  string
		p     *comet.Player
		token string
		code  string
	}{
		{"ok with given time", &comet.Player{ID: "p2", Name: "Bob", CreatedAt: fixed.Add(-time.Hour)}, "tok2", ""},
		{"duplicate id", &comet.Player{ID: "p1", Name: "Other"}, "tok3", comet.ECONFLICT},
		{"duplicate token", &comet.Player{ID: "p3", Name: "Cat"}, "tok", comet.ECONFLICT},
		{"claimed name is not checked", &comet.Player{ID: "p4", Name: "tAKEN"}, "tok4", ""},
		{"no id", &comet.Player{Name: "x"}, "tok5", comet.EINVALID},
		{"no name", &comet.Player{ID: "p5"}, "tok5", comet.EINVALID},
		{"no token", &comet.Player{ID: "p6", Name: "x"}, "", comet.EINVALID},
		{"nil", nil, "tok7", comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, e.CreatePlayer(ctx, tt.p, []byte(tt.token)), tt.code)
			if tt.code != "" && tt.p != nil && tt.p.ID != "" && tt.p.ID != "p1" && exists(t, e, tt.p.ID) {
				t.Fatalf("failed CreatePlayer left player %s", tt.p.ID)
			}
		})
	}
	got, err := e.PlayerByID(ctx, "p2")
	mustNil(t, err)
	if !got.CreatedAt.Equal(fixed.Add(-time.Hour).Truncate(time.Millisecond)) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("p2 CreatedAt = %v", got.CreatedAt)
	}
	// The duplicate id did not overwrite p1.
	got, err = e.PlayerByID(ctx, "p1")
	mustNil(t, err)
	if got.Name != "Taken" || !got.Claimed || !got.CreatedAt.Equal(wantCreated) {
		t.Errorf("p1 = %+v", got)
	}
}

func testPlayerLookups(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "p1", "p2")
	mustNil(t, e.ClaimName(ctx, "p2", "Zed", []byte("pw")))

	tests := []struct {
		name    string
		get     func() (*comet.Player, error)
		id      string
		claimed bool
		code    string
	}{
		{"by id", func() (*comet.Player, error) { return e.PlayerByID(ctx, "p1") }, "p1", false, ""},
		{"by id claimed", func() (*comet.Player, error) { return e.PlayerByID(ctx, "p2") }, "p2", true, ""},
		{"by id missing", func() (*comet.Player, error) { return e.PlayerByID(ctx, "nope") }, "", false, comet.ENOTFOUND},
		{"by token", func() (*comet.Player, error) { return e.PlayerByToken(ctx, []byte("tp1")) }, "p1", false, ""},
		{"by token claimed", func() (*comet.Player, error) { return e.PlayerByToken(ctx, []byte("tp2")) }, "p2", true, ""},
		{"by token missing", func() (*comet.Player, error) { return e.PlayerByToken(ctx, []byte("nope")) }, "", false, comet.ENOTFOUND},
		{"by token nil", func() (*comet.Player, error) { return e.PlayerByToken(ctx, nil) }, "", false, comet.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.get()
			wantCode(t, err, tt.code)
			if tt.code != "" {
				if p != nil {
					t.Fatalf("got player %+v with error", p)
				}
				return
			}
			if p.ID != tt.id || p.Claimed != tt.claimed || !p.CreatedAt.Equal(T0) {
				t.Fatalf("got %+v, want id %s claimed %v created %v", p, tt.id, tt.claimed, T0)
			}
		})
	}
}

func testRenamePlayer(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "p1", "p2")
	mustNil(t, e.ClaimName(ctx, "p2", "Zed", []byte("pw")))

	tests := []struct {
		name, id, to, code string
	}{
		{"free name", "p1", "Ann", ""},
		{"same name again", "p1", "Ann", ""},
		{"claimed by other", "p1", "Zed", comet.ECONFLICT},
		{"claimed by other, other case", "p1", "zED", comet.ECONFLICT},
		{"own claim other case", "p2", "ZED", ""},
		{"away from own claim", "p2", "Zeddy", ""},
		{"missing player", "nope", "Free", comet.ENOTFOUND},
		{"missing player, claimed name", "nope", "Zed", comet.ENOTFOUND},
		{"empty name", "p1", "", comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, e.RenamePlayer(ctx, tt.id, tt.to), tt.code)
		})
	}
	for id, want := range map[string]string{"p1": "Ann", "p2": "Zeddy"} {
		p, err := e.PlayerByID(ctx, id)
		mustNil(t, err)
		if p.Name != want {
			t.Errorf("%s name = %q, want %q", id, p.Name, want)
		}
	}
	// Renaming away kept p2's claim.
	owner, _, err := e.ClaimByName(ctx, "zed")
	mustNil(t, err)
	if owner.ID != "p2" || owner.Name != "Zeddy" {
		t.Errorf("claim owner = %+v", owner)
	}
}

func testClaimName(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "p1", "p2")

	tests := []struct {
		name, id, claim, pw, code string
	}{
		{"first claim", "p1", "Ann", "h1", ""},
		{"other player same name", "p2", "Ann", "h2", comet.ECONFLICT},
		{"other player other case", "p2", "aNN", "h2", comet.ECONFLICT},
		{"missing player", "nope", "Nobody", "h", comet.ENOTFOUND},
		{"empty name", "p2", "", "h", comet.EINVALID},
		{"empty password", "p2", "Bob", "", comet.EINVALID},
		{"second player", "p2", "Bob", "h2", ""},
		{"reclaim own name, new password", "p1", "ANN", "h3", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, e.ClaimName(ctx, tt.id, tt.claim, []byte(tt.pw)), tt.code)
		})
	}

	p, hash, err := e.ClaimByName(ctx, "ann")
	mustNil(t, err)
	if p.ID != "p1" || !p.Claimed || p.Name != "ANN" || !bytes.Equal(hash, []byte("h3")) {
		t.Fatalf("ClaimByName(ann) = %+v, %q", p, hash)
	}

	// Claiming a new name releases the old one.
	mustNil(t, e.ClaimName(ctx, "p1", "Annabel", []byte("h4")))
	_, _, err = e.ClaimByName(ctx, "Ann")
	wantCode(t, err, comet.ENOTFOUND)
	mustNil(t, e.ClaimName(ctx, "p2", "ann", []byte("h5")))
	p, hash, err = e.ClaimByName(ctx, "ANN")
	mustNil(t, err)
	if p.ID != "p2" || !bytes.Equal(hash, []byte("h5")) {
		t.Fatalf("ClaimByName after release = %+v, %q", p, hash)
	}
	// p2 held "Bob" before; its one claim moved to "ann".
	_, _, err = e.ClaimByName(ctx, "Bob")
	wantCode(t, err, comet.ENOTFOUND)

	_, _, err = e.ClaimByName(ctx, "nobody")
	wantCode(t, err, comet.ENOTFOUND)
}

// testClaimNameFoldsUnicodeCase: a claim guards its name in every case,
// non-ASCII letters included (comet.NameKey).
func testClaimNameFoldsUnicodeCase(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "a", "b")
	mustNil(t, e.ClaimName(ctx, "a", "Émile", []byte("ha")))
	wantCode(t, e.ClaimName(ctx, "b", "émile", []byte("hb")), comet.ECONFLICT)
	wantCode(t, e.ClaimName(ctx, "b", "ÉMILE", []byte("hb")), comet.ECONFLICT)
	wantCode(t, e.RenamePlayer(ctx, "b", "émile"), comet.ECONFLICT)
	mustNil(t, e.RenamePlayer(ctx, "a", "ÉMILE"))
	for _, n := range []string{"ÉMILE", "émile", "Émile", "éMiLe"} {
		p, hash, err := e.ClaimByName(ctx, n)
		mustNil(t, err)
		if p.ID != "a" || !bytes.Equal(hash, []byte("ha")) {
			t.Errorf("ClaimByName(%q) = %+v, %q; want a", n, p, hash)
		}
	}
}

func testPlayerTokens(t *testing.T, e *env) {
	ctx := e.ctx
	seedPlayers(t, e, "p1", "p2") // tokens tp1, tp2
	all := []string{"tp1", "tp2", "b1", "b2", "new"}

	steps := []struct {
		name string
		op   func() error
		code string
		want map[string]string
	}{
		{"add second browser", func() error { return e.AddPlayerToken(ctx, "p1", []byte("b1")) }, "",
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "", "new": ""}},
		{"add third browser", func() error { return e.AddPlayerToken(ctx, "p1", []byte("b2")) }, "",
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"add own token again", func() error { return e.AddPlayerToken(ctx, "p1", []byte("b2")) }, "",
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"add other's token", func() error { return e.AddPlayerToken(ctx, "p2", []byte("b1")) }, comet.ECONFLICT,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"add for missing player", func() error { return e.AddPlayerToken(ctx, "nope", []byte("new")) }, comet.ENOTFOUND,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"add empty", func() error { return e.AddPlayerToken(ctx, "p1", nil) }, comet.EINVALID,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"set other's token", func() error { return e.SetPlayerToken(ctx, "p2", []byte("b1")) }, comet.ECONFLICT,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"set for missing player", func() error { return e.SetPlayerToken(ctx, "nope", []byte("new")) }, comet.ENOTFOUND,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"set empty", func() error { return e.SetPlayerToken(ctx, "p1", nil) }, comet.EINVALID,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"set replaces all of p1's", func() error { return e.SetPlayerToken(ctx, "p1", []byte("new")) }, "",
			map[string]string{"tp1": "", "tp2": "p2", "b1": "", "b2": "", "new": "p1"}},
		{"set to the token it has", func() error { return e.SetPlayerToken(ctx, "p1", []byte("new")) }, "",
			map[string]string{"tp1": "", "tp2": "p2", "b1": "", "b2": "", "new": "p1"}},
		{"freed token can go to another", func() error { return e.AddPlayerToken(ctx, "p2", []byte("b1")) }, "",
			map[string]string{"tp1": "", "tp2": "p2", "b1": "p2", "b2": "", "new": "p1"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			wantCode(t, s.op(), s.code)
			got := tokenOwners(t, e, all...)
			for tok, want := range s.want {
				if got[tok] != want {
					t.Errorf("token %s belongs to %q, want %q", tok, got[tok], want)
				}
			}
		})
	}
}

func testAddPlayerTokenKeepsNewest(t *testing.T, e *env) {
	ctx := e.ctx
	e.clock.Tick(time.Millisecond)
	seedPlayers(t, e, "p1", "p2")

	var toks []string
	for i := range comet.MaxPlayerTokens + 5 {
		tok := fmt.Sprintf("k%03d", i)
		toks = append(toks, tok)
		mustNil(t, e.AddPlayerToken(ctx, "p1", []byte(tok)))
	}
	got := tokenOwners(t, e, append(toks, "tp1", "tp2")...)
	// MaxPlayerTokens+6 tokens were issued to p1 (tp1 + 55): the 6 oldest are gone.
	if got["tp1"] != "" {
		t.Error("oldest token tp1 still valid")
	}
	for i, tok := range toks {
		want := "p1"
		if i < 5 {
			want = ""
		}
		if got[tok] != want {
			t.Errorf("token %s belongs to %q, want %q", tok, got[tok], want)
		}
	}
	if got["tp2"] != "p2" {
		t.Error("pruning p1's tokens touched p2's")
	}
	// Tokens added in the same millisecond are pruned in the order added.
	e.clock.Tick(0)
	for i := range comet.MaxPlayerTokens + 1 {
		mustNil(t, e.AddPlayerToken(ctx, "p2", []byte(fmt.Sprintf("s%03d", i))))
	}
	want := map[string]string{"tp2": "", "s000": "", "s001": "p2", "s050": "p2"}
	if got := tokenOwners(t, e, "tp2", "s000", "s001", "s050"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("same-millisecond pruning: %v; want %v", got, want)
	}
}
