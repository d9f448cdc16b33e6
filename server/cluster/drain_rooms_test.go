package cluster_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"comet/internal/check"
)

// roomSeen is what a client read of its room: the match and tick of the
// newest room.state, and the ticks of the snapshots and diffs.
type roomSeen struct {
	state, match string
	tick         uint64 // of the newest room.state
	views        []uint64
	closed       bool
}

func (c *client) room(id string) roomSeen {
	var r roomSeen
	for _, e := range c.got {
		switch e.Type {
		case "room.state":
			var d struct {
				State string `json:"state"`
				Tick  uint64 `json:"tick"`
				Match string `json:"match"`
			}
			_ = json.Unmarshal(e.Data, &d)
			r.state, r.tick, r.match = d.State, d.Tick, d.Match
		case "room.snapshot", "room.diff":
			var d struct {
				T uint64 `json:"t"`
			}
			_ = json.Unmarshal(e.Data, &d)
			r.views = append(r.views, d.T)
		case "room.closed":
			if strings.Contains(string(e.Data), id) {
				r.closed = true
			}
		}
	}
	return r
}

// TestDrainMovesRooms: node A, owner of a private room with two players
// (one homed on A, one moved there from C), drains. The room goes on on
// another node with both players: same room, same match, its ticks running
// on from where they stopped; the players' sessions go with it (same sid,
// numbering continued, no sys.reset, no room.closed). Its join code leads
// to the new owner, and every node lists the room once.
func TestDrainMovesRooms(t *testing.T) {
	nodes := threeNodes(t)
	p, q := newClient(t, nodes[0]), newClient(t, nodes[2])
	room, code := p.createPrivate(nodes[0], "arena")
	q.poll(nodes[2])
	q.emit(nodes[2], "room.join", map[string]any{"room": code})
	if got, _ := q.joined(nodes[1]); got != room {
		t.Fatalf("q joined %s, want %s", got, room)
	}
	// Play until the match runs and both have seen it tick.
	var before roomSeen
	check.For(t, 60*time.Second, func() error {
		for _, c := range []*client{p, q} {
			c.emit(nodes[1], "room.input", map[string]any{"m": 1, "a": 0})
			if code := c.poll(nodes[1]); code != http.StatusOK {
				return fmt.Errorf("poll: %d", code)
			}
		}
		before = p.room(room)
		if before.state != "running" || len(before.views) < 10 {
			return fmt.Errorf("room %s: %q, %d views", room, before.state, len(before.views))
		}
		return nil
	})
	if home, _ := home(t, nodes[1], q.sid); home != "a" {
		t.Fatalf("q's home %q, want a (the room's owner)", home)
	}
	lastTick := before.views[len(before.views)-1]

	start := time.Now()
	done := make(chan struct{})
	go func() { defer close(done); nodes[0].drain(t) }()
	// Both read on through the other nodes: the same match, ticking on
	// after the tick they last saw before the drain.
	for _, x := range []struct {
		c *client
		n *node
	}{{p, nodes[1]}, {q, nodes[2]}} {
		check.For(t, 30*time.Second, func() error {
			if code := x.c.poll(x.n); code != http.StatusOK {
				return fmt.Errorf("poll via %s: %d", x.n.name, code)
			}
			r := x.c.room(room)
			if r.closed {
				t.Fatalf("%s: room.closed for %s: the drain closed the room instead of moving it", x.c.sid, room)
			}
			if r.match != before.match || r.views[len(r.views)-1] < lastTick+20 {
				return fmt.Errorf("%s: match %s (want %s), last view tick %d (before the drain %d)",
					x.c.sid, r.match, before.match, r.views[len(r.views)-1], lastTick)
			}
			return nil
		})
	}
	t.Logf("the room's match goes on on another node %v after the drain began", time.Since(start).Round(time.Millisecond))
	<-done
	owner, _ := home(t, nodes[1], p.sid)
	if qh, _ := home(t, nodes[1], q.sid); owner == "a" || owner == "" || qh != owner {
		t.Fatalf("homes after the drain: p %q, q %q; want both on the room's new owner", owner, qh)
	}
	for _, c := range []*client{p, q} {
		if n := c.resets(); n != 0 {
			t.Errorf("%s: %d sys.reset, want none (the drain moved the session whole)", c.sid, n)
		}
		views := c.room(room).views
		for i := 1; i < len(views); i++ {
			if views[i] < views[i-1] {
				t.Errorf("%s: view ticks go back %d -> %d", c.sid, views[i-1], views[i])
			}
		}
	}
	// The code leads to the new owner; the room is listed once on every node.
	r := newClient(t, nodes[1])
	r.poll(nodes[1])
	r.emit(nodes[2], "room.join", map[string]any{"room": code})
	if got, _ := r.joined(nodes[1]); got != room {
		t.Fatalf("joined %s by code after the drain, want %s", got, room)
	}
	if h, _ := home(t, nodes[2], r.sid); h != owner {
		t.Errorf("r's home %q after joining by code, want the room's owner %q", h, owner)
	}
	check.For(t, 20*time.Second, func() error {
		for _, n := range nodes[1:] {
			r.poll(n)
		}
		if rs, _ := r.lobby(); len(rs) != 0 { // private: not in the public list…
			return fmt.Errorf("private room listed: %v", rs)
		}
		return nil
	})
}

// TestDrainClosesRoomNobodyTakes: the last node of a cluster drains, so no
// node can take its room. The room closes for its member, who is told
// room.closed {"reason":"restart"} on the same session (no sys.reset), and
// a node started later takes that session from the saved blob outside any
// room.
func TestDrainClosesRoomNobodyTakes(t *testing.T) {
	ns := startNATS(t)
	nodes := threeNodesOn(t, ns)
	p := newClient(t, nodes[0])
	p.emit(nodes[0], "room.join", map[string]any{"mode": "tag"})
	room, _ := p.joined(nodes[0])
	nodes[1].drain(t)
	nodes[2].drain(t)
	check.For(t, 10*time.Second, func() error {
		if got := nodes[0].cl.Nodes(); len(got) != 1 {
			return fmt.Errorf("a sees %v", got)
		}
		return nil
	})
	nodes[0].drain(t)
	d := startNode(t, ns, nodes[0].store, "d")
	check.For(t, 20*time.Second, func() error {
		if code := p.poll(d); code != http.StatusOK {
			return fmt.Errorf("poll via d: %d", code)
		}
		for _, e := range p.got {
			if e.Type == "room.closed" && strings.Contains(string(e.Data), room) {
				if !strings.Contains(string(e.Data), `"reason":"restart"`) {
					t.Fatalf("room.closed %s, want reason restart", e.Data)
				}
				return nil
			}
		}
		return fmt.Errorf("no room.closed for %s yet", room)
	})
	if n := p.resets(); n != 0 {
		t.Errorf("%d sys.reset, want none: the session itself was handed over", n)
	}
	// Out of the room: quick play seats the player again, on d.
	seen := len(p.got)
	p.emit(d, "room.join", map[string]any{"mode": "tag"})
	check.For(t, 20*time.Second, func() error {
		p.poll(d)
		for _, e := range p.got[seen:] {
			if e.Type == "room.joined" {
				if strings.Contains(string(e.Data), room) {
					t.Fatalf("seated in the closed room %s again", room)
				}
				return nil
			}
		}
		return fmt.Errorf("not seated again yet")
	})
}
