package sqlite

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"

	"comet"
	"comet/migrations"
)

// TestClaimedNamesFoldUnicodeCase: a claim guards its name in every case,
// non-ASCII letters included, against claims and renames by others.
func TestClaimedNamesFoldUnicodeCase(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	seedPlayers(t, db, "a", "b")
	mustNil(t, db.ClaimName(ctx, "a", "Émile", []byte("ha")))

	tests := []struct {
		name string
		err  error
		code string
	}{
		{"claim lower case", db.ClaimName(ctx, "b", "émile", []byte("hb")), comet.ECONFLICT},
		{"claim upper case", db.ClaimName(ctx, "b", "ÉMILE", []byte("hb")), comet.ECONFLICT},
		{"rename lower case", db.RenamePlayer(ctx, "b", "émile"), comet.ECONFLICT},
		{"rename with dotted capital I, another letter", db.RenamePlayer(ctx, "b", "ÉMİLE"), ""},
		{"owner changes its own case", db.RenamePlayer(ctx, "a", "ÉMILE"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.code) })
	}
	for _, n := range []string{"ÉMILE", "émile", "Émile", "éMiLe"} {
		p, hash, err := db.ClaimByName(ctx, n)
		mustNil(t, err)
		if p.ID != "a" || !bytes.Equal(hash, []byte("ha")) {
			t.Errorf("ClaimByName(%q) = %+v, %q; want a", n, p, hash)
		}
	}
	if p, err := db.PlayerByID(ctx, "b"); err != nil || p.Name != "ÉMİLE" {
		t.Errorf("b = %+v, %v", p, err)
	}
}

// TestOpenKeysClaimsMadeBefore0002: claims stored under 0001 alone get their
// keys when the store opens the database; two old claims that fold alike
// keep working as they did (the older one gets the key).
func TestOpenKeysClaimsMadeBefore0002(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sqlx.Open("sqlite", path+"?"+writePragmas)
	mustNil(t, err)
	init, err := fs.ReadFile(migrations.FS(), "0001_init.sql")
	mustNil(t, err)
	if _, err := migrations.ApplyFS(ctx, old, fstest.MapFS{"0001_init.sql": {Data: init}}); err != nil {
		t.Fatal(err)
	}
	for i, row := range []struct{ id, name string }{{"a", "Émile"}, {"b", "émile"}, {"c", "Ödön"}} {
		_, err := old.Exec(`INSERT INTO players (id, name, created_at, last_seen) VALUES (?, ?, 0, 0)`, row.id, row.name)
		mustNil(t, err)
		_, err = old.Exec(`INSERT INTO claimed_names (name, player_id, password_hash, claimed_at) VALUES (?, ?, ?, ?)`,
			row.name, row.id, []byte("h"+row.id), i)
		mustNil(t, err)
	}
	mustNil(t, old.Close())

	db := openTestDB(t, path)
	var keyed int
	mustNil(t, db.DB().Get(&keyed, `SELECT count(*) FROM claimed_names WHERE name_key IS NOT NULL`))
	if keyed != 2 {
		t.Errorf("%d claims keyed, want 2 (a and c; b folds like the older a)", keyed)
	}
	for _, c := range []struct{ name, want string }{
		{"ÉMILE", "a"}, {"Émile", "a"}, {"émile", "b"}, {"éMILE", "b"}, {"ödön", "c"}, {"ÖDÖN", "c"},
	} {
		p, _, err := db.ClaimByName(ctx, c.name)
		if err != nil || p.ID != c.want {
			t.Errorf("ClaimByName(%q) = %+v, %v; want %s", c.name, p, err, c.want)
		}
	}
	seedPlayers(t, db, "d")
	for _, n := range []string{"ÉMILE", "éMILE", "ödön"} {
		wantCode(t, db.RenamePlayer(ctx, "d", n), comet.ECONFLICT)
	}
	// Reopening finds nothing new to key.
	n, err := backfillNameKeys(ctx, db.DB(), discard)
	mustNil(t, err)
	if n != 0 {
		t.Errorf("second backfill keyed %d claims", n)
	}
}

