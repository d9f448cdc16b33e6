// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb into a
// temp dir, a postmaster listening only on a unix socket there (fsync off),
// a fresh database per test, and everything removed when the tests end.
//
// Use it from TestMain with Main, then call New in each test. When
// PostgreSQL is not installed the tests fail naming the Debian package;
// they are skipped only when COMET_SKIP_POSTGRES=1.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SkipEnv, set to 1, makes New skip instead of failing when no cluster runs.
const SkipEnv = "COMET_SKIP_POSTGRES"

// Package is the Debian package that provides initdb and pg_ctl.
const Package = "postgresql"

// startTimeout bounds initdb plus the postmaster's start; stopTimeout its stop.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 30 * time.Second
)

// Cluster is a running temporary PostgreSQL cluster.
type Cluster struct {
	bin     string // folder of initdb, pg_ctl, postgres
	dir     string // temp dir: data/, the socket, the log
	runAs   string // "postgres" when started by root, else ""
	port    int
	version string
	dbs     atomic.Int64
}

// FindBin returns the folder holding initdb and pg_ctl: from PATH, else the
// newest /usr/lib/postgresql/*/bin (where Debian puts them). The error names
// the Debian package to install.
func FindBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(a) - versionOf(b) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("PostgreSQL's initdb and pg_ctl not found in PATH or /usr/lib/postgresql/*/bin: install the Debian package %q (apt-get install -y %s), or set %s=1 to skip the PostgreSQL tests", Package, Package, SkipEnv)
}

// versionOf reads the major version from /usr/lib/postgresql/<v>/bin.
func versionOf(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

// Start initialises and starts a cluster in a new temp dir. As root it runs
// PostgreSQL as the "postgres" user (PostgreSQL refuses root), which must
// exist; the Debian package creates it.
func Start(ctx context.Context) (_ *Cluster, err error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	runAs := ""
	if os.Geteuid() == 0 {
		runAs = "postgres"
	}
	reapOrphans(bin, runAs)
	// A short path: the socket's full name must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "pgtest")
	if err != nil {
		return nil, fmt.Errorf("pgtest: temp dir: %w", err)
	}
	c := &Cluster{bin: bin, dir: dir, port: 5432}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	// The owner file lets a later Start stop this cluster if this process
	// dies without stopping it (a test binary killed on timeout).
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if runAs != "" {
		if err := c.giveToPostgres(); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// Only a unix socket in dir: no port to collide with another run.
	opts := fmt.Sprintf("-F -c listen_addresses='' -k %s -p %d -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
		dir, c.port)
	if out, err := c.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&c.version); err != nil {
		return nil, fmt.Errorf("pgtest: server version: %w", err)
	}
	return c, nil
}

// ownerFile, in a cluster's temp dir, holds the pid of the process that started it.
const ownerFile = "owner.pid"

// reapOrphans stops and removes the clusters of earlier test processes that
// died without stopping them: temp dirs named pgtest* whose owner file names
// a process that no longer exists. Failures are ignored: it is housekeeping.
func reapOrphans(bin, runAs string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // alive (or not ours to judge)
		}
		c := &Cluster{bin: bin, dir: dir, runAs: runAs}
		_ = c.Stop()
	}
}

// giveToPostgres makes the temp dir the postgres user's, for running as root.
func (c *Cluster) giveToPostgres() error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("pgtest: running as root needs the postgres user (the Debian package %q creates it): %w", Package, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return fmt.Errorf("pgtest: chown temp dir: %w", err)
	}
	c.runAs = "postgres"
	return nil
}

// run runs one of the cluster's programs, as the postgres user if needed,
// and returns its combined output.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir // initdb complains when it cannot read the working directory
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl leaves the postmaster running with our output pipes open unless
	// told not to wait for them.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// Version is the server's version string, e.g. "15.14 (Debian 15.14-0+deb12u1)".
func (c *Cluster) Version() string { return c.version }

// DSN is a postgres:// URL for database db on the cluster's socket.
func (c *Cluster) DSN(db string) string {
	q := url.Values{"host": {c.dir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + db, RawQuery: q.Encode()}).String()
}

// CreateDatabase makes a new empty database and returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context) (name, dsn string, err error) {
	name = fmt.Sprintf("t%d_%d", os.Getpid(), c.dbs.Add(1))
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return name, c.DSN(name), nil
}

// DropDatabase drops a database made by CreateDatabase, ending its sessions.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

// Stop stops the postmaster at once (no checkpoint: the data is thrown away)
// and removes the temp dir.
func (c *Cluster) Stop() error {
	var errs []error
	data := filepath.Join(c.dir, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		out, err := c.run(ctx, "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}

var (
	mu       sync.Mutex
	shared   *Cluster
	startErr error
)

// Main starts the package's cluster, runs the tests and stops it; call it
// from TestMain as os.Exit(pgtest.Main(m)). With COMET_SKIP_POSTGRES=1 it
// starts nothing, and New skips.
func Main(m *testing.M) int {
	if os.Getenv(SkipEnv) != "1" {
		c, err := Start(context.Background())
		mu.Lock()
		shared, startErr = c, err
		mu.Unlock()
	}
	code := m.Run()
	mu.Lock()
	c := shared
	shared = nil
	mu.Unlock()
	if c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
	}
	return code
}

// New returns the DSN of a fresh database on the cluster Main started,
// dropped when t ends. It skips t when COMET_SKIP_POSTGRES=1 and fails it
// when the cluster could not start (naming the package to install).
func New(t testing.TB) string {
	t.Helper()
	mu.Lock()
	c, err := shared, startErr
	mu.Unlock()
	switch {
	case os.Getenv(SkipEnv) == "1":
		t.Skipf("%s=1: PostgreSQL tests skipped", SkipEnv)
	case err != nil:
		t.Fatal(err)
	case c == nil:
		t.Fatal("pgtest.New without pgtest.Main: call os.Exit(pgtest.Main(m)) from TestMain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, dsn, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// Shared returns the cluster Main started (nil if none), for tests that need
// more than a database, such as a second connection string.
func Shared() *Cluster {
	mu.Lock()
	defer mu.Unlock()
	return shared
}
