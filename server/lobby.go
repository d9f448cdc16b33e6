package server

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"comet"
	"comet/gameloop"
)

// Lobby limits: what a full lobby of thousands costs each session.
const (
	presenceListMax = 100                    // names in a lobby.presence list; count is exact
	presenceEvery   = time.Second            // presence updates coalesced to one per this
	roomsEvery      = 200 * time.Millisecond // room-list changes coalesced to one per this
	// roomListMax caps the rooms a lobby.rooms lists (public ones first,
	// oldest first); total counts them all. The full list a newcomer gets
	// then stays far below the replay buffer however many rooms exist, so
	// fresh state can never push itself out and loop on sys.reset.
	roomListMax = 200
)

// lobby keeps the live room list and who is online, and publishes both on the
// lobby topic: a full list to each new subscriber, then coalesced changes, so
// a burst of joins costs one event per session per interval, not one per join.
//
// Lock order: pub, then mu.
type lobby struct {
	bus    comet.Bus
	tabs   func() []*tab                // every live tab
	tabsOf func(playerID string) []*tab // one player's tabs

	// pub is held while publishing on the lobby topic and while welcoming a
	// session (subscribe, then send the full lists), so a newcomer never gets
	// a full list older than an update it already received.
	pub sync.Mutex

	mu      sync.Mutex
	rooms   map[string]gameloop.RoomInfo
	total   int               // public rooms in the last list sent
	order   map[string]uint64 // when each room was first seen, for a stable listing order
	seq     uint64
	listed  map[string]bool // the rooms the last published list holds
	changed map[string]bool // room ids changed since the last publish
	// Private rooms are never in the public list: each is listed to its
	// creator alone (privChanged: id -> creator, changed since the last publish).
	privChanged   map[string]string
	presenceDirty bool
	presence      *comet.Message // the last published presence list, for newcomers
	full          *comet.Message // the full room list, shared by newcomers until a room changes
	wake          chan struct{}

	// Cluster hooks (cluster_rooms.go), nil on one node: others returns the
	// other live nodes' players (id -> name), onLocalRoom writes a room of
	// this node to the cluster's directory, onPresence has this node's
	// players written there.
	others      func() map[string]string
	onLocalRoom func(info gameloop.RoomInfo, closed bool)
	onPresence  func()

	// names serializes renames: the check that a name is free online and the
	// change must be one step, or two players could take one name at once.
	names sync.Mutex
}

func newLobby(bus comet.Bus, tabs func() []*tab, tabsOf func(string) []*tab) *lobby {
	return &lobby{bus: bus, tabs: tabs, tabsOf: tabsOf, rooms: make(map[string]gameloop.RoomInfo),
		privChanged: make(map[string]string),
		order:       make(map[string]uint64), listed: make(map[string]bool),
		changed: make(map[string]bool), wake: make(chan struct{}, 1)}
}

// roomsMsg is lobby.rooms: full=true replaces the list; otherwise rooms are
// upserts and closed are ids to remove (a room closed, or no longer among
// the roomListMax listed). Both arrays are always present; total counts
// every open room, listed or not.
type roomsMsg struct {
	Full   bool                `json:"full"`
	Rooms  []gameloop.RoomInfo `json:"rooms"`
	Closed []string            `json:"closed"`
	Total  int                 `json:"total"`
}

// presenceMsg is lobby.presence: the exact online count and up to
// presenceListMax players, sorted by name.
type presenceMsg struct {
	Count   int          `json:"count"`
	Players []playerView `json:"players"`
}

// roomChanged records a room's new info (or that it closed); the gameloop
// calls it from room goroutines, so it only marks and wakes.
func (l *lobby) roomChanged(info gameloop.RoomInfo, closed bool) {
	if l.onLocalRoom != nil {
		l.onLocalRoom(info, closed)
	}
	l.remoteRoom(info, closed)
}

// remoteRoom records a room's new info or its closing, for a room of this
// node (roomChanged) or another node of the cluster.
func (l *lobby) remoteRoom(info gameloop.RoomInfo, closed bool) {
	l.mu.Lock()
	if closed {
		delete(l.rooms, info.ID)
		delete(l.order, info.ID)
	} else {
		if _, ok := l.rooms[info.ID]; !ok {
			l.seq++
			l.order[info.ID] = l.seq
		}
		l.rooms[info.ID] = info
	}
	if info.Private {
		l.privChanged[info.ID] = info.Creator
	} else {
		l.full = nil
		l.changed[info.ID] = true
	}
	l.mu.Unlock()
	l.poke()
}

