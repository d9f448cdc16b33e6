package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"comet"
)

// costKey says whose budget a row of the cost table draws from.
type costKey int

const (
	perTab     costKey = iota // one browser tab (session)
	perAddress                // the client's address (IPv6: its /64), across tabs and players
)

// costRule is one row of the upstream cost table: client events of these
// types that cost the server real work (a snapshot, a room, a database
// query) draw one token each from a bucket refilled every `every`.
type costRule struct {
	name   string // the limit's label in comet_limited_total and docs/SECURITY.md
	events []string
	key    costKey
	every  time.Duration
	burst  int
}

// costRules is the one table of expensive client events, enforced in one
// place (chargeEvent) before an event is dispatched, and listed in
// docs/SECURITY.md. Events not in it (inputs, pings) cost nothing here;
// chat has its own limit.
var costRules = [...]costRule{
	{name: "room_resync", events: []string{"room.resync"}, key: perTab, every: time.Second, burst: 3},
	{name: "room_move", events: []string{"room.join", "room.spectate", "room.leave"}, key: perTab, every: 500 * time.Millisecond, burst: 10},
	{name: "room_create", events: []string{"room.create"}, key: perAddress, every: 10 * time.Second, burst: 5}, // rate: Limits.RoomsPerMinute
	{name: "chat_history", events: []string{"chat.history"}, key: perTab, every: 500 * time.Millisecond, burst: 10},
	{name: "rename", events: []string{"player.rename"}, key: perTab, every: 2 * time.Second, burst: 5},
}

// costOf maps an event type to its row of costRules.
var costOf = func() map[string]int {
	m := make(map[string]int)
	for i, r := range costRules {
		for _, ev := range r.events {
			m[ev] = i
		}
	}
	return m
}()

// tabCosts is a tab's own buckets, made on its first expensive event.
type tabCosts struct {
	mu      sync.Mutex
	buckets [len(costRules)]*rate.Limiter
}

func (c *tabCosts) allow(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buckets[i] == nil {
		c.buckets[i] = rate.NewLimiter(rate.Every(costRules[i].every), costRules[i].burst)
	}
	return c.buckets[i].Allow()
}

// chargeEvent takes what a client event of type typ costs from its tab's or
// address's budget, or refuses it with rate_limited. The upstream handler
// calls it once per event, so a batch of 64 expensive events costs 64.
func (s *Server) chargeEvent(sess *tab, typ string) error {
	i, ok := costOf[typ]
	if !ok {
		return nil
	}
	rule := &costRules[i]
	var allowed bool
	switch rule.key {
	case perTab:
		allowed = sess.costs().allow(i)
	case perAddress:
		allowed = s.limits.chargeAddress(sess.addr, i)
	}
	if allowed {
		return nil
	}
	s.metrics.limited.WithLabelValues(rule.name).Inc()
	return comet.Errorf(comet.ERATELIMIT, "too many %s requests; slow down", typ)
}
