package server

import (
	"fmt"
	"testing"
	"time"

	"comet"
)

func TestHistoryCacheRefusesStaleQueries(t *testing.T) {
	var c historyCache
	a := comet.MustMessage("chat.history", 1)
	b := comet.MustMessage("chat.history", 2)

	v := c.version("lobby")
	c.put("lobby", v, a)
	if c.get("lobby") != a {
		t.Fatal("a fresh history was not cached")
	}
	c.invalidate("lobby")
	if c.get("lobby") != nil {
		t.Fatal("history served after a new line")
	}

	// A query that began before a line was saved must not be cached.
	v = c.version("lobby")
	c.invalidate("lobby")
	c.put("lobby", v, a)
	if c.get("lobby") != nil {
		t.Fatal("a history older than the newest line was cached")
	}
	v = c.version("lobby")
	c.put("lobby", v, b)
	if c.get("lobby") != b {
		t.Fatal("history after the line not cached")
	}

	// Starting over at the bound must not let a stale query back in.
	v = c.version("room:x")
	for i := 0; i < maxCachedChannels; i++ {
		c.invalidate(fmt.Sprint("room:", i))
	}
	c.put("room:x", v, a)
	if c.get("room:x") != nil {
		t.Fatal("a query from before the cache started over was cached")
	}
}

// TestNewcomersShareOneHistory: a burst of sessions joining the lobby gets
// one shared chat.history and room list, not a copy each.
func TestNewcomersShareOneHistory(t *testing.T) {
	ts := startServer(t, nil)
	a := newClient(t, ts.URL)
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "hello"})
	st := a.open("sse", 0)
	st.waitType(t, "chat.msg", 5*time.Second)
	st.close()
	var first map[string]*comet.Message
	for i := 0; i < 3; i++ {
		c := newClient(t, ts.URL)
		sess, _ := ts.Hub().Session(c.SID)
		got := map[string]*comet.Message{}
		for _, m := range sess.Buffered() {
			got[m.Type] = m
		}
		if got["chat.history"] == nil || got["lobby.rooms"] == nil {
			t.Fatalf("session %d got %v", i, got)
		}
		if first == nil {
			first = got
			continue
		}
		for _, typ := range []string{"chat.history", "lobby.rooms"} {
			if got[typ] != first[typ] {
				t.Fatalf("session %d has its own %s copy", i, typ)
			}
		}
	}
}
