// Package sqlite is Comet's default comet.Store: players, chat, matches and
// moderation in one SQLite file, through modernc.org/sqlite (no cgo).
package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"comet"
	"comet/migrations"
)

// MaxLimit caps the limit of every list query, so one request cannot ask for
// a whole table.
const MaxLimit = 1000

// readConns is the size of the read pool: enough for chat history and
// leaderboards to be served in parallel on a small machine.
const readConns = 4

// Pragmas. busy_timeout comes first so the pragmas after it wait for a lock
// instead of failing with SQLITE_BUSY (modernc runs busy_timeout first anyway).
//
// synchronous(NORMAL) with WAL: a commit is written to the WAL file before
// SaveChat returns but not fsynced, so an acknowledged line survives the
// process being killed (SIGKILL, crash: the OS still holds the write) but a
// power loss may drop the last commits. That trades power-loss durability of
// the newest chat lines for commits that cost no fsync.
//
// _txlock=immediate makes every write transaction BEGIN IMMEDIATE: it takes the
// write lock up front, where busy_timeout applies, instead of upgrading a read
// lock mid-transaction, which fails at once with SQLITE_BUSY when another
// process (e.g. `comet migrate`) holds the lock.
const (
	writePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	readPragmas  = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
)

// DB is a comet.Store on one SQLite file.
//
// It holds two handles. All writes go through w, which has exactly one
// connection: SQLite allows one writer at a time, and queuing writers in Go's
// pool (where they honour ctx) is cheaper and more predictable than letting
// several connections race for the file lock and spin on busy_timeout. Reads
// go through r, a small pool of query_only connections: in WAL mode readers
// never block the writer nor each other, so history and leaderboard queries do
// not queue behind chat writes.
type DB struct {
	path     string
	w        *sqlx.DB
	r        *sqlx.DB
	migrated []string
	now      func() time.Time
}

var _ comet.Store = (*DB)(nil)

// Open opens (creating its folder and file if missing) the SQLite database at
// path, checks it really is one, and applies pending migrations. Errors are one
// line naming the path, e.g. "open database data/x.db: file is not a database".
// A nil logger discards logs.
func Open(ctx context.Context, path string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := open(ctx, path, logger)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}

func open(ctx context.Context, path string, logger *slog.Logger) (_ *DB, err error) {
	switch {
	case path == "":
		return nil, errors.New("empty path")
	case strings.Contains(path, "?"):
		// The driver reads everything after '?' as DSN parameters.
		return nil, errors.New(`path must not contain "?"`)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// Two pools on an in-memory name would be two separate databases.
		return nil, errors.New("path must be a file path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, errors.New("is a directory")
	}

	db := &DB{path: path, now: time.Now}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()

	if db.w, err = sqlx.Open("sqlite", path+"?"+writePragmas); err != nil {
		return nil, err
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)

	// The first connection runs the pragmas; journal_mode reads the header,
	// so a file that is not a database fails here or on the schema read.
	var journal string
	if err := db.w.GetContext(ctx, &journal, `PRAGMA journal_mode`); err != nil {
		return nil, cleanOpenError(err)
	}
	if _, err := db.w.ExecContext(ctx, `SELECT count(*) FROM sqlite_schema`); err != nil {
		return nil, cleanOpenError(err)
	}
	// SQLite may open a file it cannot write read-only; taking the write lock
	// makes Open fail now rather than at the first chat line.
	if err := probeWrite(ctx, db.w); err != nil {
		return nil, cleanOpenError(err)
	}
	if !strings.EqualFold(journal, "wal") {
		// Some filesystems (network mounts) cannot do WAL; SQLite then keeps
		// its rollback journal, which is still correct, only slower.
		logger.Warn("sqlite: WAL not available, using rollback journal", "path", path, "journal_mode", journal)
	}

	if db.migrated, err = migrations.Apply(ctx, db.w); err != nil {
		return nil, err
	}
	for _, name := range db.migrated {
		logger.Info("sqlite: applied migration", "path", path, "migration", name)
	}
	if n, err := backfillNameKeys(ctx, db.w, logger); err != nil {
		return nil, err
	} else if n > 0 {
		logger.Info("sqlite: keyed claimed names for Unicode case folding", "path", path, "claims", n)
	}

	if db.r, err = sqlx.Open("sqlite", path+"?"+readPragmas); err != nil {
		return nil, err
	}
	db.r.SetMaxOpenConns(readConns)
	db.r.SetMaxIdleConns(readConns)
	if err := db.r.PingContext(ctx); err != nil {
		return nil, cleanOpenError(err)
	}
	return db, nil
}

// probeWrite takes and releases the write lock (BEGIN IMMEDIATE, from the
// writer's _txlock) and writes nothing.
func probeWrite(ctx context.Context, w *sqlx.DB) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return tx.Rollback()
}

