package sqlite

import (
	"testing"
	"time"

	"comet"
	"comet/server/storetest"
)

// TestStore runs the shared storage tests on a fresh SQLite file per test;
// each file's integrity and foreign keys are checked when its test ends.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) comet.Store {
		db := newTestDB(t)
		db.now = now
		return db
	})
}
