package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"comet"
	"comet/gameloop"
)

// A cluster node that drains hands its rooms to the other nodes, each with
// its members' sessions, so that the matches go on there (issue 18). It is
// the graceful restart's hand-over (handover.go) sent over NATS instead of
// the store: each room freezes between two ticks (gameloop.Freeze), its
// members' sessions are marked drained with their room (MarkWithRoom: no
// other node takes them meanwhile, their clients' requests get 503 and
// retry), and one live node takes the room (moveReq kind "room"): it takes
// each member's session whole from the draining node (TakeWithRoom: same
// sid, numbering and buffered events),
// thaws the room at the tick it stopped at with those sessions as its
// members' sinks, and answers. Clients see their stream end and resume on
// the same session wherever they reconnect, in the same room and match. A
// room no node takes (every node refused, or it is too large for one NATS
// message) closes: its members are told room.closed {"reason":"restart"},
// their sessions are marked drained for any node to take (drainToCluster),
// and the client seats the player again, as after a crash.

// roomMoveTimeout bounds one node's take of one room: its members' takes
// and the replay of its match.
const roomMoveTimeout = 10 * time.Second

// roomMovesAtOnce is how many rooms a draining node hands over at a time.
const roomMovesAtOnce = 4

// movedMember is one member's session in a room handed over.
type movedMember struct {
	SID    string `json:"sid"`
	Player string `json:"player"`
}

