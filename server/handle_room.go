package server

import (
	"context"
	"encoding/json"

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

func (s *Server) participant(sess *Session) gameloop.Participant {
	return gameloop.Participant{ID: sess.playerID, Name: sess.PlayerName(), Sink: sess}
}

// onJoin handles room.join: {"mode"} is quick play, {"room"} joins a room by
// id or private join code.
func (s *Server) onJoin(ctx context.Context, sess *Session, data json.RawMessage) error {
	var req joinRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	var info gameloop.RoomInfo
	var err error
	switch {
	case req.Room != "":
		info, err = s.games.Join(ctx, req.Room, s.participant(sess))
	case req.Mode != "":
		info, err = s.games.QuickJoin(ctx, req.Mode, s.participant(sess))
	default:
		return comet.Errorf(comet.EINVALID, "room.join needs a mode (quick play) or a room")
	}
	if err != nil {
		return err
	}
	s.enterRoom(ctx, sess, info.ID)
	return nil
}

// onCreate handles room.create {"mode","name","max","private"}; the creator joins.
func (s *Server) onCreate(ctx context.Context, sess *Session, data json.RawMessage) error {
	var req createRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	if req.Name != "" {
		name, err := validName(req.Name)
		if err != nil {
			return comet.Errorf(comet.EINVALID, "room name: %s", comet.ErrorMessage(err))
		}
		req.Name = name
	}
	info, err := s.games.Create(ctx, gameloop.RoomSpec{Mode: req.Mode, Name: req.Name, Max: req.Max, Private: req.Private}, s.participant(sess))
	if err != nil {
		return err
	}
	s.enterRoom(ctx, sess, info.ID)
	return nil
}

// onSpectate handles room.spectate {"room"}: watch without playing.
func (s *Server) onSpectate(ctx context.Context, sess *Session, data json.RawMessage) error {
	var req spectateRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	if req.Room == "" {
		return comet.Errorf(comet.EINVALID, "room.spectate needs a room")
	}
	info, err := s.games.Spectate(ctx, req.Room, s.participant(sess))
	if err != nil {
		return err
	}
	s.enterRoom(ctx, sess, info.ID)
	return nil
}

// onLeave handles room.leave.
func (s *Server) onLeave(ctx context.Context, sess *Session, _ json.RawMessage) error {
	if err := s.games.Leave(ctx, sess.playerID); err != nil {
		return err
	}
	s.exitRoom(sess)
	sess.Send(comet.MustMessage("room.left", struct{}{}))
	return nil
}

// onInput handles room.input: decoded and queued by the room without blocking.
func (s *Server) onInput(_ context.Context, sess *Session, data json.RawMessage) error {
	return s.games.Input(sess.playerID, data)
}

// onResync handles room.resync: a client whose diff did not apply asks for a
// fresh snapshot of its room.
func (s *Server) onResync(_ context.Context, sess *Session, _ json.RawMessage) error {
	if _, ok := s.games.RoomOf(sess.playerID); !ok {
		return comet.Errorf(comet.ENOTFOUND, "you are not in a room")
	}
	s.games.Resync(sess.playerID)
	return nil
}

// enterRoom moves the session's room chat channel to the new room's.
func (s *Server) enterRoom(ctx context.Context, sess *Session, roomID string) {
	// The player's other tabs lose their room channel: a player sits in one room.
	for _, o := range s.hub.PlayerSessions(sess.playerID) {
		if o != sess {
			s.exitRoom(o)
		}
	}
	if prev := sess.setRoom(roomID); prev != "" && prev != roomID {
		sess.Unsubscribe(comet.ChatTopic("room:" + prev))
	}
	s.joinChannel(ctx, sess, "room:"+roomID)
}

func (s *Server) exitRoom(sess *Session) {
	if prev := sess.setRoom(""); prev != "" {
		sess.Unsubscribe(comet.ChatTopic("room:" + prev))
	}
}
