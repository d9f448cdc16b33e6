package pgtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestNewGivesFreshDatabases: each New is its own empty database on the
// cluster, with fsync off, reachable only through the socket in the temp dir.
func TestNewGivesFreshDatabases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var names []string
	for i := range 2 {
		dsn := New(t)
		if !strings.HasPrefix(dsn, "postgres://postgres@/") || !strings.Contains(dsn, "host=%2Ftmp%2Fpgtest") {
			t.Fatalf("dsn = %s", dsn)
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var name, fsync, listen string
		var tables int
		if err := conn.QueryRow(ctx, `SELECT current_database(), current_setting('fsync'), current_setting('listen_addresses'),
			(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&name, &fsync, &listen, &tables); err != nil {
			t.Fatal(err)
		}
		if fsync != "off" || listen != "" || tables != 0 {
			t.Fatalf("database %d: fsync %q, listen_addresses %q, %d tables", i, fsync, listen, tables)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE only_here (x int)`); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if names[0] == names[1] {
		t.Fatalf("two New calls gave one database %s", names[0])
	}
	if v := Shared().Version(); v == "" {
		t.Fatal("no server version")
	}
}

// TestStartStop starts a second cluster and stops it: the temp dir and the
// postmaster are gone afterwards.
func TestStartStop(t *testing.T) {
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s still there: %v", c.dir, err)
	}
	if _, err := pgx.Connect(ctx, c.DSN("postgres")); err == nil {
		t.Fatal("connected after Stop")
	}
}

func TestFindBinNamesThePackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	bin, err := FindBin()
	if err == nil {
		// Debian's folder is still found without PATH.
		if !strings.HasPrefix(bin, "/usr/lib/postgresql/") {
			t.Fatalf("FindBin = %s", bin)
		}
		return
	}
	if !strings.Contains(err.Error(), `Debian package "postgresql"`) || !strings.Contains(err.Error(), SkipEnv) {
		t.Fatalf("error = %v", err)
	}
}

// TestReapOrphans: a cluster whose starting process died is stopped and
// removed by the next Start's housekeeping; a live owner's is left alone.
func TestReapOrphans(t *testing.T) {
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	reapOrphans(c.bin, c.runAs) // owned by this live process: kept
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatalf("a live owner's cluster was reaped: %v", err)
	}
	conn.Close(ctx)

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, ownerFile), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	reapOrphans(c.bin, c.runAs)
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Fatalf("orphan's dir %s still there: %v", c.dir, err)
	}
	if _, err := pgx.Connect(ctx, c.DSN("postgres")); err == nil {
		t.Fatal("orphan cluster still answers")
	}
}
