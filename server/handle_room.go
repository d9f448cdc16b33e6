package server

import (
	"context"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"comet"
	"comet/gameloop"
)

type joinRequest struct {
	Mode string `json:"mode"`
	Room string `json:"room"`
}

type createRequest struct {
	Mode    string `json:"mode"`
	Name    string `json:"name"`
	Max     int    `json:"max"`
	Private bool   `json:"private"`
}

type spectateRequest struct {
	Room string `json:"room"`
}

func (s *Server) participant(sess *tab) gameloop.Participant {
	return gameloop.Participant{ID: sess.playerID, Name: sess.PlayerName(), Sink: sess}
}

// onJoin handles room.join: {"mode"} is quick play, {"room"} joins a room by
// id or private join code.
func (s *Server) onJoin(ctx context.Context, sess *tab, data json.RawMessage) error {
	var req joinRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	var info gameloop.RoomInfo
	var err error
	switch {
	case req.Room != "":
		if err := s.checkRoomGuess(ctx, sess); err != nil {
			return err
		}
		if moved, err := s.joinElsewhere(ctx, sess, req.Room, false); moved { // another node's room
			return err
		}
		info, err = s.games.Join(ctx, req.Room, s.participant(sess))
		s.noteRoomGuess(ctx, sess, err)
	case req.Mode != "":
		if moved, err := s.quickElsewhere(ctx, sess, req.Mode); moved { // the cluster's best room is elsewhere
			return err
		}
		info, err = s.games.QuickJoin(ctx, req.Mode, s.participant(sess))
	default:
		return comet.Errorf(comet.EINVALID, "room.join needs a mode (quick play) or a room")
	}
	if err != nil {
		s.syncRooms(sess.playerID)
		return err
	}
	s.enterRoom(ctx, sess, info.ID)
	return nil
}

// checkRoomGuess refuses a join or spectate by room id or code once the
// player or its address has spent its allowance of failed look-ups, so
// private rooms' join codes cannot be guessed.
func (s *Server) checkRoomGuess(ctx context.Context, sess *tab) error {
	g := s.guards
	for _, c := range []struct {
		k   *keyedLimiter
		key string
	}{{g.codeFailPerPl, sess.playerID}, {g.codeFailPerIP, eventAddr(ctx, sess)}} {
		if ok, retry := c.k.check(c.key); !ok {
			return g.refuse(c.k, retry, "too many unknown rooms or join codes; try again in %s", retryText(retry))
		}
	}
	return nil
}

// noteRoomGuess spends one failed look-up of the player and its address if
// err says the room or code does not exist.
func (s *Server) noteRoomGuess(ctx context.Context, sess *tab, err error) {
	if comet.ErrorCode(err) == comet.ENOTFOUND {
		s.guards.codeFailPerPl.take(sess.playerID)
		s.guards.codeFailPerIP.take(eventAddr(ctx, sess))
	}
}

// onCreate handles room.create {"mode","name","max","private"}; the creator joins.
func (s *Server) onCreate(ctx context.Context, sess *tab, data json.RawMessage) error {
	var req createRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	if req.Name != "" {
		name, err := validRoomName(req.Name)
		if err != nil {
			return err
		}
		req.Name = name
	}
	spec := gameloop.RoomSpec{Mode: req.Mode, Name: req.Name, Max: req.Max, Private: req.Private}
	if req.Private {
		code, err := s.reserveCode(ctx) // unique across the cluster; "" on one node
		if err != nil {
			return err
		}
		spec.Code = code
	}
	info, err := s.games.Create(ctx, spec, s.participant(sess))
	if err != nil {
		s.releaseCode(spec.Code)
		s.syncRooms(sess.playerID)
		return err
	}
	s.enterRoom(ctx, sess, info.ID)
	return nil
}

// onSpectate handles room.spectate {"room"}: watch without playing.
func (s *Server) onSpectate(ctx context.Context, sess *tab, data json.RawMessage) error {
	var req spectateRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	if req.Room == "" {
		return comet.Errorf(comet.EINVALID, "room.spectate needs a room")
	}
	if err := s.checkRoomGuess(ctx, sess); err != nil {
		return err
	}
	if moved, err := s.joinElsewhere(ctx, sess, req.Room, true); moved { // another node's room
		return err
	}
	info, err := s.games.Spectate(ctx, req.Room, s.participant(sess))
	s.noteRoomGuess(ctx, sess, err)
	if err != nil {
		s.syncRooms(sess.playerID)
		return err
	}
	s.enterRoom(ctx, sess, info.ID)
	return nil
}

