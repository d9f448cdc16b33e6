package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"comet"
	"comet/gameloop"
)

// thawRooms resumes the hand-over's rooms (gameloop.Manager.Thaw), each
// member with its restored tab that was in the room, and returns how many
// came back. A rooms part that fails its checksum is dropped whole.
func (s *Server) thawRooms(ctx context.Context, h *handoverBlob, restored []*tab) int {
	if len(h.Rooms) == 0 {
		return 0
	}
	start := time.Now()
	sum := sha256.Sum256(h.Rooms)
	if hex.EncodeToString(sum[:]) != h.RoomsChecksum {
		s.log.Warn("hand-over rooms discarded: checksum mismatch; their tabs are told they closed")
		return 0
	}
	var rooms []gameloop.SavedRoom
	if err := json.Unmarshal(h.Rooms, &rooms); err != nil {
		s.log.Warn("hand-over rooms discarded; their tabs are told they closed", "err", err)
		return 0
	}
	inRoom := make(map[string]*tab) // player -> its tab that was in a room
	for _, t := range restored {
		if t.Room() != "" {
			inRoom[t.playerID] = t
		}
	}
	err := s.games.Thaw(ctx, rooms, func(player string) comet.Sink {
		if t := inRoom[player]; t != nil {
			return t
		}
		return nil // a nil *tab would be a non-nil Sink
	})
	if err != nil {
		s.log.Warn("hand-over rooms not all restored; their tabs are told they closed", "err", err)
	}
	n := 0
	for _, sv := range rooms {
		if _, err := s.games.Inspect(ctx, sv.ID); err == nil {
			n++
		}
	}
	s.log.Info("hand-over rooms thawed", "rooms", n, "of", len(rooms), "took", time.Since(start).Round(time.Millisecond))
	return n
}

// seatedIn reports whether t's player sits in room after the thaw.
func (s *Server) seatedIn(t *tab, room string) bool {
	info, ok := s.games.RoomOf(t.playerID)
	return ok && info.ID == room
}
