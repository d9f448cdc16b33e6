package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"comet"
	"comet/gameloop"
)

// Lobby presence, the room list and rooms across the nodes of a cluster
// (server/cluster rooms*.go). Every node writes its own online players and
// rooms to two lobby directories and merges the other live nodes' into its
// lobby, which publishes the merged lists to its own sessions only (each
// node computes the same lists, so none crosses nodes on the bus). A room
// stays on the node that opened it; a tab homed elsewhere that joins it
// (by id, code or quick play) has its session moved to the room's owner
// (moveTo), so its inputs, chat and diffs are those of a local member
// there, reached through the cluster's forwarding and relaying.

// roomCluster is what a cluster node offers for this (server/cluster
// implements it beside Cluster).
type roomCluster interface {
	Nodes() []string
	MoveRoom(ctx context.Context, node string, req []byte) error
	RoomLost()
	MarkWithRoom(ctx context.Context, sid, player string) (bool, error)
	TakeWithRoom(ctx context.Context, sid, player string, rev uint64, before func(ctx context.Context, topics []string, seq uint64)) ([]byte, error)
	MoveCode(ctx context.Context, code string) error
	Directory(kind string, every time.Duration, onChange func(node, key string, val []byte, died bool)) error
	Put(kind, key string, val []byte)
	LostRecord(kind, key string) (val []byte, node string)
	ReserveCode(ctx context.Context, code string) error
	ReleaseCode(code string)
	CodeNode(ctx context.Context, code string) (string, error)
	ServeMoves(h func(ctx context.Context, req []byte) error) error
	MoveTo(ctx context.Context, node string, req []byte) error
	Unmark(ctx context.Context, sid, player string) error
	Lookup(ctx context.Context, kind, key string) (node string, val []byte, err error)
	ClaimOpen(ctx context.Context, mode string) (won bool, node, room string, rev uint64, err error)
	OpenClaimOf(ctx context.Context, mode string) (node, room string, rev uint64, err error)
	Opened(ctx context.Context, mode, room string, rev uint64) error
	DropClaim(ctx context.Context, mode string, rev uint64) error
	Written(ctx context.Context, kind, key string) error
}

// Directory kinds and how often each node writes its changes.
const (
	presenceKind  = "presence"
	roomsKind     = "rooms"
	presenceFlush = 100 * time.Millisecond
	roomsFlush    = roomsEvery
	// roomWriteWait is how long a room opened on another node may take to
	// show in the directory: a flush, and room for a busy node.
	roomWriteWait = 5*roomsFlush + time.Second
)

// presenceRec is a player's record in the presence directory: the name,
// and the room it sits in on that node (so a node that re-homes its session
// after that node died can tell it the room closed).
type presenceRec struct {
	Name string `json:"name"`
	Room string `json:"room,omitempty"`
}

// dirRoom is a room's record in the rooms directory: its lobby info plus
// what the lobby JSON leaves out but other nodes need.
type dirRoom struct {
	gameloop.RoomInfo
	Bots    int    `json:"bots"`
	Creator string `json:"creator,omitempty"`
	Code    string `json:"code,omitempty"`
}

type remoteRoom struct {
	node string
	info gameloop.RoomInfo
}

// moveReq asks a room's owner to take a session and seat it.
type moveReq struct {
	SID    string `json:"sid"`
	Player string `json:"player"`
	Kind   string `json:"kind"` // "join", "spectate" or "quick"
	Ref    string `json:"ref,omitempty"`
	Mode   string `json:"mode,omitempty"`
	// Kind "room" (cluster_drain_rooms.go): a draining node hands over a
	// frozen room, with the sessions of its members (marked drained).
	Room    json.RawMessage `json:"room,omitempty"` // gameloop.SavedRoom
	Members []movedMember   `json:"members,omitempty"`
}

