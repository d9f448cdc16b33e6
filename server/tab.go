package server

import (
	"bytes"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"comet"
	"comet/server/push"
)

// tab is one browser tab as the application sees it: its push session (the
// core's numbered stream) plus what the core knows nothing of — the player,
// its display name, the room the tab joined through and the players it muted.
// It is the session's opaque state (push.Session.State).
type tab struct {
	*push.Session
	playerID string
	// tokenHash is the SHA-256 of the player token every request must present.
	tokenHash [32]byte
	name      atomic.Pointer[string]
	muted     atomic.Pointer[map[string]bool] // players whose chat this tab drops

	// addr is the client address the tab counts against (live sessions,
	// per-address costs); cost holds its own cost buckets once it spends.
	addr netip.Addr
	cost atomic.Pointer[tabCosts]

	// mirror marks a tab held here for a session homed on another node
	// (cluster.go): its events come from home, its requests go there.
	mirror bool
	home   string // the mirror's home node
	token  string // the mirror's player token, to forward its WebSocket messages

	mu   sync.Mutex
	room string   // the room this tab joined through, "" in the lobby
	dms  []string // the direct channels this tab was sent a line of, most recent last
}

// maxTabDMs bounds the direct channels a tab remembers for a reset.
const maxTabDMs = 16

// sawDM records that the tab was sent a line of a direct channel, so a reset
// sends that channel's history again (the line may be in the lost range).
func (t *tab) sawDM(channel string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dms = slices.DeleteFunc(t.dms, func(c string) bool { return c == channel })
	if len(t.dms) == maxTabDMs {
		t.dms = t.dms[1:]
	}
	t.dms = append(t.dms, channel)
}

// dmChannels returns the direct channels the tab was sent lines of, the most
// recently used first.
func (t *tab) dmChannels() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := slices.Clone(t.dms)
	slices.Reverse(out)
	return out
}

// costs returns the tab's cost buckets, made on first use.
func (t *tab) costs() *tabCosts {
	if c := t.cost.Load(); c != nil {
		return c
	}
	t.cost.CompareAndSwap(nil, &tabCosts{})
	return t.cost.Load()
}

// tabOf returns the application state of a session made by newTab.
func tabOf(s *push.Session) *tab { return s.State().(*tab) }

// newTab registers a session for player p presenting tokenHash, counted
// against the client address addr.
func (s *Server) newTab(playerID, name string, tokenHash []byte, addr netip.Addr) *tab {
	t := &tab{playerID: playerID, addr: addr}
	copy(t.tokenHash[:], tokenHash)
	t.setName(name)
	t.Session = s.hub.NewSession(playerID, t)
	return t
}

// tabsOf returns the live tabs of one player, newest first.
func (s *Server) tabsOf(playerID string) []*tab {
	ss := s.hub.UserSessions(playerID)
	out := make([]*tab, len(ss))
	for i, x := range ss {
		out[i] = tabOf(x)
	}
	return out
}

// allTabs returns every live tab.
func (s *Server) allTabs() []*tab {
	ss := s.hub.Sessions()
	out := make([]*tab, 0, len(ss))
	for _, x := range ss {
		if t := tabOf(x); !t.mirror {
			out = append(out, t)
		}
	}
	return out
}

// PlayerName returns the player's current display name.
func (t *tab) PlayerName() string { return *t.name.Load() }

func (t *tab) setName(n string) { t.name.Store(&n) }

// roomHangupGrace is how long a tab in a room keeps its seat after its
// client hung up (closed the connection, as a closed tab does): a ghost
// leaves the room within seconds. A tab whose connection was only lost (no
// hang-up seen) keeps the hub's grace; a tab in the lobby too.
const roomHangupGrace = 2 * time.Second

// setRoom records the room this tab is in and returns the previous one.
func (t *tab) setRoom(id string) (prev string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != "" {
		t.SetHangupGrace(roomHangupGrace)
	} else {
		t.SetHangupGrace(0)
	}
	prev, t.room = t.room, id
	return prev
}

// Room returns the room this tab joined through ("" in the lobby).
func (t *tab) Room() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.room
}

// setMuted replaces the set of players whose chat this tab drops.
func (t *tab) setMuted(ids []string) {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	t.muted.Store(&m)
}

func (t *tab) mutedSet() map[string]bool {
	if m := t.muted.Load(); m != nil {
		return *m
	}
	return nil
}

// deliver is the core's filter for comet.Filtered messages: a tab drops chat
// from the players it muted, and records the direct channel of a direct
// message it takes (sawDM), on whichever node the tab is homed.
func deliver(s *push.Session, m *comet.Message) bool {
	if m.From == "" {
		return true
	}
	t := tabOf(s)
	if mm := t.muted.Load(); mm != nil && (*mm)[m.From] {
		return false
	}
	if ch, ok := dmChannelOf(m); ok {
		t.sawDM(ch)
	}
	return true
}

// dmPrefixMax bounds where a chat.msg frame names its channel: after
// `"type":"chat.msg","data":{"id":` and an id of at most 20 digits.
const dmPrefixMax = 96

// dmChannelOf returns the direct channel of a chat.msg of one ("dm:a:b"):
// read from the frame chatLine encodes, whose id and channel come first,
// so a lobby line costs a search of its first few dozen bytes, not a
// decoding.
func dmChannelOf(m *comet.Message) (string, bool) {
	if m.Type != "chat.msg" {
		return "", false
	}
	head := m.Frame[:min(len(m.Frame), dmPrefixMax)]
	i := bytes.Index(head, []byte(`,"channel":"dm:`))
	if i < 0 {
		return "", false
	}
	rest := m.Frame[i+len(`,"channel":"`):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	return string(rest[:end]), true
}
