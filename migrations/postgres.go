package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql
var postgresFiles embed.FS

// PostgresFS returns the embedded PostgreSQL migrations (the .sql files of
// postgres/), which server/postgres applies in name order like Apply does
// for SQLite.
func PostgresFS() fs.FS {
	sub, err := fs.Sub(postgresFiles, "postgres")
	if err != nil {
		panic(err) // "postgres" is a valid path, embedded above
	}
	return sub
}