// clusterRooms is this node's side of the lobby directories.
type clusterRooms struct {
	s *Server
	c roomCluster

	mu      sync.Mutex
	players map[string]map[string]presenceRec // other nodes': node -> player -> record
	rooms   map[string]remoteRoom             // other nodes' rooms by id
	sent    map[string]presenceRec            // this node's players as last Put
	moving  map[string]bool                   // sids being moved out (TakeSession hands them over)
	wake    chan struct{}
}

// startClusterRooms joins the lobby directories when the cluster offers
// them; on one node it does nothing.
func (s *Server) startClusterRooms(ctx context.Context) {
	rc, ok := s.cluster.(roomCluster)
	if !ok || s.cluster == nil {
		return
	}
	cr := &clusterRooms{s: s, c: rc, players: map[string]map[string]presenceRec{},
		rooms: map[string]remoteRoom{}, sent: map[string]presenceRec{}, moving: map[string]bool{},
		wake: make(chan struct{}, 1)}
	if err := rc.Directory(presenceKind, presenceFlush, cr.onPresence); err != nil {
		s.log.Error("cluster presence directory not started: the lobby lists this node's players only", "err", err)
		return
	}
	if err := rc.Directory(roomsKind, roomsFlush, cr.onRoom); err != nil {
		s.log.Error("cluster room directory not started: the lobby lists this node's rooms only", "err", err)
		return
	}
	if err := rc.ServeMoves(s.adoptMoved); err != nil {
		s.log.Error("cluster room moves not served", "err", err)
	}
	s.rooms = cr
	s.lobby.others = cr.otherPlayers
	s.lobby.onLocalRoom = cr.localRoom
	s.lobby.onPresence = cr.poke
	s.done.Add(1)
	go func() { defer s.done.Done(); cr.run(ctx) }()
}

func (cr *clusterRooms) poke() {
	select {
	case cr.wake <- struct{}{}:
	default:
	}
}

// run writes this node's presence changes, at most every presenceFlush.
func (cr *clusterRooms) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-cr.wake:
		}
		cr.syncPresence()
		select {
		case <-ctx.Done():
			return
		case <-time.After(presenceFlush):
		}
	}
}

// syncPresence puts the records of this node's players that changed.
func (cr *clusterRooms) syncPresence() {
	now := map[string]presenceRec{}
	for _, t := range cr.s.allTabs() {
		r := presenceRec{Name: t.PlayerName()}
		if info, ok := cr.s.games.RoomOf(t.playerID); ok {
			r.Room = info.ID
		}
		now[t.playerID] = r
	}
	for id, r := range now {
		if old, ok := cr.sent[id]; !ok || old != r {
			b, _ := json.Marshal(r)
			cr.c.Put(presenceKind, id, b)
		}
	}
	for id := range cr.sent {
		if _, ok := now[id]; !ok {
			cr.c.Put(presenceKind, id, nil)
		}
	}
	cr.sent = now
}

// onPresence takes another node's player record (the directory's goroutine).
func (cr *clusterRooms) onPresence(node, key string, val []byte, died bool) {
	var r presenceRec
	ok := val != nil && !died && json.Unmarshal(val, &r) == nil
	cr.mu.Lock()
	if ok {
		if cr.players[node] == nil {
			cr.players[node] = map[string]presenceRec{}
		}
		cr.players[node][key] = r
	} else if m := cr.players[node]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(cr.players, node)
		}
	}
	cr.mu.Unlock()
	cr.s.lobby.othersChanged()
}

// otherPlayers returns the other live nodes' players, id -> name.
func (cr *clusterRooms) otherPlayers() map[string]string {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	out := map[string]string{}
	for _, m := range cr.players {
		for id, r := range m {
			out[id] = r.Name
		}
	}
	return out
}