// onLeave handles room.leave: the player leaves its room, whichever of its
// tabs is in it. The room tells the tab it was watching through (room.left
// {"room"}); a different tab that asked is told too, so each hears it once.
func (s *Server) onLeave(ctx context.Context, sess *tab, _ json.RawMessage) error {
	info, ok := s.games.RoomOf(sess.playerID)
	if !ok {
		s.syncRooms(sess.playerID)
		return comet.Errorf(comet.ENOTFOUND, "you are not in a room")
	}
	if err := s.games.Leave(ctx, sess.playerID); err != nil {
		return err
	}
	viewing := sess.Room() == info.ID
	s.syncRooms(sess.playerID)
	if !viewing {
		sess.Send(comet.MustMessage("room.left", map[string]string{"room": info.ID}))
	}
	return nil
}

// onInput handles room.input: decoded and queued by the room without blocking.
func (s *Server) onInput(_ context.Context, sess *tab, data json.RawMessage) error {
	return s.games.Input(sess.playerID, data)
}

// onResync handles room.resync: a client whose diff did not apply asks for a
// fresh snapshot of its room.
func (s *Server) onResync(_ context.Context, sess *tab, _ json.RawMessage) error {
	if _, ok := s.games.RoomOf(sess.playerID); !ok {
		return comet.Errorf(comet.ENOTFOUND, "you are not in a room")
	}
	s.games.Resync(sess.playerID)
	return nil
}

// enterRoom moves the session's room chat channel to the new room's.
func (s *Server) enterRoom(ctx context.Context, sess *tab, roomID string) {
	// The player's other tabs lose their room channel: a player sits in one
	// room, watched through one tab. The engine told a tab that was in another
	// room (room.left); a tab in this very room lost its stream to this one
	// silently, so it is told here.
	for _, o := range s.tabsOf(sess.playerID) {
		if o == sess {
			continue
		}
		if o.Room() == roomID {
			o.Send(comet.MustMessage("room.left", map[string]string{"room": roomID}))
		}
		s.exitRoom(o)
	}
	if prev := sess.setRoom(roomID); prev != "" && prev != roomID {
		sess.Unsubscribe(comet.ChatTopic("room:" + prev))
	}
	s.joinChannel(ctx, sess, "room:"+roomID)
}

// syncRooms takes the player's tabs out of room chat channels of rooms the
// player is no longer in: a join or create that failed after the engine had
// already taken the player out of its previous room, or a leave.
func (s *Server) syncRooms(playerID string) {
	info, in := s.games.RoomOf(playerID)
	for _, o := range s.tabsOf(playerID) {
		if r := o.Room(); r != "" && (!in || r != info.ID) {
			s.exitRoom(o)
		}
	}
}

// onRoomLeft is the engine's OnLeave: a room took the player out on its own
// (it closed with the player inside), so the player's tabs showing that room
// leave its chat channel. It runs on the room's goroutine: it only
// unsubscribes, never blocks and never calls the engine.
func (s *Server) onRoomLeft(playerID, roomID string) {
	for _, o := range s.tabsOf(playerID) {
		if o.Room() == roomID {
			s.exitRoom(o)
		}
	}
}

func (s *Server) exitRoom(sess *tab) {
	if prev := sess.setRoom(""); prev != "" {
		sess.Unsubscribe(comet.ChatTopic("room:" + prev))
	}
}

// maxRoomName is the longest room name (docs/PROTOCOL.md).
const maxRoomName = 40

// validRoomName trims a room name and checks it: 1–40 characters of letters,
// digits, spaces and common punctuation, no control or markup characters.
func validRoomName(name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 || n > maxRoomName {
		return "", comet.Errorf(comet.EINVALID, "a room name is 1 to %d characters", maxRoomName)
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" _-'.!?#:,()", r)) {
			return "", comet.Errorf(comet.EINVALID, "a room name may hold letters, digits, spaces and _ - ' . ! ? # : , ( ) only")
		}
	}
	return name, nil
}