func (l *lobby) presenceChanged() {
	l.othersChanged()
	if l.onPresence != nil {
		l.onPresence()
	}
}

// othersChanged marks the online list for the next update after another
// node's players changed (this node's own records need no writing).
func (l *lobby) othersChanged() {
	l.mu.Lock()
	l.presenceDirty = true
	l.mu.Unlock()
	l.poke()
}

func (l *lobby) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run publishes coalesced changes until ctx ends.
func (l *lobby) run(ctx context.Context) {
	var lastRooms, lastPresence time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-timer.C:
		}
		now := time.Now()
		l.mu.Lock()
		roomsDue := len(l.changed) > 0 || len(l.privChanged) > 0
		presDue := l.presenceDirty
		l.mu.Unlock()
		var next time.Duration = time.Hour
		if roomsDue {
			if wait := roomsEvery - now.Sub(lastRooms); wait > 0 {
				next = min(next, wait)
			} else {
				l.publishRoomChanges()
				lastRooms = now
			}
		}
		if presDue {
			if wait := presenceEvery - now.Sub(lastPresence); wait > 0 {
				next = min(next, wait)
			} else {
				l.publishPresence()
				lastPresence = now
			}
		}
		timer.Reset(next)
	}
}

// publishPresence publishes the online list and keeps it for newcomers.
func (l *lobby) publishPresence() {
	l.pub.Lock()
	defer l.pub.Unlock()
	l.mu.Lock()
	l.presenceDirty = false
	l.mu.Unlock()
	m := l.presenceMessage()
	l.mu.Lock()
	l.presence = m
	l.mu.Unlock()
	l.bus.Publish(comet.TopicLobby, m)
}

// publishRoomChanges publishes the rooms changed since the last call.
func (l *lobby) publishRoomChanges() {
	l.pub.Lock()
	defer l.pub.Unlock()
	l.mu.Lock()
	listed, total := l.listRoomsLocked()
	msg := roomsMsg{Rooms: []gameloop.RoomInfo{}, Closed: []string{}, Total: total}
	totalChanged := total != l.total
	l.total = total
	for id := range l.listed { // closed, or pushed off the list
		if !listed[id] {
			msg.Closed = append(msg.Closed, id)
		}
	}
	for id := range listed { // changed, or newly on the list
		if l.changed[id] || !l.listed[id] {
			msg.Rooms = append(msg.Rooms, l.rooms[id])
		}
	}
	l.listed = listed
	clear(l.changed)
	type personal struct {
		creator string
		msg     roomsMsg
	}
	var privs []personal
	for id, creator := range l.privChanged {
		m := roomsMsg{Rooms: []gameloop.RoomInfo{}, Closed: []string{}, Total: total}
		if info, ok := l.rooms[id]; ok {
			m.Rooms = append(m.Rooms, info)
		} else {
			m.Closed = append(m.Closed, id)
		}
		privs = append(privs, personal{creator, m})
	}
	clear(l.privChanged)
	l.mu.Unlock()
	for _, p := range privs { // a private room's change reaches its creator's tabs alone
		if p.creator == "" {
			continue
		}
		m := comet.MustMessage("lobby.rooms", p.msg)
		for _, t := range l.tabsOf(p.creator) {
			if t.Subscribed(comet.TopicLobby) {
				t.Send(m)
			}
		}
	}
	if len(msg.Rooms) == 0 && len(msg.Closed) == 0 && !totalChanged {
		return // only private rooms changed
	}
	slices.SortFunc(msg.Rooms, func(a, b gameloop.RoomInfo) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(msg.Closed)
	l.bus.Publish(comet.TopicLobby, comet.MustMessage("lobby.rooms", msg))
}

// roomsMessage is the full room list (private rooms included, without codes),
// encoded once and shared by every newcomer until a room changes: each
// session's replay buffer then holds a pointer, not its own copy.
func (l *lobby) roomsMessage() *comet.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full != nil {
		return l.full
	}
	listed, total := l.listRoomsLocked()
	msg := roomsMsg{Full: true, Rooms: make([]gameloop.RoomInfo, 0, len(listed)), Closed: []string{}, Total: total}
	for id := range listed {
		msg.Rooms = append(msg.Rooms, l.rooms[id])
	}
	slices.SortFunc(msg.Rooms, func(a, b gameloop.RoomInfo) int { return strings.Compare(a.ID, b.ID) })
	l.full = comet.MustMessage("lobby.rooms", msg)
	return l.full
}

