package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The restart scenario reads its save and restore times from the server's
// log lines as cmd/comet writes them.
func TestHandoverLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.log")
	log := `time=2026-11-29T05:21:50.498Z level=INFO msg="comet listening" addr=127.0.0.1:1
time=2026-11-29T05:21:50.530Z level=INFO msg="hand-over saved" sessions=200 bytes=1474659 drain=8ms snapshot=0s encode=26ms write=5ms save=32ms
time=2026-11-29T05:21:51.100Z level=INFO msg="hand-over restored" sessions=199 events=3081 rooms_cleared=0 bytes=1474659 from=dev saved_at=2026-11-29T05:21:50.498Z take=27ms decode=62ms register=0s state=6ms took=96ms
`
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	drain, save, n := handoverLog(path, "hand-over saved")
	if drain != 8*time.Millisecond || save != 32*time.Millisecond || n != 200 {
		t.Fatalf("saved: drain %v save %v sessions %d", drain, save, n)
	}
	_, took, n := handoverLog(path, "hand-over restored")
	if took != 96*time.Millisecond || n != 199 {
		t.Fatalf("restored: took %v sessions %d", took, n)
	}
}

// check counts what a stream lost, repeated or reset, and its restarts.
func TestRestartClientCheck(t *testing.T) {
	c := &rclient{}
	c.add([]rev{{Seq: 1, Type: "a"}, {Seq: 2, Type: "sys.restart"}, {Seq: 3, Type: "b"}, {Seq: 3, Type: "b"},
		{Seq: 6, Type: "sys.reset"}, {Seq: 7, Type: "sys.restart"}})
	lost, dup, resets, restarts := c.check()
	if lost != 2 || dup != 1 || resets != 1 || restarts != 2 {
		t.Fatalf("lost %d dup %d resets %d restarts %d; want 2 1 1 2", lost, dup, resets, restarts)
	}
	if !c.afterRestart(1) || c.afterRestart(2) {
		t.Fatal("afterRestart: the first restart has events after it, the second none")
	}
}
