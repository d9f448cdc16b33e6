package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"comet"
	"comet/migrations"
)

// newTestDB opens a fresh database in a temp dir. Cleanup checks the file's
// integrity after whatever the test wrote, then closes it.
func newTestDB(t testing.TB) *DB {
	t.Helper()
	return openTestDB(t, filepath.Join(t.TempDir(), "comet.db"))
}

func openTestDB(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		checkIntegrity(t, db)
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func checkIntegrity(t testing.TB, db *DB) {
	t.Helper()
	var res []string
	if err := db.DB().Select(&res, `PRAGMA integrity_check`); err != nil {
		t.Errorf("integrity_check: %v", err)
		return
	}
	if !slices.Equal(res, []string{"ok"}) {
		t.Errorf("integrity_check = %v", res)
	}
	var fk []struct {
		Table  string `db:"table"`
		RowID  *int64 `db:"rowid"`
		Parent string `db:"parent"`
		FKID   int    `db:"fkid"`
	}
	if err := db.DB().Select(&fk, `PRAGMA foreign_key_check`); err != nil {
		t.Errorf("foreign_key_check: %v", err)
	} else if len(fk) > 0 {
		t.Errorf("foreign_key_check: %+v", fk)
	}
}

// wantCode fails unless err carries the *comet.Error code want.
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	var ce *comet.Error
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.As(err, &ce) || ce.Code != want {
		t.Fatalf("error = %v (code %q), want code %q", err, comet.ErrorCode(err), want)
	}
}

func TestOpenCreatesFolderAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a", "b", "comet.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	all, err := migrations.Names(migrations.FS())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(db.Migrated(), all) || !slices.Contains(all, "0004_retention.sql") {
		t.Errorf("Migrated = %v", db.Migrated())
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	var mode string
	if err := db.DB().Get(&mode, `PRAGMA journal_mode`); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	var fk, busy, sync int
	if err := db.DB().Get(&fk, `PRAGMA foreign_keys`); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v", fk, err)
	}
	if err := db.DB().Get(&busy, `PRAGMA busy_timeout`); err != nil || busy != 5000 {
		t.Errorf("busy_timeout = %d, %v", busy, err)
	}
	if err := db.DB().Get(&sync, `PRAGMA synchronous`); err != nil || sync != 1 {
		t.Errorf("synchronous = %d (want 1, NORMAL), %v", sync, err)
	}
	// The read pool must refuse writes: they would bypass the single writer.
	if _, err := db.r.Exec(`INSERT INTO mutes VALUES ('a', 'b', 0)`); err == nil {
		t.Error("read pool accepted a write")
	}
	checkIntegrity(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}

	// Reopening applies nothing.
	db = openTestDB(t, path)
	if len(db.Migrated()) != 0 {
		t.Errorf("second Open migrated %v", db.Migrated())
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := []byte(strings.Repeat("this is not a sqlite database at all. ", 200))
	header := append([]byte("SQLite format 3\x00"), garbage...)

	tests := []struct {
		name string
		path string
		want string // the whole error text
	}{
		{"text file", write("text.db", garbage), "file is not a database"},
		{"short file", write("short.db", []byte("hello")), "file is not a database"},
		{"bad header after magic", write("header.db", header), "file is not a database"},
		{"under a regular file", filepath.Join(write("file", []byte("x")), "x.db"), "mkdir " + filepath.Join(dir, "file") + ": not a directory"},
		{"a directory", dir, "is a directory"},
		{"empty path", "", "empty path"},
		{"query in path", filepath.Join(dir, "a?b.db"), `path must not contain "?"`},
		{"memory", ":memory:", "path must be a file path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(context.Background(), tt.path, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			want := "open database " + tt.path + ": " + tt.want
			if err.Error() != want {
				t.Fatalf("error = %q\nwant    %q", err, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}

	// The corrupt file is left as it was.
	got, err := os.ReadFile(filepath.Join(dir, "text.db"))
	if err != nil || string(got) != string(garbage) {
		t.Fatalf("Open modified a non-database file (%v)", err)
	}
}

func TestOpenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := filepath.Join(t.TempDir(), "c.db")
	if db, err := Open(ctx, path, nil); err == nil {
		db.Close()
		t.Fatal("Open with a cancelled context succeeded")
	}
	// A later Open on the same path works.
	openTestDB(t, path)
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &comet.Player{ID: "p1", Name: "Ann"}
	mustNil(t, db.CreatePlayer(ctx, p, []byte("tok1")))
	mustNil(t, db.CreatePlayer(ctx, &comet.Player{ID: "p2", Name: "Bob"}, []byte("tok2")))
	mustNil(t, db.ClaimName(ctx, "p1", "Ann", []byte("pw")))
	mustNil(t, db.SetBanned(ctx, "p2", true))
	mustNil(t, db.Mute(ctx, "p1", "p2"))
	m := &comet.ChatMessage{Channel: "lobby", FromID: "p1", FromName: "Ann", Text: "hi"}
	mustNil(t, db.SaveChat(ctx, m))
	mustNil(t, db.SaveMatch(ctx, &comet.MatchResult{ID: "m1", RoomID: "r", Mode: "race", Started: time.Now(), Ended: time.Now(),
		Players: []comet.MatchPlayer{{PlayerID: "p1", Name: "Ann", Score: 9, Rank: 1}}}))
	mustNil(t, db.Close())

	db = openTestDB(t, path)
	got, err := db.PlayerByToken(ctx, []byte("tok1"))
	mustNil(t, err)
	if got.ID != "p1" || !got.Claimed || !got.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("player after reopen = %+v, want %+v claimed", got, p)
	}
	if banned, err := db.Banned(ctx, "p2"); err != nil || !banned {
		t.Errorf("Banned = %v, %v", banned, err)
	}
	if mutes, err := db.Mutes(ctx, "p1"); err != nil || !slices.Equal(mutes, []string{"p2"}) {
		t.Errorf("Mutes = %v, %v", mutes, err)
	}
	hist, err := db.ChatHistory(ctx, "lobby", 10)
	mustNil(t, err)
	if len(hist) != 1 || hist[0] != *m {
		t.Errorf("history = %+v, want %+v", hist, *m)
	}
	board, err := db.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 10})
	mustNil(t, err)
	if len(board) != 1 || board[0] != (comet.LeaderRow{PlayerID: "p1", Name: "Ann", Wins: 1, BestScore: 9, Games: 1}) {
		t.Errorf("leaderboard = %+v", board)
	}
}

