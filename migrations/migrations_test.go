package migrations

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"
)

// openTemp opens a fresh SQLite file in a temp dir with the pragmas the server
// uses (busy_timeout first so concurrent openers wait instead of failing).
func openTemp(t *testing.T) (*sqlx.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	return openPath(t, path), path
}

func openPath(t *testing.T, path string) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func tables(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	var names []string
	if err := db.Select(&names, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`); err != nil {
		t.Fatal(err)
	}
	return names
}

func recorded(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	var names []string
	if err := db.Select(&names, `SELECT name FROM schema_migrations ORDER BY name`); err != nil {
		t.Fatal(err)
	}
	return names
}

func TestApplyEmbedded(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)

	pending, err := Pending(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	all, err := Names(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0001_init.sql", "0002_claimed_name_key.sql", "0004_retention.sql"} {
		if !slices.Contains(all, want) {
			t.Fatalf("embedded migrations %v lack %s", all, want)
		}
	}
	if !slices.Equal(pending, all) {
		t.Fatalf("pending before = %v", pending)
	}

	applied, err := Apply(ctx, db)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !slices.Equal(applied, all) {
		t.Fatalf("applied = %v", applied)
	}
	want := []string{"chat_messages", "claimed_names", "handover", "leaderboard", "match_players", "match_starts", "matches", "mutes", "player_tokens", "players", "schema_migrations"}
	if got := tables(t, db); !slices.Equal(got, want) {
		t.Fatalf("tables = %v, want %v", got, want)
	}
	var indexes []string
	if err := db.Select(&indexes, `SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`); err != nil {
		t.Fatal(err)
	}
	for _, ix := range []string{"chat_messages_at", "chat_messages_channel_id", "chat_messages_idem_key", "claimed_names_name_key", "leaderboard_rank", "match_players_player", "matches_mode_ended", "player_tokens_player", "players_last_seen"} {
		if !slices.Contains(indexes, ix) {
			t.Errorf("index %s missing; have %v", ix, indexes)
		}
	}

	// Re-applying is a no-op.
	again, err := Apply(ctx, db)
	if err != nil {
		t.Fatalf("re-Apply: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("re-Apply applied %v", again)
	}
	if got := recorded(t, db); !slices.Equal(got, all) {
		t.Fatalf("recorded = %v", got)
	}
	pending, err = Pending(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Fatalf("pending after = %v", pending)
	}

	var ok string
	if err := db.Get(&ok, `PRAGMA integrity_check`); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
}

func TestApplyFSOrderAndFailure(t *testing.T) {
	ctx := context.Background()
	fsys := fstest.MapFS{
		// Listed out of order on purpose: Apply must sort by name.
		"0003_bad.sql":  {Data: []byte("CREATE TABLE c (x INTEGER);\nINSERT INTO no_such_table VALUES (1);")},
		"0001_a.sql":    {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"0002_b.sql":    {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);")},
		"0004_late.sql": {Data: []byte("CREATE TABLE d (x INTEGER);")},
		"README.md":     {Data: []byte("not a migration")},
	}
	db, _ := openTemp(t)

	applied, err := ApplyFS(ctx, db, fsys)
	if err == nil {
		t.Fatal("ApplyFS with a bad file succeeded")
	}
	if !strings.HasPrefix(err.Error(), "migration 0003_bad.sql: ") || !strings.Contains(err.Error(), "no such table: no_such_table") {
		t.Fatalf("error = %q; want it to name the file and carry SQLite's message", err)
	}
	if !slices.Equal(applied, []string{"0001_a.sql", "0002_b.sql"}) {
		t.Fatalf("applied = %v", applied)
	}
	// 0003 rolled back whole: its first statement left no table; 0004 never ran.
	if got, want := tables(t, db), []string{"a", "b", "schema_migrations"}; !slices.Equal(got, want) {
		t.Fatalf("tables = %v, want %v", got, want)
	}
	if got := recorded(t, db); !slices.Equal(got, []string{"0001_a.sql", "0002_b.sql"}) {
		t.Fatalf("recorded = %v", got)
	}
	pending, err := PendingFS(ctx, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pending, []string{"0003_bad.sql", "0004_late.sql"}) {
		t.Fatalf("pending = %v", pending)
	}

	// Fixing the file lets the rest apply, without re-running 0001/0002
	// (re-running 0002 would insert a second row into a).
	fsys["0003_bad.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE c (x INTEGER);")}
	applied, err = ApplyFS(ctx, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []string{"0003_bad.sql", "0004_late.sql"}) {
		t.Fatalf("applied after fix = %v", applied)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM a`); err != nil || n != 1 {
		t.Fatalf("rows in a = %d, %v", n, err)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []string
		wantErr string
	}{
		{"sorted, non-sql ignored", fstest.MapFS{"10_z.sql": {}, "0002_b.sql": {}, "0001_a.sql": {}, "notes.txt": {}}, []string{"0001_a.sql", "0002_b.sql", "10_z.sql"}, ""},
		{"unnumbered", fstest.MapFS{"0001_a.sql": {}, "init.sql": {}}, nil, "migration init.sql: name must look like"},
		{"no digits", fstest.MapFS{"_a.sql": {}}, nil, "migration _a.sql"},
		{"letters in number", fstest.MapFS{"00a1_x.sql": {}}, nil, "migration 00a1_x.sql"},
		{"empty", fstest.MapFS{}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Names(tt.fsys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Names = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestApplyBadNameRefusesEverything(t *testing.T) {
	db, _ := openTemp(t)
	_, err := ApplyFS(context.Background(), db, fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x);")}, "zz.sql": {}})
	if err == nil {
		t.Fatal("want error for misnamed file")
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM sqlite_schema WHERE name = 'a'`); err != nil || n != 0 {
		t.Fatalf("table a exists (%d, %v): nothing may run when a name is bad", n, err)
	}
}

// TestApplyConcurrent runs Apply from several handles on one file at once, as
// a server and `comet migrate` might: each file must run exactly once.
func TestApplyConcurrent(t *testing.T) {
	ctx := context.Background()
	_, path := openTemp(t)
	fsys := fstest.MapFS{
		"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"0002_b.sql": {Data: []byte("INSERT INTO a VALUES (1);")},
	}
	const n = 4
	var wg sync.WaitGroup
	results := make([][]string, n)
	errs := make([]error, n)
	for i := range n {
		db := openPath(t, path)
		wg.Go(func() { results[i], errs[i] = ApplyFS(ctx, db, fsys) })
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Apply %d: %v", i, errs[i])
		}
		total += len(results[i])
	}
	if total != 2 {
		t.Fatalf("files applied %d times in all, want 2: %v", total, results)
	}
	db := openPath(t, path)
	var rows int
	if err := db.Get(&rows, `SELECT count(*) FROM a`); err != nil || rows != 1 {
		t.Fatalf("rows in a = %d, %v (0002 must run once)", rows, err)
	}
}

func TestApplyCancelled(t *testing.T) {
	db, _ := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Apply(ctx, db); err == nil {
		t.Fatal("Apply with a cancelled context succeeded")
	}
	// The handle still works and a later Apply succeeds.
	if _, err := Apply(context.Background(), db); err != nil {
		t.Fatalf("Apply after cancel: %v", err)
	}
}
