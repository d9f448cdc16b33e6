package sqlite

import (
	"bytes"
	"context"
	"fmt"
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

func TestCreatePlayer(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	fixed := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	db.now = func() time.Time { return fixed }

	p := &comet.Player{ID: "p1", Name: "Ann", Claimed: true}
	mustNil(t, db.CreatePlayer(ctx, p, []byte("tok")))
	wantCreated := time.Date(2024, 5, 6, 6, 8, 9, 123000000, time.UTC)
	if p.Claimed || !p.CreatedAt.Equal(wantCreated) || p.CreatedAt.Location() != time.UTC {
		t.Fatalf("after create: %+v; want Claimed false, CreatedAt %v UTC", p, wantCreated)
	}
	mustNil(t, db.ClaimName(ctx, "p1", "Taken", []byte("pw")))

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
			wantCode(t, db.CreatePlayer(ctx, tt.p, []byte(tt.token)), tt.code)
			if tt.code != "" && tt.p != nil && tt.p.ID != "" && tt.p.ID != "p1" {
				wantCode(t, func() error { _, err := db.PlayerByID(ctx, tt.p.ID); return err }(), comet.ENOTFOUND)
			}
		})
	}
	got, err := db.PlayerByID(ctx, "p2")
	mustNil(t, err)
	if !got.CreatedAt.Equal(fixed.Add(-time.Hour).Truncate(time.Millisecond)) {
		t.Errorf("p2 CreatedAt = %v", got.CreatedAt)
	}
}

func TestPlayerLookups(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	seedPlayers(t, db, "p1", "p2")
	mustNil(t, db.ClaimName(ctx, "p2", "Zed", []byte("pw")))

	tests := []struct {
		name    string
		get     func() (*comet.Player, error)
		id      string
		claimed bool
		code    string
	}{
		{"by id", func() (*comet.Player, error) { return db.PlayerByID(ctx, "p1") }, "p1", false, ""},
		{"by id claimed", func() (*comet.Player, error) { return db.PlayerByID(ctx, "p2") }, "p2", true, ""},
		{"by id missing", func() (*comet.Player, error) { return db.PlayerByID(ctx, "nope") }, "", false, comet.ENOTFOUND},
		{"by token", func() (*comet.Player, error) { return db.PlayerByToken(ctx, []byte("tp1")) }, "p1", false, ""},
		{"by token claimed", func() (*comet.Player, error) { return db.PlayerByToken(ctx, []byte("tp2")) }, "p2", true, ""},
		{"by token missing", func() (*comet.Player, error) { return db.PlayerByToken(ctx, []byte("nope")) }, "", false, comet.ENOTFOUND},
		{"by token nil", func() (*comet.Player, error) { return db.PlayerByToken(ctx, nil) }, "", false, comet.ENOTFOUND},
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
			if p.ID != tt.id || p.Claimed != tt.claimed || p.CreatedAt.IsZero() {
				t.Fatalf("got %+v, want id %s claimed %v", p, tt.id, tt.claimed)
			}
		})
	}
}

func TestRenamePlayer(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	seedPlayers(t, db, "p1", "p2")
	mustNil(t, db.ClaimName(ctx, "p2", "Zed", []byte("pw")))

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
			wantCode(t, db.RenamePlayer(ctx, tt.id, tt.to), tt.code)
		})
	}
	for id, want := range map[string]string{"p1": "Ann", "p2": "Zeddy"} {
		p, err := db.PlayerByID(ctx, id)
		mustNil(t, err)
		if p.Name != want {
			t.Errorf("%s name = %q, want %q", id, p.Name, want)
		}
	}
	// Renaming away kept p2's claim.
	owner, _, err := db.ClaimByName(ctx, "zed")
	mustNil(t, err)
	if owner.ID != "p2" {
		t.Errorf("claim owner = %s", owner.ID)
	}
}

func TestClaimName(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	seedPlayers(t, db, "p1", "p2")

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
			wantCode(t, db.ClaimName(ctx, tt.id, tt.claim, []byte(tt.pw)), tt.code)
		})
	}

	p, hash, err := db.ClaimByName(ctx, "ann")
	mustNil(t, err)
	if p.ID != "p1" || !p.Claimed || p.Name != "ANN" || !bytes.Equal(hash, []byte("h3")) {
		t.Fatalf("ClaimByName(ann) = %+v, %q", p, hash)
	}

	// Claiming a new name releases the old one.
	mustNil(t, db.ClaimName(ctx, "p1", "Annabel", []byte("h4")))
	_, _, err = db.ClaimByName(ctx, "Ann")
	wantCode(t, err, comet.ENOTFOUND)
	mustNil(t, db.ClaimName(ctx, "p2", "ann", []byte("h5")))
	p, hash, err = db.ClaimByName(ctx, "ANN")
	mustNil(t, err)
	if p.ID != "p2" || !bytes.Equal(hash, []byte("h5")) {
		t.Fatalf("ClaimByName after release = %+v, %q", p, hash)
	}
	// p2 held "Bob" before; its one claim moved to "ann".
	_, _, err = db.ClaimByName(ctx, "Bob")
	wantCode(t, err, comet.ENOTFOUND)

	_, _, err = db.ClaimByName(ctx, "nobody")
	wantCode(t, err, comet.ENOTFOUND)
}

