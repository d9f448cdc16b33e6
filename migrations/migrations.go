// Package migrations holds Comet's SQL schema as numbered .sql files and
// applies them to a SQLite database in name order, each in its own transaction,
// recording what ran in the schema_migrations table.
//
// The Go file lives beside the SQL because //go:embed cannot reach "..".
package migrations

import (
	"context"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files (for listing, e.g. by `comet migrate`).
func FS() fs.FS { return files }

// createTable makes the bookkeeping table; applied_at is UTC unix milliseconds.
const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	name       TEXT    NOT NULL PRIMARY KEY,
	applied_at INTEGER NOT NULL
) STRICT`

// Apply applies the embedded migrations not yet recorded in schema_migrations
// and returns the names it applied. It stops at the first failing file, which
// is rolled back; the error names the file and carries SQLite's message.
func Apply(ctx context.Context, db *sqlx.DB) (applied []string, err error) {
	return ApplyFS(ctx, db, files)
}

// Pending lists the embedded migrations not yet applied to db, in the order
// Apply would run them.
func Pending(ctx context.Context, db *sqlx.DB) ([]string, error) {
	return PendingFS(ctx, db, files)
}

// ApplyFS is Apply for the .sql files at the root of fsys.
//
// Each file runs on one connection inside BEGIN IMMEDIATE, which takes the
// write lock up front: a second process migrating the same file at the same
// moment waits on busy_timeout, then sees the file recorded and skips it,
// instead of applying it twice.
func ApplyFS(ctx context.Context, db *sqlx.DB, fsys fs.FS) (applied []string, err error) {
	names, err := Names(fsys)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, createTable); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, name := range names {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", name, err)
		}
		ran, err := applyOne(ctx, db, name, string(body))
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", name, err)
		}
		if ran {
			applied = append(applied, name)
		}
	}
	return applied, nil
}

// PendingFS is Pending for the .sql files at the root of fsys.
func PendingFS(ctx context.Context, db *sqlx.DB, fsys fs.FS) ([]string, error) {
	names, err := Names(fsys)
	if err != nil {
		return nil, err
	}
	var exists bool
	err = db.GetContext(ctx, &exists,
		`SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	if !exists {
		return names, nil
	}
	var done []string
	if err := db.SelectContext(ctx, &done, `SELECT name FROM schema_migrations`); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(done, n) }), nil
}

// Names returns the migration files at the root of fsys in the order they
// apply. A .sql file whose name does not start with a number and "_" is an
// error, so a misnamed file cannot silently run out of order.
func Names(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		if !numbered(e.Name()) {
			return nil, fmt.Errorf("migration %s: name must look like 0001_name.sql", e.Name())
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// numbered reports whether name starts with one or more digits then "_".
func numbered(name string) bool {
	digits, _, ok := strings.Cut(name, "_")
	if !ok || digits == "" {
		return false
	}
	return strings.Trim(digits, "0123456789") == ""
}

// applyOne runs one file and records it in one transaction, and reports
// whether it ran (false when another process had already recorded it).
func applyOne(ctx context.Context, db *sqlx.DB, name, body string) (ran bool, err error) {
	conn, err := db.Connx(ctx)
	if err != nil {
		return false, fmt.Errorf("get connection: %w", err)
	}
	defer conn.Close()

	var done bool
	if err := conn.GetContext(ctx, &done, `SELECT count(*) > 0 FROM schema_migrations WHERE name = ?`, name); err != nil {
		return false, fmt.Errorf("read schema_migrations: %w", err)
	}
	if done {
		return false, nil
	}

	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Roll back even when ctx is what failed; a connection left inside a
		// transaction would poison the pool, so on failure it is discarded.
		if _, rbErr := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rbErr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
	}()

	// Re-check under the write lock: another process may have applied it
	// between the read above and BEGIN IMMEDIATE.
	if err := conn.GetContext(ctx, &done, `SELECT count(*) > 0 FROM schema_migrations WHERE name = ?`, name); err != nil {
		return false, fmt.Errorf("read schema_migrations: %w", err)
	}
	if done {
		_, err := conn.ExecContext(ctx, `COMMIT`)
		return false, err
	}
	if _, err := conn.ExecContext(ctx, body); err != nil {
		return false, err
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
		name, time.Now().UTC().UnixMilli()); err != nil {
		return false, fmt.Errorf("record: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return true, nil
}
