package server

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"

	"comet"
	"comet/gameloop"
	"comet/server/push"
)

// eventHandlers is the table of every client event type the server accepts;
// docs/PROTOCOL.md documents each.
func (s *Server) eventHandlers() map[string]eventHandler {
	return map[string]eventHandler{
		"sys.ping":      s.onPing,
		"player.rename": s.onRename,
		"player.claim":  s.onClaim,
		"chat.say":      s.onSay,
		"chat.history":  s.onHistory,
		"chat.mute":     s.onMute,
		"chat.unmute":   s.onUnmute,
		"room.join":     s.onJoin,
		"room.create":   s.onCreate,
		"room.spectate": s.onSpectate,
		"room.leave":    s.onLeave,
		"room.input":    s.onInput,
		"room.resync":   s.onResync,
	}
}

// onSessionStart puts a new session where every session starts: in the lobby
// topic and the lobby chat channel, with the lists and history sent.
func (s *Server) onSessionStart(ctx context.Context, sess *tab) {
	s.lobby.welcome(sess)
	s.loadMutes(ctx, sess) // before any history, which leaves the muted out
	s.joinChannel(ctx, sess, "lobby")
	s.lobby.presenceChanged()
}

// onFresh is the push core's call for fresh state: after sys.reset,
// everything the tab holds; after dropped room diffs, a room snapshot.
func (s *Server) onFresh(ctx context.Context, ps *push.Session, why push.Fresh) {
	sess := tabOf(ps)
	if sess.mirror {
		return // its home sends the fresh state, relayed
	}
	if why&push.FreshReset != 0 {
		s.onReset(ctx, sess)
		return // the reset's snapshot is the keyframe
	}
	if why&push.FreshKeyframe != 0 && sess.Room() != "" {
		s.games.Resync(sess.playerID)
	}
}

// onReset sends a session that was sent sys.reset fresh state for everything
// it holds, in the order docs/PROTOCOL.md gives ("Fresh state after
// sys.reset"): the lobby lists, the mute list, each chat channel's history
// (lobby first), the history of each direct channel the tab was sent a line
// of, the room's last match.result while the room shows it, and the room's
// fresh start (room.joined, room.state, room.scores, room.snapshot).
func (s *Server) onReset(ctx context.Context, sess *tab) {
	topics := sess.Topics()
	slices.SortFunc(topics, func(a, b string) int {
		return cmp.Or(cmp.Compare(resetRank(a), resetRank(b)), strings.Compare(a, b))
	})
	if slices.Contains(topics, comet.TopicLobby) {
		s.lobby.welcome(sess)
	}
	if ids := slices.Sorted(maps.Keys(sess.mutedSet())); len(ids) > 0 {
		sess.Send(comet.MustMessage("chat.muted", map[string][]string{"players": ids}))
	}
	for _, t := range topics {
		if strings.HasPrefix(t, "chat:") {
			s.sendHistory(ctx, sess, strings.TrimPrefix(t, "chat:"))
		}
	}
	for _, ch := range sess.dmChannels() {
		s.sendHistory(ctx, sess, ch)
	}
	if sess.Room() == "" {
		s.sendLostRoom(sess) // re-homed from a dead node: the room it sat in there closed
		return
	}
	if info, ok := s.games.RoomOf(sess.playerID); ok && info.State == gameloop.StateEnded {
		if res := s.results.of(info.ID); res != nil {
			if msg, err := comet.NewMessage("match.result", res); err == nil {
				sess.Send(msg)
			}
		}
	}
	if sess.FreshPending()&push.FreshReset != 0 {
		// Superseded by a newer sys.reset, whose call follows and asks for
		// the room's start itself: one asked for here could come at the
		// room's next tick, after that reset and before its fresh state.
		return
	}
	s.games.Resync(sess.playerID)
}

// resetRank orders a reset's fresh state: lobby, lobby chat, other chat.
func resetRank(topic string) int {
	switch topic {
	case comet.TopicLobby:
		return 0
	case comet.ChatTopic("lobby"):
		return 1
	}
	return 2
}

// onExpire releases what an expired session held: its seat, and its place in
// the online list.
func (s *Server) onExpire(ctx context.Context, ps *push.Session) {
	sess := tabOf(ps)
	if sess.mirror {
		s.cluster.Unmirror(ps)
		return
	}
	if s.cluster != nil {
		s.cluster.Forget(ctx, sess.ID())
	}
	s.limits.releaseSession(sess.addr)
	if sess.Room() != "" {
		if err := s.games.Leave(ctx, sess.playerID); err != nil {
			s.log.Error("leave room on expiry", "player", sess.playerID, "err", err)
		}
	}
	// The hub has already dropped sess: forget the chat allowance only with
	// the player's last tab, or a tab left to expire would refill it.
	if !s.hub.HasSessions(sess.playerID) {
		s.chatLimits.Delete(sess.playerID)
	}
	s.lobby.presenceChanged()
}

type ping struct {
	T *float64 `json:"t"`
}

// onPing answers sys.ping {"t": x} with sys.pong {"t": x} on the stream.
func (s *Server) onPing(_ context.Context, sess *tab, data json.RawMessage) error {
	var p ping
	if err := decodeData(data, &p); err != nil {
		return err
	}
	if p.T == nil || math.IsNaN(*p.T) || math.IsInf(*p.T, 0) {
		return comet.Errorf(comet.EINVALID, "sys.ping needs a finite number t")
	}
	sess.Send(comet.MustMessage("sys.pong", p))
	return nil
}

// presenceChanged marks the online list for the next lobby update.
func (s *Server) presenceChanged() { s.lobby.presenceChanged() }
