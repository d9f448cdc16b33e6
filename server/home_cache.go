package server

import (
	"sync"
	"time"
)

// homeCache remembers, on a node that forwards a session's POSTs to its
// home, which node that was, so the next POST skips the directory read (a
// JetStream KV round trip per forwarded input, most of a forward's cost
// beside the forward itself). An entry is a hint, never the truth: a home
// that no longer holds the session answers a forward 404 or 503, and the
// request is routed again from the directory (routeHome), dropping the
// entry. Entries live homeCacheTTL; past maxCachedHomes the cache starts
// over.
type homeCache struct {
	mu sync.Mutex
	m  map[string]cachedHome
}

type cachedHome struct {
	node string
	at   time.Time
}

const (
	homeCacheTTL   = 10 * time.Second
	maxCachedHomes = 1 << 16
)

// get returns sid's cached home, if there is one still fresh.
func (c *homeCache) get(sid string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[sid]
	if !ok || now.Sub(h.at) > homeCacheTTL {
		return "", false
	}
	return h.node, true
}

// put records node as sid's home, as of now.
func (c *homeCache) put(sid, node string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedHomes {
		c.m = make(map[string]cachedHome)
	}
	c.m[sid] = cachedHome{node: node, at: now}
}

// drop forgets sid's home.
func (c *homeCache) drop(sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, sid)
}
