// Package postgres is a comet.Store on PostgreSQL through pgx (pgxpool):
// the same behaviour and error codes as server/sqlite, checked by the same
// tests (server/storetest), for a server whose data must outlive one file.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"comet"
	"comet/migrations"
)

// MaxLimit caps the limit of every list query, as in server/sqlite.
const MaxLimit = 1000

// migrateLock is the advisory lock key every migrating process takes, so two
// processes starting at once apply each file exactly once.
const migrateLock = 0x636f6d6574 // "comet"

// IsDSN reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a SQLite file.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// DB is a comet.Store on a PostgreSQL database.
type DB struct {
	pool     *pgxpool.Pool
	name     string // the DSN without its password, for messages
	migrated []string
	now      func() time.Time
}

var _ comet.Store = (*DB)(nil)

// Open connects to the database at dsn (a postgres:// URL), checks that it
// answers, and applies pending migrations. Errors are one line naming the
// database without its password. A nil logger discards logs.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	name := Redact(dsn)
	db, err := open(ctx, dsn, name, logger)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", name, err)
	}
	return db, nil
}

func open(ctx context.Context, dsn, name string, logger *slog.Logger) (_ *DB, err error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message repeats the DSN, password included.
		return nil, errors.New("cannot parse the connection URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	db := &DB{pool: pool, name: name, now: time.Now}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		return nil, err
	}
	if db.migrated, err = migrate(ctx, pool, migrations.PostgresFS()); err != nil {
		return nil, err
	}
	for _, m := range db.migrated {
		logger.Info("postgres: applied migration", "db", name, "migration", m)
	}
	rctx, cancel := context.WithTimeout(ctx, rekeyTimeout)
	defer cancel()
	if n, err := rekeyClaims(rctx, pool, logger); err != nil {
		return nil, err
	} else if n > 0 {
		logger.Info("postgres: re-keyed claimed names for the current comet.NameKey", "db", name, "claims", n)
	}
	return db, nil
}

// Redact returns dsn with its password removed, for logs and messages.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable postgres URL)"
	}
	return u.Redacted()
}

// migrate applies the .sql files of fsys not yet recorded in
// schema_migrations, in name order, each in its own transaction with its
// record, under an advisory lock; it returns the names it applied. It stops
// at the first failing file, which is rolled back.
func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) (applied []string, err error) {
	names, err := migrations.Names(fsys)
	if err != nil {
		return nil, err
	}
	err = inTx(ctx, pool, "create schema_migrations", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			name       text        NOT NULL PRIMARY KEY,
			applied_at timestamptz NOT NULL)`)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", name, err)
		}
		ran := false
		err = inTx(ctx, pool, "migration "+name, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil {
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			if done {
				return nil
			}
			// No arguments: pgx sends the file as one simple query, so it may
			// hold several statements.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())`, name); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			ran = true
			return nil
		})
		if err != nil {
			return applied, err
		}
		if ran {
			applied = append(applied, name)
		}
	}
	return applied, nil
}

// Migrated returns the migrations this Open applied (empty if the schema was
// already current), for `comet migrate` to report.
func (db *DB) Migrated() []string { return append([]string(nil), db.migrated...) }

// Pool returns the connection pool, for tests and admin commands.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping reports whether the database answers and has its schema.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping database %s: %w", db.name, err)
	}
	return nil
}

// Close closes every connection of the pool, waiting for those in use to be
// released; it never fails, and closing twice is a no-op.
func (db *DB) Close() error {
	if db.pool != nil {
		db.pool.Close()
	}
	return nil
}

// write runs fn in one transaction (READ COMMITTED) and commits it. A
// *comet.Error from fn is returned as is; any other error is wrapped with op.
func (db *DB) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return inTx(ctx, db.pool, op, fn)
}

func inTx(ctx context.Context, pool *pgxpool.Pool, op string, fn func(tx pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		// Roll back even when ctx is what failed, so the connection goes
		// back to the pool clean.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = tx.Rollback(rctx)
		cancel()
		return wrap(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(op+": commit", err)
	}
	return nil
}

// wrap returns a *comet.Error as is, turns PostgreSQL's refusal of a string
// (invalid UTF-8 or a NUL byte) into EINVALID, and wraps anything else with op.
func wrap(op string, err error) error {
	var ce *comet.Error
	if errors.As(err, &ce) {
		return err
	}
	if pgCode(err) == "22021" { // character_not_in_repertoire
		return comet.Errorf(comet.EINVALID, "text must be valid UTF-8 without NUL bytes")
	}
	return fmt.Errorf("%s: %w", op, err)
}

// pgCode returns the SQLSTATE of a PostgreSQL error in err's chain, "" if none.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// violates reports whether err is a violation (SQLSTATE code, e.g. 23505
// unique) of the named constraint.
func violates(err error, code, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code && pe.ConstraintName == constraint
}

const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// checkLimit rejects a non-positive limit and caps it at MaxLimit.
func checkLimit(limit int) (int, error) {
	if limit <= 0 {
		return 0, comet.Errorf(comet.EINVALID, "limit must be positive, got %d", limit)
	}
	return min(limit, MaxLimit), nil
}

// ms is t as stored: UTC, truncated to the millisecond like SQLite's unix
// milliseconds, so what a method sets on its argument equals a later read.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// nowMS is the store's current time as stored.
func (db *DB) nowMS() time.Time { return ms(db.now()) }
