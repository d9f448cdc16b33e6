package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"comet/internal/check"
)

// TestCrashedMatchSavedAborted: a match running when the process is killed
// (SIGKILL) was recorded when it started; the next start on the same
// database saves it as aborted and drops the record.
func TestCrashedMatchSavedAborted(t *testing.T) {
	db := filepath.Join(t.TempDir(), "crash.db")
	p := startProc(t, db, "--match-length", "5m")
	a := join(t, p.url)
	a.send("room.join", map[string]string{"mode": "tag"})
	var match string
	for match == "" {
		var st struct{ State, Match string }
		_ = json.Unmarshal(a.waitFor(t, "room.state", 10*time.Second).Data, &st)
		if st.State == "running" {
			match = st.Match
		}
	}
	ro, err := sqlx.Open("sqlite", db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	count := func(q string) int {
		t.Helper()
		var n int
		if err := ro.Get(&n, q, match); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check.For(t, 10*time.Second, func() error {
		if count(`SELECT COUNT(*) FROM match_starts WHERE id = ?`) != 1 {
			return fmt.Errorf("no start record of running match %s", match)
		}
		return nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	check.Recv(t, p.done, 10*time.Second, "exit after SIGKILL")
	if n := count(`SELECT COUNT(*) FROM matches WHERE id = ?`); n != 0 {
		t.Fatalf("match %s saved before the restart (%d rows): the kill did not interrupt it", match, n)
	}

	startProc(t, db, "--match-length", "5m")
	if n := count(`SELECT COUNT(*) FROM matches WHERE id = ? AND aborted = 1 AND mode = 'tag'`); n != 1 {
		t.Errorf("after the restart match %s is saved as aborted %d times, want once", match, n)
	}
	if n := count(`SELECT COUNT(*) FROM match_starts WHERE id = ?`); n != 0 {
		t.Errorf("the start record of %s is still there after the restart", match)
	}
}
