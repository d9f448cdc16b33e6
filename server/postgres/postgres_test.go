package postgres

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"comet"
	"comet/internal/pgtest"
	"comet/migrations"
	"comet/server/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newTestDB opens the store on a fresh database, closed when t ends.
func newTestDB(t *testing.T) (*DB, string) {
	t.Helper()
	dsn := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

func mustNil(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestStore runs the shared storage tests, each on a fresh database.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) comet.Store {
		db, _ := newTestDB(t)
		db.now = now
		return db
	})
}

func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	db, dsn := newTestDB(t)
	all, err := migrations.Names(migrations.PostgresFS())
	mustNil(t, err)
	if len(all) == 0 || !slices.Equal(db.Migrated(), all) {
		t.Fatalf("Migrated = %v, want %v", db.Migrated(), all)
	}
	mustNil(t, db.Ping(ctx))
	var tables []string
	rows, err := db.Pool().Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	mustNil(t, err)
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	mustNil(t, err)
	want := []string{"chat_messages", "claimed_names", "handover", "leaderboard", "match_players", "match_starts", "matches", "mutes", "player_tokens", "players", "schema_migrations"}
	if !slices.Equal(tables, want) {
		t.Fatalf("tables = %v, want %v", tables, want)
	}

	again, err := Open(ctx, dsn, nil)
	mustNil(t, err)
	defer again.Close()
	if len(again.Migrated()) != 0 {
		t.Fatalf("second Open migrated %v", again.Migrated())
	}
	mustNil(t, db.Close())
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func TestMigrateOrderAndFailure(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	fsys := fstest.MapFS{
		"0003_bad.sql":  {Data: []byte("CREATE TABLE c (x int);\nINSERT INTO no_such_table VALUES (1);")},
		"0001_a.sql":    {Data: []byte("CREATE TABLE a (x int);")},
		"0002_b.sql":    {Data: []byte("CREATE TABLE b (x int); INSERT INTO a VALUES (1);")},
		"0004_late.sql": {Data: []byte("CREATE TABLE d (x int);")},
	}
	applied, err := migrate(ctx, db.Pool(), fsys)
	if err == nil || !strings.Contains(err.Error(), "migration 0003_bad.sql") || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("err = %v; want it to name the file and carry PostgreSQL's message", err)
	}
	if !slices.Equal(applied, []string{"0001_a.sql", "0002_b.sql"}) {
		t.Fatalf("applied = %v", applied)
	}
	var c, d bool
	mustNil(t, db.Pool().QueryRow(ctx, `SELECT to_regclass('c') IS NOT NULL, to_regclass('d') IS NOT NULL`).Scan(&c, &d))
	if c || d {
		t.Fatalf("table c exists %v (0003 must roll back whole), d exists %v (0004 must not run)", c, d)
	}
	fsys["0003_bad.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE c (x int);")}
	applied, err = migrate(ctx, db.Pool(), fsys)
	mustNil(t, err)
	if !slices.Equal(applied, []string{"0003_bad.sql", "0004_late.sql"}) {
		t.Fatalf("applied after fix = %v", applied)
	}
	var n int
	mustNil(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM a`).Scan(&n))
	if n != 1 {
		t.Fatalf("rows in a = %d: 0002 ran %d times", n, n)
	}
}

// TestMigrateConcurrent opens the store from several goroutines on one new
// database at once: each migration runs exactly once.
func TestMigrateConcurrent(t *testing.T) {
	dsn := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 4
	var wg sync.WaitGroup
	got := make([][]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			db, err := Open(ctx, dsn, nil)
			if err != nil {
				errs[i] = err
				return
			}
			got[i] = db.Migrated()
			db.Close()
		})
	}
	wg.Wait()
	total := 0
	for i := range n {
		mustNil(t, errs[i])
		total += len(got[i])
	}
	all, _ := migrations.Names(migrations.PostgresFS())
	if total != len(all) {
		t.Fatalf("migrations applied %d times in all, want %d: %v", total, len(all), got)
	}
}

func TestOpenErrors(t *testing.T) {
	dsn := pgtest.New(t)
	tests := []struct {
		name, dsn, want string
	}{
		{"unparsable", "postgres://u:secret@host:notaport/db", "cannot parse the connection URL"},
		{"no such database", strings.Replace(dsn, "/t", "/nodb_t", 1), `database "nodb_t`},
		{"no server", "postgres://u:secret@/db?host=/nonexistent&connect_timeout=5", "/nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			db, err := Open(ctx, tt.dsn, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "open database ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the password: %q", err)
			}
		})
	}
}

