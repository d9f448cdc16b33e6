package cluster

import (
	"testing"
	"time"
)

// The sweeper scans the directory only when a scan can find something: once
// when it becomes the sweeper, then only while a node is known gone, until a
// scan that started after that node's grace has dealt with its entries.
func TestSweepDueOnlyWhileANodeIsGone(t *testing.T) {
	grace := time.Minute
	n := &Node{cfg: Config{DirectoryGrace: grace}, live: map[string]bool{"a": true}, goneAt: map[string]time.Time{}}
	if !n.sweepDue() {
		t.Fatal("no first scan: nodes that died before this one started would keep their entries")
	}
	now := time.Now()
	n.sweptUpTo(now)
	if n.sweepDue() {
		t.Fatal("a scan due with no node gone")
	}
	n.goneAt["b"] = now
	if !n.sweepDue() {
		t.Fatal("no scan due while node b is gone")
	}
	n.sweptUpTo(now.Add(grace / 2))
	if !n.sweepDue() {
		t.Fatal("b forgotten by a scan that started inside its grace: its entries were not due yet")
	}
	n.sweptUpTo(now.Add(grace))
	if n.sweepDue() {
		t.Fatal("a scan still due after one that started past b's grace")
	}
	n.goneAt["c"] = now
	n.live["c"] = true // back under its name before the scan
	n.sweptUpTo(now.Add(2 * grace))
	if _, ok := n.goneAt["c"]; !ok {
		t.Fatal("a live node's record dropped by the sweep bookkeeping (the watch owns it)")
	}
	n.setSwept(false)
	delete(n.goneAt, "c")
	if !n.sweepDue() {
		t.Fatal("a node that is the sweeper again does not scan once")
	}
}
