package server

import (
	"fmt"
	"testing"
	"time"
)

// TestHomeCache: an entry is returned while fresh, not after homeCacheTTL
// or a drop; a full cache starts over rather than grow.
func TestHomeCache(t *testing.T) {
	var c homeCache
	now := time.Now()
	if _, ok := c.get("s1", now); ok {
		t.Fatal("empty cache returned a home")
	}
	c.put("s1", "b", now)
	if n, ok := c.get("s1", now.Add(homeCacheTTL)); !ok || n != "b" {
		t.Fatalf("fresh entry: %q %v", n, ok)
	}
	if _, ok := c.get("s1", now.Add(homeCacheTTL+time.Millisecond)); ok {
		t.Fatal("an entry past its TTL was returned")
	}
	c.put("s1", "c", now)
	c.drop("s1")
	if _, ok := c.get("s1", now); ok {
		t.Fatal("a dropped entry was returned")
	}
	for i := range maxCachedHomes + 1 {
		c.put(fmt.Sprint("s", i), "b", now)
	}
	if len(c.m) != 1 {
		t.Fatalf("full cache holds %d entries after one more put, want 1 (started over)", len(c.m))
	}
}