// moveRoomsOut hands the rooms this draining node froze to the other live
// nodes, a few at a time, and returns how many were taken.
func (s *Server) moveRoomsOut(ctx context.Context, frozen []gameloop.SavedRoom) int {
	if len(frozen) == 0 {
		return 0
	}
	start := time.Now()
	in := map[string][]*tab{} // room -> the sessions here that sit in it
	for _, t := range s.homeTabs() {
		if r := t.Room(); r != "" {
			in[r] = append(in[r], t)
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		moved int
		sem   = make(chan struct{}, roomMovesAtOnce)
	)
	for i := range frozen {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if s.moveRoomOut(ctx, &frozen[i], in[frozen[i].ID], i) {
				mu.Lock()
				moved++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.log.Info("drain: rooms handed to other nodes", "rooms", len(frozen), "moved", moved,
		"took", time.Since(start).Round(time.Millisecond))
	return moved
}

// moveRoomOut hands one frozen room with its members here to another live
// node, trying each in turn from the nth (spreading the rooms), and reports
// whether one took it. A room nobody took is closed for its members still
// here.
func (s *Server) moveRoomOut(ctx context.Context, sv *gameloop.SavedRoom, members []*tab, nth int) bool {
	cr := s.rooms
	moved := false
	if cr != nil {
		moved = s.offerRoom(ctx, cr, sv, members, nth)
		// Its record here goes either way: the taker lists it as its own.
		cr.c.Put(roomsKind, sv.ID, nil)
	}
	if moved {
		return true
	}
	if cr != nil {
		cr.c.RoomLost()
	}
	for _, t := range members {
		if _, here := s.hub.Session(t.ID()); here && t.Room() == sv.ID {
			s.leaveRestoredRoom(t)
		}
	}
	return false
}

// offerRoom offers sv to the live nodes but this one until one takes it.
// A node that refuses (a *comet.Error: it took nothing) or is gone is
// passed over; one that did not answer in time may still be taking the
// room, so no other node is asked (two would run it): the room is that
// node's if it has any member's session, else it closes here.
func (s *Server) offerRoom(ctx context.Context, cr *clusterRooms, sv *gameloop.SavedRoom, members []*tab, nth int) bool {
	req := moveReq{Kind: "room"}
	var err error
	if req.Room, err = json.Marshal(sv); err != nil {
		s.log.Error("drain: room not encoded; it closes", "room", sv.ID, "err", err)
		return false
	}
	for _, t := range members {
		ok, err := cr.c.MarkWithRoom(ctx, t.ID(), t.playerID)
		if err != nil || !ok {
			// Not marked: it stays here and leaves the room (the taker
			// removes its seat as a leave).
			s.log.Warn("drain: room member not marked; it leaves the room", "room", sv.ID, "sid", t.ID(), "err", err)
			continue
		}
		req.Members = append(req.Members, movedMember{SID: t.ID(), Player: t.playerID})
	}
	b, err := json.Marshal(req)
	if err != nil {
		s.log.Error("drain: room not encoded; it closes", "room", sv.ID, "err", err)
		return false
	}
	nodes := slices.DeleteFunc(cr.c.Nodes(), func(n string) bool { return n == s.cluster.Name() })
	for i := range nodes {
		node := nodes[(nth+i)%len(nodes)]
		mctx, cancel := context.WithTimeout(ctx, roomMoveTimeout)
		err := cr.c.MoveRoom(mctx, node, b)
		cancel()
		if err == nil {
			s.log.Info("drain: room handed over", "room", sv.ID, "mode", sv.Mode, "to", node,
				"tick", sv.Tick, "members", len(req.Members), "bytes", len(b))
			return true
		}
		taken := slices.ContainsFunc(req.Members, func(m movedMember) bool {
			_, here := s.hub.Session(m.SID)
			return !here
		})
		s.log.Warn("drain: room not taken", "room", sv.ID, "to", node, "bytes", len(b), "members_taken", taken, "err", err)
		if taken {
			return true // that node holds some of its sessions: the room is its to close or run
		}
		var refused *comet.Error
		if !errors.As(err, &refused) && s.cluster.Alive(node) {
			return false
		}
	}
	return false
}

// adoptRoom takes a room a draining node hands here (moveReq kind "room"):
// its join code moves here, each member's session is taken from the
// draining node, and the room is thawed at the tick it froze at with those
// sessions as its members. A member whose session could not be taken (its
// client reached another node first, or the draining node no longer had
// it) is removed from the room as a leave.
func (s *Server) adoptRoom(ctx context.Context, req moveReq) error {
	var sv gameloop.SavedRoom
	if err := json.Unmarshal(req.Room, &sv); err != nil || sv.ID == "" {
		return comet.Errorf(comet.EINVALID, "bad room hand-over")
	}
	if s.hasRoom(sv.ID) {
		return comet.Errorf(comet.ECONFLICT, "room %s is already here", sv.ID)
	}
	if sv.Code != "" {
		if err := s.rooms.c.MoveCode(ctx, sv.Code); err != nil {
			return comet.Errorf(codeUnavailable, "join code not moved: %v", err)
		}
	}
	start := time.Now()
	byPlayer := map[string]*tab{}
	var restored []*tab
	for _, m := range req.Members {
		t, err := s.takeMember(ctx, m, sv.ID)
		if err != nil {
			s.log.Warn("room hand-over: member's session not taken; it leaves the room", "room", sv.ID, "sid", m.SID, "err", err)
			continue
		}
		byPlayer[m.Player] = t
		restored = append(restored, t)
	}
	took := time.Since(start)
	err := s.games.Thaw(ctx, []gameloop.SavedRoom{sv}, func(player string) comet.Sink {
		if t := byPlayer[player]; t != nil {
			return t
		}
		return nil // a nil *tab would be a non-nil Sink
	})
	for _, t := range restored {
		if s.seatedIn(t, sv.ID) {
			continue
		}
		if err != nil { // Thaw told it room.closed
			id := t.setRoom("")
			t.Unsubscribe(comet.ChatTopic("room:" + id))
		} else {
			s.leaveRestoredRoom(t)
		}
	}
	s.lobby.presenceChanged()
	if err != nil {
		s.log.Warn("room hand-over: room not thawed; its members were told it closed", "room", sv.ID, "err", err)
		return nil // the sessions are this node's now: the draining node must not close the room again
	}
	s.log.Info("room taken from a draining node", "room", sv.ID, "mode", sv.Mode, "tick", sv.Tick,
		"members", len(restored), "of", len(req.Members), "take", took.Round(time.Millisecond),
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// takeMember takes one member's session of a room handed here from its
// draining home and restores it in room.
func (s *Server) takeMember(ctx context.Context, m movedMember, room string) (*tab, error) {
	node, player, rev, err := s.cluster.Home(ctx, m.SID)
	if err != nil {
		return nil, err
	}
	if node != "" || rev == 0 || player != m.Player {
		return nil, fmt.Errorf("not marked drained (home %q)", node)
	}
	tc := &takeCapture{s: s}
	defer tc.close()
	blob, err := s.rooms.c.TakeWithRoom(ctx, m.SID, player, rev, tc.before)
	if err != nil {
		return nil, err
	}
	t, _, err := s.restoreMoved(ctx, m.SID, player, blob, room, tc)
	if err != nil {
		// This node is its home now but holds nothing: the client's next
		// downstream re-homes it here with a sys.reset.
		return nil, err
	}
	return t, nil
}

// hasRoom reports whether room id runs on this node.
func (s *Server) hasRoom(id string) bool {
	return slices.ContainsFunc(s.games.Rooms(), func(i gameloop.RoomInfo) bool { return i.ID == id })
}