// localRoom writes a room of this node to the directory (the lobby's
// OnRoomChange); a closed private room's code is released.
func (cr *clusterRooms) localRoom(info gameloop.RoomInfo, closed bool) {
	if closed {
		cr.c.Put(roomsKind, info.ID, nil)
		if info.Code != "" {
			go cr.c.ReleaseCode(info.Code)
		}
	} else {
		b, _ := json.Marshal(dirRoom{RoomInfo: info, Bots: info.Bots, Creator: info.Creator, Code: info.Code})
		cr.c.Put(roomsKind, info.ID, b)
	}
	cr.poke() // the players' rooms in the presence records
}

// onRoom takes another node's room record into the lobby.
func (cr *clusterRooms) onRoom(node, key string, val []byte, died bool) {
	var d dirRoom
	open := val != nil && !died && json.Unmarshal(val, &d) == nil
	cr.mu.Lock()
	old, had := cr.rooms[key]
	if open {
		d.RoomInfo.Bots, d.RoomInfo.Creator, d.RoomInfo.Code = d.Bots, d.Creator, d.Code
		d.RoomInfo.ID = key
		cr.rooms[key] = remoteRoom{node: node, info: d.RoomInfo}
	} else if had && old.node == node {
		delete(cr.rooms, key)
	}
	cr.mu.Unlock()
	switch {
	case open && !cr.s.hasRoom(key):
		cr.s.lobby.remoteRoom(d.RoomInfo, false)
	case had && old.node == node && !cr.s.hasRoom(key):
		// A room a drained node handed here is this node's now: its old
		// record going must not take it off the lobby.
		cr.s.lobby.remoteRoom(old.info, true)
	}
}

// owner returns the node of another node's open room.
func (cr *clusterRooms) owner(id string) (remoteRoom, bool) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	r, ok := cr.rooms[id]
	return r, ok
}