func mustNil(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTwoHandlesOneFile writes through two DBs on the same file at once, as
// two processes would (server and `comet migrate`, or a restart overlap): the
// busy timeout plus BEGIN IMMEDIATE must keep SQLITE_BUSY from escaping.
func TestTwoHandlesOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "two.db")
	a := openTestDB(t, path)
	b := openTestDB(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for _, db := range []*DB{a, b} {
		for g := range 4 {
			wg.Go(func() {
				for i := range 25 {
					if err := db.SaveChat(ctx, &comet.ChatMessage{Channel: "c", Text: fmt.Sprint(g, i)}); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	hist, err := a.ChatHistory(ctx, "c", MaxLimit)
	mustNil(t, err)
	if len(hist) != 200 {
		t.Fatalf("history has %d lines, want 200", len(hist))
	}
}

const childEnv = "COMET_SQLITE_KILL_CHILD"

// TestKillChild is the child half of TestAcknowledgedChatSurvivesSIGKILL: it
// saves chat lines and prints each id once SaveChat has returned.
func TestKillChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process for TestAcknowledgedChatSurvivesSIGKILL")
	}
	db, err := Open(context.Background(), path, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(20 * time.Second) // stops by itself if never killed
	for i := 0; time.Now().Before(deadline) && i < 1_000_000; i++ {
		m := &comet.ChatMessage{Channel: "lobby", FromID: "k", Text: "line " + strconv.Itoa(i)}
		if err := db.SaveChat(context.Background(), m); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println(m.ID, m.Text)
	}
	os.Exit(3)
}

// TestAcknowledgedChatSurvivesSIGKILL kills a process mid-stream of chat
// writes and checks that every line it acknowledged is in the database.
func TestAcknowledgedChatSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "kill.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	mustNil(t, err)
	mustNil(t, cmd.Start())

	acked := map[int64]string{}
	sc := bufio.NewScanner(out)
	for len(acked) < 300 && sc.Scan() {
		id, text, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		acked[n] = text
	}
	mustNil(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	// Lines printed between the last read and the kill are acknowledged too.
	for sc.Scan() {
		id, text, _ := strings.Cut(sc.Text(), " ")
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			acked[n] = text
		}
	}
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d lines", len(acked))
	}

	db := openTestDB(t, path)
	var n int
	mustNil(t, db.DB().Get(&n, `SELECT count(*) FROM chat_messages`))
	if n < len(acked) {
		t.Fatalf("%d lines in the database, %d acknowledged", n, len(acked))
	}
	stored := map[int64]string{}
	var rows []struct {
		ID   int64  `db:"id"`
		Text string `db:"text"`
	}
	mustNil(t, db.DB().Select(&rows, `SELECT id, text FROM chat_messages`))
	for _, r := range rows {
		stored[r.ID] = r.Text
	}
	for id, text := range acked {
		if stored[id] != text {
			t.Errorf("acknowledged line %d %q: stored %q", id, text, stored[id])
		}
	}
}

// TestWritesHonourContext checks that a writer queued behind the single write
// connection gives up when its context ends, and that a cancelled write
// stores nothing.
func TestWritesHonourContext(t *testing.T) {
	db := newTestDB(t)
	held, err := db.DB().Conn(context.Background()) // the writer's only connection
	mustNil(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = db.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", Text: "queued"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued SaveChat = %v, want deadline exceeded", err)
	}
	// Reads do not queue behind the writer.
	if _, err := db.ChatHistory(context.Background(), "lobby", 10); err != nil {
		t.Fatalf("read while the writer is held: %v", err)
	}
	mustNil(t, held.Close())

	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := db.SaveChat(cancelled, &comet.ChatMessage{Channel: "lobby", Text: "cancelled"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled SaveChat = %v", err)
	}
	hist, err := db.ChatHistory(context.Background(), "lobby", 10)
	mustNil(t, err)
	if len(hist) != 0 {
		t.Fatalf("history = %+v, want nothing stored", hist)
	}
	mustNil(t, db.SaveChat(context.Background(), &comet.ChatMessage{Channel: "lobby", Text: "works"}))
}