// cleanOpenError turns the driver's errors for a bad file into short messages:
// modernc appends the numeric code ("file is not a database (26)").
func cleanOpenError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return errors.New("file is not a database")
	case sqlite3.SQLITE_CORRUPT:
		return errors.New("database disk image is malformed")
	case sqlite3.SQLITE_CANTOPEN:
		return errors.New("unable to open database file")
	case sqlite3.SQLITE_READONLY:
		return errors.New("database is read-only")
	case sqlite3.SQLITE_PERM:
		return errors.New("permission denied")
	}
	return err
}

// Migrated returns the migrations this Open applied (empty if the schema was
// already current), for `comet migrate` to report.
func (db *DB) Migrated() []string { return append([]string(nil), db.migrated...) }

// DB returns the write handle (one connection) for tests and admin commands.
// Holding a Rows open on it blocks every store write until it is closed.
func (db *DB) DB() *sqlx.DB { return db.w }

// Ping reports whether the database file can still be read.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.r.GetContext(ctx, &n, `SELECT count(*) FROM schema_migrations`); err != nil {
		return fmt.Errorf("ping database %s: %w", db.path, err)
	}
	return nil
}

// Close closes both handles. Closing the last connection checkpoints the WAL
// into the main file.
func (db *DB) Close() error {
	var errs []error
	if db.r != nil {
		if err := db.r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close read pool: %w", err))
		}
	}
	if db.w != nil {
		if err := db.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close writer: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database %s: %w", db.path, err)
	}
	return nil
}

// write runs fn in one write transaction (BEGIN IMMEDIATE on the single writer
// connection) and commits it. A *comet.Error from fn is returned as is; any
// other error is wrapped with op.
func (db *DB) write(ctx context.Context, op string, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.w.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		var ce *comet.Error
		if errors.As(err, &ce) {
			return err
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

// constraint reports whether err is SQLite's constraint violation with the
// given extended code (e.g. SQLITE_CONSTRAINT_UNIQUE).
func constraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// uniqueOn reports whether err is a UNIQUE or PRIMARY KEY violation on column
// ("table.column"), as named in SQLite's message.
func uniqueOn(err error, column string) bool {
	return (constraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) || constraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)) &&
		strings.Contains(err.Error(), column)
}

// checkLimit rejects a non-positive limit and caps it at MaxLimit.
func checkLimit(limit int) (int, error) {
	if limit <= 0 {
		return 0, comet.Errorf(comet.EINVALID, "limit must be positive, got %d", limit)
	}
	return min(limit, MaxLimit), nil
}

// millis stores t as UTC unix milliseconds; fromMillis reads it back in UTC.
func millis(t time.Time) int64 { return t.UTC().UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// nowMillis is the current time as stored, so what a method sets on its
// argument equals what a later read returns.
func (db *DB) nowMillis() int64 { return millis(db.now()) }

// boolInt stores a bool as SQLite's 0/1.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