// TestRefusedText: strings PostgreSQL cannot store (NUL, invalid UTF-8) are
// EINVALID, not internal errors; SQLite stores them, the server sends neither.
func TestRefusedText(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	tests := []struct {
		name string
		err  error
	}{
		{"NUL in chat", db.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", Text: "a\x00b"})},
		{"invalid UTF-8 in chat", db.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", Text: "\xff"})},
		{"NUL in a name", db.CreatePlayer(ctx, &comet.Player{ID: "p", Name: "a\x00"}, []byte("t"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := comet.ErrorCode(tt.err); code != comet.EINVALID {
				t.Fatalf("error = %v (code %q), want invalid", tt.err, code)
			}
		})
	}
	mustNil(t, db.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", Text: "fine"}))
}

// TestWritesHonourContext: a write waiting on a row another transaction has
// locked gives up when its context ends, and stores nothing.
func TestWritesHonourContext(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: "p", Name: "P"}, []byte("t")))
	tx, err := db.Pool().Begin(ctx)
	mustNil(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT 1 FROM players WHERE id = 'p' FOR UPDATE`)
	mustNil(t, err)

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = db.AddPlayerToken(short, "p", []byte("t2"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AddPlayerToken behind a lock = %v, want deadline exceeded", err)
	}
	// Reads are not blocked by the lock.
	if _, err := db.PlayerByID(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	mustNil(t, tx.Rollback(ctx))
	if _, err := db.PlayerByToken(ctx, []byte("t2")); comet.ErrorCode(err) != comet.ENOTFOUND {
		t.Fatalf("token of the timed-out write: %v", err)
	}
	mustNil(t, db.AddPlayerToken(ctx, "p", []byte("t2")))
}

// TestPurgeSkipsLockedGuest: a guest whose row another transaction holds (a
// login in progress) is left for the next pass, not waited on.
func TestPurgeSkipsLockedGuest(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	db.now = func() time.Time { return storetest.T0 }
	for _, id := range []string{"busy", "idle"} {
		mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: id, Name: id}, []byte(id)))
	}
	tx, err := db.Pool().Begin(ctx)
	mustNil(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT 1 FROM players WHERE id = 'busy' FOR UPDATE`)
	mustNil(t, err)

	policy := comet.RetentionPolicy{Guests: 24 * time.Hour}
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := db.Purge(short, policy, storetest.T0.Add(48*time.Hour))
	mustNil(t, err)
	if st.Guests != 1 {
		t.Fatalf("purge = %+v, want only idle", st)
	}
	mustNil(t, tx.Rollback(ctx))
	st, err = db.Purge(ctx, policy, storetest.T0.Add(48*time.Hour))
	mustNil(t, err)
	if st.Guests != 1 {
		t.Fatalf("next purge = %+v, want busy", st)
	}
}

func TestIsDSN(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://h/db": true, "data/comet.db": false,
		"postgres.db": false, "/var/lib/postgres://x": false, "": false,
	} {
		if IsDSN(s) != want {
			t.Errorf("IsDSN(%q) = %v, want %v", s, !want, want)
		}
	}
}

// TestOpenRekeysClaims: when comet.NameKey's rule changes, Open re-keys the
// claims, oldest first; a claim whose new key an older claim holds keeps its
// old key and is found by its exact name.
func TestOpenRekeysClaims(t *testing.T) {
	ctx := context.Background()
	db, dsn := newTestDB(t)
	clock := storetest.T0
	db.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	for _, c := range []struct{ id, name string }{{"a", "Ann"}, {"b", "Bob"}, {"c", "Cy"}} {
		mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: c.id, Name: c.id}, []byte("t"+c.id)))
		mustNil(t, db.ClaimName(ctx, c.id, c.name, []byte("h"+c.id)))
	}
	mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: "e", Name: "e"}, []byte("te")))
	// Keys as an older rule made them; e's "ANN" was a name of its own then.
	_, err := db.Pool().Exec(ctx, `UPDATE claimed_names SET name_key = 'old:' || name`)
	mustNil(t, err)
	_, err = db.Pool().Exec(ctx, `INSERT INTO claimed_names (name_key, name, player_id, password_hash, claimed_at)
		VALUES ('old:ANN', 'ANN', 'e', 'he', $1)`, clock.Add(time.Hour))
	mustNil(t, err)
	db.Close()

	var logs strings.Builder
	db, err = Open(ctx, dsn, slog.New(slog.NewTextHandler(&logs, nil)))
	mustNil(t, err)
	defer db.Close()
	if !strings.Contains(logs.String(), "claims=3") || !strings.Contains(logs.String(), "name=ANN player=e") {
		t.Errorf("log:\n%s", logs.String())
	}
	for _, c := range []struct{ name, want string }{
		{"ann", "a"}, {"Ann", "a"}, {"BOB", "b"}, {"cy", "c"}, {"ANN", "e"},
	} {
		p, hash, err := db.ClaimByName(ctx, c.name)
		if err != nil || p.ID != c.want || string(hash) != "h"+c.want {
			t.Errorf("ClaimByName(%q) = %+v, %q, %v; want %s", c.name, p, hash, err, c.want)
		}
	}
	mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: "f", Name: "f"}, []byte("tf")))
	for _, name := range []string{"ann", "ANN", "bob"} {
		if err := db.RenamePlayer(ctx, "f", name); comet.ErrorCode(err) != comet.ECONFLICT {
			t.Errorf("RenamePlayer(f, %q) = %v, want conflict", name, err)
		}
	}
	n, err := rekeyClaims(ctx, db.Pool(), slog.New(slog.DiscardHandler))
	mustNil(t, err)
	if n != 0 {
		t.Errorf("second re-key changed %d claims", n)
	}
}