// bestRemote returns the room of another node quick play would pick for
// mode, by the engine's rule (public, a free seat, not between matches
// first, then the most players), if it beats local (the best local room's
// info; ok false when there is none).
func (cr *clusterRooms) bestRemote(mode string, local gameloop.RoomInfo, haveLocal bool) (remoteRoom, bool) {
	better := func(a, b gameloop.RoomInfo) bool { // a better than b
		ae, be := a.State == gameloop.StateEnded, b.State == gameloop.StateEnded
		return (!ae && be) || (ae == be && a.Players > b.Players)
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	var best remoteRoom
	found := false
	for _, r := range cr.rooms {
		i := r.info
		if i.Private || i.Mode != mode || i.Players-i.Bots >= i.Max {
			continue
		}
		if !found || better(i, best.info) || (!better(best.info, i) && i.ID < best.info.ID) {
			best, found = r, true
		}
	}
	if !found || (haveLocal && !better(best.info, local)) {
		return remoteRoom{}, false
	}
	return best, true
}

// lostRoom returns the room player sat in on a node that died, from that
// node's presence record (kept until swept); "" if none.
func (cr *clusterRooms) lostRoom(player string) string {
	val, node := cr.c.LostRecord(presenceKind, player)
	var r presenceRec
	if node == "" || json.Unmarshal(val, &r) != nil {
		return ""
	}
	return r.Room
}

// isMoving reports whether sid is being moved out of this node.
func (cr *clusterRooms) isMoving(sid string) bool {
	if cr == nil {
		return false
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.moving[sid]
}

// joinElsewhere joins (or spectates) a room of another node by id or join
// code, moving the session there; handled false when the room is not
// another live node's (the local engine answers).
func (s *Server) joinElsewhere(ctx context.Context, sess *tab, ref string, spectate bool) (handled bool, err error) {
	cr := s.rooms
	if cr == nil || sess.mirror {
		return false, nil
	}
	ref = strings.TrimSpace(ref)
	for _, info := range s.games.Rooms() { // ours: the engine answers
		if info.ID == ref || (info.Code != "" && info.Code == strings.ToUpper(ref)) {
			return false, nil
		}
	}
	kind := "join"
	if spectate {
		kind = "spectate"
	}
	r, ok := cr.owner(ref)
	// A room id unknown here may be a room opened a moment ago on another
	// node: its owner writes it to the directory within roomWriteWait, so
	// look for it until then (a link shared by its creator at once).
	for wait := time.Now().Add(roomWriteWait); !ok; {
		if node, val, err := cr.c.Lookup(ctx, roomsKind, ref); err != nil {
			return true, err
		} else if node != "" {
			var d dirRoom
			if json.Unmarshal(val, &d) == nil {
				d.RoomInfo.Private = d.Private
				r, ok = remoteRoom{node: node, info: d.RoomInfo}, true
			}
		}
		if ok || !strings.HasPrefix(ref, "r_") || time.Now().After(wait) {
			break
		}
		select {
		case <-ctx.Done():
			return true, fmt.Errorf("look up room %s: %w", ref, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling the directory for a record due shortly
		}
		r, ok = cr.owner(ref)
	}
	if ok {
		if r.info.Private {
			return true, comet.Errorf(comet.EFORBIDDEN, "room %s is private: join it with its code", r.info.Name)
		}
		return true, s.moveTo(ctx, sess, r.node, moveReq{Kind: kind, Ref: ref})
	}
	node, err := cr.c.CodeNode(ctx, strings.ToUpper(ref))
	if err != nil {
		return true, err
	}
	if node == "" || node == s.cluster.Name() {
		return false, nil
	}
	return true, s.moveTo(ctx, sess, node, moveReq{Kind: kind, Ref: ref})
}

// quickElsewhere is quick play across the cluster: when another node's
// room is the one to join, the session moves there and that node's engine
// seats it; handled false when this node's engine should.
func (s *Server) quickElsewhere(ctx context.Context, sess *tab, mode string) (handled bool, err error) {
	cr := s.rooms
	if cr == nil || sess.mirror {
		return false, nil
	}
	if info, ok := s.games.RoomOf(sess.playerID); ok && info.Mode == mode && !info.Private {
		return false, nil // already playing this mode here: a fresh start
	}
	var local gameloop.RoomInfo
	haveLocal := false
	for _, i := range s.games.Rooms() {
		if i.Private || i.Mode != mode || i.Players-i.Bots >= i.Max {
			continue
		}
		if !haveLocal || (i.State != gameloop.StateEnded && local.State == gameloop.StateEnded) ||
			((i.State == gameloop.StateEnded) == (local.State == gameloop.StateEnded) && i.Players > local.Players) {
			local, haveLocal = i, true
		}
	}
	if r, ok := cr.bestRemote(mode, local, haveLocal); ok {
		return true, s.moveTo(ctx, sess, r.node, moveReq{Kind: "quick", Mode: mode})
	}
	if haveLocal {
		return false, nil
	}
	return s.quickOpen(ctx, sess, mode)
}

// openWait bounds how long quick play waits for the room another node
// claimed to open; past it the room is opened here.
const openWait = 5 * time.Second

// openPoll is how often a claim being waited on is read again.
const openPoll = 50 * time.Millisecond

// quickOpen is quick play when no node has a room of mode with a free
// seat: one node claims opening it (ClaimOpen, a compare-and-set) and
// opens it here; the others wait for the claim's room and join it through
// its node, so quick plays at the same moment on several nodes meet in one
// room. A claim whose node dies, or whose room is full, is dropped and
// claimed again; one that brings no room within openWait is given up on
// and the room opens here (handled false), as on one node.
func (s *Server) quickOpen(ctx context.Context, sess *tab, mode string) (handled bool, err error) {
	cr := s.rooms
	if !slices.Contains(s.games.Modes(), mode) {
		return false, nil // the engine refuses it
	}
	wctx, cancel := context.WithTimeout(ctx, openWait)
	defer cancel()
	for {
		won, node, room, rev, err := cr.c.ClaimOpen(wctx, mode)
		c := openClaim{node, room, rev}
		if err != nil {
			s.log.Warn("quick play: no claim to open a room; opening one here", "mode", mode, "err", err)
			return false, nil
		}
		if won {
			return true, s.openClaimed(ctx, sess, mode, c.rev)
		}
		c, ok, err := s.awaitClaim(wctx, mode, c)
		if err != nil {
			s.log.Warn("quick play: the claimed room did not open; opening one here", "mode", mode, "node", c.node, "err", err)
			return false, nil
		}
		if !ok { // dropped or expired: claim again
			continue
		}
		if c.node == s.cluster.Name() {
			return false, nil // opened here: the engine seats the player in it
		}
		s.awaitListed(wctx, c.room)
		return true, s.moveTo(ctx, sess, c.node, moveReq{Kind: "quick", Mode: mode})
	}
}

// awaitListed waits, at most until ctx ends, for this node's directory to
// list room (its owner wrote it before naming it in the claim), so the
// player's lobby here shows the room it is moved to.
func (s *Server) awaitListed(ctx context.Context, room string) {
	for {
		if _, ok := s.rooms.owner(room); ok {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(openPoll):
		}
	}
}

// openClaimed opens the room of a claim this node won: quick play here, and
// once the room is in the directory its id goes into the claim for the
// nodes waiting on it. A failed
// seat drops the claim so that nobody waits for it.
func (s *Server) openClaimed(ctx context.Context, sess *tab, mode string, rev uint64) error {
	info, err := s.games.QuickJoin(ctx, mode, s.participant(sess))
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clusterTimeout)
	defer cancel()
	if err != nil {
		if derr := s.rooms.c.DropClaim(uctx, mode, rev); derr != nil {
			s.log.Warn("quick play: claim to open a room not dropped", "mode", mode, "err", derr)
		}
		s.syncRooms(sess.playerID)
		return err
	}
	s.enterRoom(ctx, sess, info.ID)
	// The others join once the room is in the directory, so that every
	// node lists it by the time they sit in it.
	if err := s.rooms.c.Written(uctx, roomsKind, info.ID); err != nil {
		s.log.Warn("quick play: opened room not in the directory yet", "mode", mode, "room", info.ID, "err", err)
	}
	if err := s.rooms.c.Opened(uctx, mode, info.ID, rev); err != nil {
		s.log.Warn("quick play: opened room not written to its claim", "mode", mode, "room", info.ID, "err", err)
	}
	return nil
}

// awaitClaim waits until claim c of mode names its room (ok, the claim
// as it is then) or is gone (ok false: expired, or dropped here because
// its node died or its room is full). Its error is the context's.
func (s *Server) awaitClaim(ctx context.Context, mode string, c openClaim) (openClaim, bool, error) {
	for {
		if !s.cluster.Alive(c.node) || (c.room != "" && s.roomFull(c)) {
			if err := s.rooms.c.DropClaim(ctx, mode, c.rev); err != nil {
				return c, false, err
			}
			return c, false, nil
		}
		if c.room != "" {
			return c, true, nil
		}
		select {
		case <-ctx.Done():
			return c, false, fmt.Errorf("wait for the room %s claimed: %w", c.node, ctx.Err())
		case <-time.After(openPoll):
		}
		node, room, rev, err := s.rooms.c.OpenClaimOf(ctx, mode)
		if err != nil || node == "" {
			return c, false, err
		}
		c = openClaim{node, room, rev}
	}
}

// openClaim is a node's claim to open the next quick-play room of a mode
// (roomCluster.ClaimOpen): room is "" until it is open.
type openClaim struct {
	node, room string
	rev        uint64
}

// roomFull reports whether the room of claim c has no free seat, as this
// node knows it (a room not yet listed here was just opened: not full).
func (s *Server) roomFull(c openClaim) bool {
	var info gameloop.RoomInfo
	if c.node == s.cluster.Name() {
		rooms := s.games.Rooms()
		i := slices.IndexFunc(rooms, func(i gameloop.RoomInfo) bool { return i.ID == c.room })
		if i < 0 {
			return false
		}
		info = rooms[i]
	} else if r, ok := s.rooms.owner(c.room); ok {
		info = r.info
	} else {
		return false
	}
	return info.Players-info.Bots >= info.Max
}

// moveTo moves sess to node, which seats it as req says. The session is
// marked drained, and node takes it whole (same sid, numbering and
// buffered events; its stream here ends "shutdown" and the client resumes
// wherever it reconnects) and answers any refusal on the stream itself. A
// move that node did not take leaves the session here, and its error is
// this event's.
func (s *Server) moveTo(ctx context.Context, sess *tab, node string, req moveReq) error {
	cr := s.rooms
	sid := sess.ID()
	req.SID, req.Player = sid, sess.playerID
	b, _ := json.Marshal(req)
	cr.mu.Lock()
	cr.moving[sid] = true
	cr.mu.Unlock()
	defer func() {
		cr.mu.Lock()
		delete(cr.moving, sid)
		cr.mu.Unlock()
	}()
	ok, err := s.cluster.MarkDrained(ctx, sid, sess.playerID)
	if err != nil || !ok {
		s.log.Warn("room move: session not marked", "sid", sid, "err", err)
		return comet.Errorf(codeUnavailable, "could not move to the room's node; try again")
	}
	err = cr.c.MoveTo(ctx, node, b)
	if err == nil {
		return nil
	}
	// Not taken (the owner refused or did not answer): keep the session
	// here, unless a node took it meanwhile (then that node has it).
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clusterTimeout)
	defer cancel()
	if uerr := cr.c.Unmark(uctx, sid, sess.playerID); uerr != nil {
		s.log.Info("room move: session taken meanwhile", "sid", sid, "to", node, "err", err, "unmark", uerr)
		return nil
	}
	var ce *comet.Error
	if !errors.As(err, &ce) {
		s.log.Warn("room move failed", "sid", sid, "to", node, "err", err)
		return comet.Errorf(codeUnavailable, "the room's node did not answer; try again")
	}
	return err
}

// adoptMoved takes a session another node moves here (moveTo) and seats it:
// the directory entry moves here with a compare-and-set, the old home hands
// the session over and ends it in one step, and it is restored with its
// numbering. What the seat's refusal says goes on the stream, as a
// sys.error answering the client's event.
func (s *Server) adoptMoved(ctx context.Context, data []byte) error {
	var req moveReq
	if err := json.Unmarshal(data, &req); err != nil {
		return comet.Errorf(comet.EINVALID, "bad move request")
	}
	if s.Draining() || s.cluster.Fenced() {
		return errUnavailable
	}
	switch req.Kind {
	case "room":
		return s.adoptRoom(ctx, req)
	case "pull":
		return s.releaseToPull(ctx, req)
	}
	node, player, rev, err := s.cluster.Home(ctx, req.SID)
	if err != nil {
		return err
	}
	if node != "" || rev == 0 || player != req.Player {
		return comet.Errorf(comet.ECONFLICT, "session not marked for a move")
	}
	tc := &takeCapture{s: s}
	defer tc.close()
	blob, err := s.cluster.TakeDrained(ctx, req.SID, player, rev, tc.before)
	if err != nil {
		return comet.Errorf(codeUnavailable, "session not taken: %v", err)
	}
	t, upSeq, err := s.restoreMoved(ctx, req.SID, player, blob, "", tc)
	if err != nil {
		// This node is its home now but holds nothing: the client's next
		// downstream re-homes it here with a sys.reset.
		s.log.Warn("moved session not restored", "sid", req.SID, "err", err)
		return nil
	}
	var info gameloop.RoomInfo
	p := s.participant(t)
	switch req.Kind {
	case "spectate":
		info, err = s.games.Spectate(ctx, req.Ref, p)
	case "quick":
		info, err = s.games.QuickJoin(ctx, req.Mode, p)
	default:
		info, err = s.games.Join(ctx, req.Ref, p)
	}
	if err != nil {
		t.SendError(upSeq, err)
		s.syncRooms(t.playerID)
	} else {
		s.enterRoom(ctx, t, info.ID)
	}
	s.lobby.presenceChanged()
	s.log.Info("session moved here for a room", "sid", req.SID, "player", player, "room", info.ID, "err", err)
	return nil
}

// restoreMoved registers a session moved here from its hand-over blob.
// It returns the tab and the client seq of the event that moved it. With
// room "" the session left its room on the old home; otherwise it stays in
// room, which moves here with it (adoptRoom).
func (s *Server) restoreMoved(ctx context.Context, sid, player string, blob []byte, room string, tc *takeCapture) (*tab, uint64, error) {
	if blob == nil {
		return nil, 0, errors.New("the old home handed nothing over")
	}
	_, tabs, err := decodeHandover(blob)
	if err != nil {
		return nil, 0, err
	}
	if len(tabs) != 1 || tabs[0].Session.ID != sid || tabs[0].Player != player {
		return nil, 0, errors.New("the blob is not this session's")
	}
	st := tabs[0]
	if room == "" {
		// Its old room (on the old home) is left: the room's own room.left
		// went to the ended session there.
		st.Session.Topics = slices.DeleteFunc(st.Session.Topics, func(tp string) bool {
			return strings.HasPrefix(tp, "room:") || (st.Room != "" && tp == comet.ChatTopic("room:"+st.Room))
		})
	}
	addr, _ := netip.ParseAddr(st.Addr)
	t := &tab{playerID: player, addr: addr, room: room}
	copy(t.tokenHash[:], st.TokenHash)
	t.setName(st.Name)
	ps, err := tc.restore(st.Session, t)
	if err != nil {
		return nil, 0, err
	}
	s.limits.holdSession(addr)
	t.Session = ps
	s.loadMutes(ctx, t)
	if st.Room != "" && room == "" {
		t.Send(comet.MustMessage("room.left", map[string]string{"room": st.Room}))
	}
	return t, st.Session.UpMax, nil
}

// sendLostRoom tells a session re-homed here after its home died that the
// room it sat in there closed with it (room.closed {"reason":"error"}), so
// the client seats the player again as after a crash. It runs in the fresh
// state after the re-home's sys.reset.
func (s *Server) sendLostRoom(sess *tab) {
	if s.rooms == nil || sess.Room() != "" {
		return
	}
	if _, ok := s.games.RoomOf(sess.playerID); ok {
		return
	}
	if id := s.rooms.lostRoom(sess.playerID); id != "" {
		sess.Send(comet.MustMessage("room.closed", map[string]string{"room": id, "reason": "error"}))
	}
}

// reserveCode reserves a private room's join code cluster-wide; "" on one
// node (the engine draws its own).
func (s *Server) reserveCode(ctx context.Context) (string, error) {
	if s.rooms == nil {
		return "", nil
	}
	for range 5 {
		code := gameloop.NewJoinCode()
		err := s.rooms.c.ReserveCode(ctx, code)
		if err == nil {
			return code, nil
		}
		s.log.Debug("join code not reserved; drawing another", "err", err)
	}
	return "", comet.Errorf(codeUnavailable, "no join code could be reserved; try again")
}

// releaseCode frees a reserved code whose room did not open.
func (s *Server) releaseCode(code string) {
	if s.rooms != nil && code != "" {
		go s.rooms.c.ReleaseCode(code)
	}
}

// localBus is the bus that reaches this node's sinks only: a cluster bus's
// in-process one, or b itself.
func localBus(b comet.Bus) comet.Bus {
	if l, ok := b.(interface{ Local() comet.Bus }); ok {
		return l.Local()
	}
	return b
}