// listRoomsLocked picks the public rooms a list shows — all of them up to
// roomListMax, else the oldest — and counts every public room; private rooms
// are listed to their creators alone. l.mu is held.
func (l *lobby) listRoomsLocked() (listed map[string]bool, total int) {
	ids := make([]string, 0, len(l.rooms))
	for id, info := range l.rooms {
		if !info.Private {
			ids = append(ids, id)
		}
	}
	if len(ids) > roomListMax {
		slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(l.order[a], l.order[b]) })
		ids = ids[:roomListMax]
	}
	listed = make(map[string]bool, len(ids))
	for _, id := range ids {
		listed[id] = true
	}
	total = 0
	for _, info := range l.rooms {
		if !info.Private {
			total++
		}
	}
	return listed, total
}

// publicRoomsExcept returns the public rooms the lobby knows (the cluster's)
// but those in skip.
func (l *lobby) publicRoomsExcept(skip map[string]bool) []gameloop.RoomInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []gameloop.RoomInfo
	for id, info := range l.rooms {
		if !info.Private && !skip[id] {
			out = append(out, info)
		}
	}
	return out
}

// privateRoomsOf returns the open private rooms playerID created, as the
// personal upsert a welcome adds to the public list (nil when none).
func (l *lobby) privateRoomsOf(playerID string) *comet.Message {
	l.mu.Lock()
	var mine []gameloop.RoomInfo
	for _, info := range l.rooms {
		if info.Private && info.Creator == playerID {
			mine = append(mine, info)
		}
	}
	total := l.total
	l.mu.Unlock()
	if len(mine) == 0 {
		return nil
	}
	slices.SortFunc(mine, func(a, b gameloop.RoomInfo) int { return strings.Compare(a.ID, b.ID) })
	return comet.MustMessage("lobby.rooms", roomsMsg{Rooms: mine, Closed: []string{}, Total: total})
}

// presenceMessage lists who is online: one entry per player, however many tabs.
func (l *lobby) presenceMessage() *comet.Message {
	seen := make(map[string]string)
	for _, s := range l.tabs() {
		seen[s.playerID] = s.PlayerName()
	}
	if l.others != nil { // the cluster's other nodes: a player online on two counts once
		for id, name := range l.others() {
			if _, ok := seen[id]; !ok {
				seen[id] = name
			}
		}
	}
	// Sort keys are lowered once per player, not once per comparison.
	type entry struct {
		key string
		pv  playerView
	}
	all := make([]entry, 0, len(seen))
	for id, name := range seen {
		all = append(all, entry{strings.ToLower(name), playerView{ID: id, Name: name}})
	}
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(a.pv.ID, b.pv.ID))
	})
	msg := presenceMsg{Count: len(seen), Players: make([]playerView, 0, min(len(all), presenceListMax))}
	for _, e := range all[:min(len(all), presenceListMax)] {
		msg.Players = append(msg.Players, e.pv)
	}
	return comet.MustMessage("lobby.presence", msg)
}

// welcome subscribes a session to the lobby and sends it the full lists. The
// presence list is the last one published (at most presenceEvery old; the
// newcomer's own arrival follows in the next update), so a burst of new
// sessions does not cost a scan of every session each.
func (l *lobby) welcome(sess *tab) {
	l.pub.Lock()
	defer l.pub.Unlock()
	sess.Subscribe(comet.TopicLobby)
	sess.Send(l.roomsMessage())
	if mine := l.privateRoomsOf(sess.playerID); mine != nil {
		sess.Send(mine)
	}
	l.mu.Lock()
	p := l.presence
	l.mu.Unlock()
	if p == nil {
		p = l.presenceMessage()
	}
	sess.Send(p)
}