// tokenOwners maps each token (as a string) to the id PlayerByToken finds, or
// "" for ENOTFOUND.
func tokenOwners(t *testing.T, db *DB, tokens ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tok := range tokens {
		p, err := db.PlayerByToken(context.Background(), []byte(tok))
		switch comet.ErrorCode(err) {
		case "":
			out[tok] = p.ID
		case comet.ENOTFOUND:
			out[tok] = ""
		default:
			t.Fatalf("PlayerByToken(%s): %v", tok, err)
		}
	}
	return out
}

func TestPlayerTokens(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	seedPlayers(t, db, "p1", "p2") // tokens tp1, tp2
	all := []string{"tp1", "tp2", "b1", "b2", "new"}

	steps := []struct {
		name string
		op   func() error
		code string
		want map[string]string
	}{
		{"add second browser", func() error { return db.AddPlayerToken(ctx, "p1", []byte("b1")) }, "",
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "", "new": ""}},
		{"add third browser", func() error { return db.AddPlayerToken(ctx, "p1", []byte("b2")) }, "",
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"add own token again", func() error { return db.AddPlayerToken(ctx, "p1", []byte("b2")) }, "",
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"add other's token", func() error { return db.AddPlayerToken(ctx, "p2", []byte("b1")) }, comet.ECONFLICT,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"add for missing player", func() error { return db.AddPlayerToken(ctx, "nope", []byte("new")) }, comet.ENOTFOUND,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"add empty", func() error { return db.AddPlayerToken(ctx, "p1", nil) }, comet.EINVALID,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"set other's token", func() error { return db.SetPlayerToken(ctx, "p2", []byte("b1")) }, comet.ECONFLICT,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"set for missing player", func() error { return db.SetPlayerToken(ctx, "nope", []byte("new")) }, comet.ENOTFOUND,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"set empty", func() error { return db.SetPlayerToken(ctx, "p1", nil) }, comet.EINVALID,
			map[string]string{"tp1": "p1", "tp2": "p2", "b1": "p1", "b2": "p1", "new": ""}},
		{"set replaces all of p1's", func() error { return db.SetPlayerToken(ctx, "p1", []byte("new")) }, "",
			map[string]string{"tp1": "", "tp2": "p2", "b1": "", "b2": "", "new": "p1"}},
		{"set to the token it has", func() error { return db.SetPlayerToken(ctx, "p1", []byte("new")) }, "",
			map[string]string{"tp1": "", "tp2": "p2", "b1": "", "b2": "", "new": "p1"}},
		{"freed token can go to another", func() error { return db.AddPlayerToken(ctx, "p2", []byte("b1")) }, "",
			map[string]string{"tp1": "", "tp2": "p2", "b1": "p2", "b2": "", "new": "p1"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			wantCode(t, s.op(), s.code)
			got := tokenOwners(t, db, all...)
			for tok, want := range s.want {
				if got[tok] != want {
					t.Errorf("token %s belongs to %q, want %q", tok, got[tok], want)
				}
			}
		})
	}
}

func TestAddPlayerTokenKeepsNewest(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	clock := time.Unix(1000, 0)
	db.now = func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	seedPlayers(t, db, "p1", "p2")

	var toks []string
	for i := range MaxTokens + 5 {
		tok := fmt.Sprintf("k%03d", i)
		toks = append(toks, tok)
		mustNil(t, db.AddPlayerToken(ctx, "p1", []byte(tok)))
	}
	got := tokenOwners(t, db, append(toks, "tp1", "tp2")...)
	// 56 tokens were issued to p1 (tp1 + 55): the 6 oldest are gone.
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
	var n int
	mustNil(t, db.DB().Get(&n, `SELECT count(*) FROM player_tokens WHERE player_id = 'p1'`))
	if n != MaxTokens {
		t.Errorf("p1 has %d tokens, want %d", n, MaxTokens)
	}
}

func TestLastSeen(t *testing.T) {
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
	if got := lastSeen(); got != 1_000_000 {
		t.Fatalf("last_seen after create = %d", got)
	}
	clock = clock.Add(time.Minute)
	mustNil(t, db.AddPlayerToken(ctx, "p1", []byte("x")))
	if got := lastSeen(); got != 1_060_000 {
		t.Fatalf("last_seen after AddPlayerToken = %d", got)
	}
	clock = clock.Add(time.Minute)
	mustNil(t, db.SetPlayerToken(ctx, "p1", []byte("y")))
	if got := lastSeen(); got != 1_120_000 {
		t.Fatalf("last_seen after SetPlayerToken = %d", got)
	}
}