var discard = slog.New(slog.DiscardHandler)

// TestOpenRekeysClaimsBySkeleton: a database keyed by 0002's case folding is
// re-keyed by 0003 with the skeleton key; of two claims that look alike the
// older keeps the key (and blocks look-alike renames), the newer is logged and
// still found by its exact name.
func TestOpenRekeysClaimsBySkeleton(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	old, err := sqlx.Open("sqlite", path+"?"+writePragmas)
	mustNil(t, err)
	v2 := fstest.MapFS{}
	for _, name := range []string{"0001_init.sql", "0002_claimed_name_key.sql"} {
		data, err := fs.ReadFile(migrations.FS(), name)
		mustNil(t, err)
		v2[name] = &fstest.MapFile{Data: data}
	}
	if _, err := migrations.ApplyFS(ctx, old, v2); err != nil {
		t.Fatal(err)
	}
	// "Ada" (Latin) is the older claim, "Аda" (Cyrillic А) the newer; "B0b"
	// and "Kim" look like nobody else.
	for i, row := range []struct{ id, name string }{{"a", "Ada"}, {"b", "\u0410da"}, {"c", "B0b"}, {"d", "Kim"}} {
		_, err := old.Exec(`INSERT INTO players (id, name, created_at, last_seen) VALUES (?, ?, 0, 0)`, row.id, row.name)
		mustNil(t, err)
		_, err = old.Exec(`INSERT INTO claimed_names (name, name_key, player_id, password_hash, claimed_at) VALUES (?, ?, ?, ?, ?)`,
			row.name, strings.ToLower(row.name), row.id, []byte("h"+row.id), i)
		mustNil(t, err)
	}
	mustNil(t, old.Close())

	var logs bytes.Buffer
	db, err := Open(ctx, path, slog.New(slog.NewTextHandler(&logs, nil)))
	mustNil(t, err)
	t.Cleanup(func() { mustNil(t, db.Close()) })

	keys := map[string]*string{}
	rows, err := db.DB().Queryx(`SELECT player_id, name_key FROM claimed_names`)
	mustNil(t, err)
	for rows.Next() {
		var id string
		var key *string
		mustNil(t, rows.Scan(&id, &key))
		keys[id] = key
	}
	mustNil(t, rows.Err())
	for id, name := range map[string]string{"a": "Ada", "c": "B0b", "d": "Kim"} {
		if k := keys[id]; k == nil || *k != comet.NameKey(name) {
			t.Errorf("claim %s keyed %v, want %q", id, k, comet.NameKey(name))
		}
	}
	if keys["b"] != nil {
		t.Errorf("newer look-alike claim b keyed %q, want NULL", *keys["b"])
	}
	if !strings.Contains(logs.String(), "looks like an older claim") || !strings.Contains(logs.String(), "older_claim_by=a") {
		t.Errorf("conflict not logged:\n%s", logs.String())
	}
	for _, c := range []struct{ name, want string }{
		{"Ada", "a"}, {"ADA", "a"}, {"\u0410da", "b"}, {"Bob", "c"}, {"B0B", "c"}, {"kim", "d"},
	} {
		p, _, err := db.ClaimByName(ctx, c.name)
		if err != nil || p.ID != c.want {
			t.Errorf("ClaimByName(%q) = %+v, %v; want %s", c.name, p, err, c.want)
		}
	}
	seedPlayers(t, db, "e")
	for _, n := range []string{"\uff21da", "A\u200bda", "Bob", "B0b", "KIM", "\u041a\u0456m"} {
		t.Run("rename to "+n, func(t *testing.T) { wantCode(t, db.RenamePlayer(ctx, "e", n), comet.ECONFLICT) })
	}
	mustNil(t, db.RenamePlayer(ctx, "e", "Ida"))
}
