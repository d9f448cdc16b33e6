package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"comet"
)

// Chat rules (docs/PROTOCOL.md).
const (
	maxChatLen     = comet.MaxChatLen
	chatHistoryLen = 50
	chatBurst      = 5
	chatEvery      = time.Second // refill: 5 lines per 5 s sustained, burst of 5
)

// chatLine is the data of chat.msg.
type chatLine struct {
	ID      int64      `json:"id"`
	Channel string     `json:"channel"`
	From    playerView `json:"from"`
	Text    string     `json:"text"`
	Me      bool       `json:"me,omitempty"`
	At      int64      `json:"at"` // unix milliseconds
}

func lineOf(m *comet.ChatMessage) chatLine {
	return chatLine{ID: m.ID, Channel: m.Channel, From: playerView{ID: m.FromID, Name: m.FromName},
		Text: m.Text, Me: m.Me, At: m.At.UnixMilli()}
}

type chatHistory struct {
	Channel  string     `json:"channel"`
	Messages []chatLine `json:"messages"`
}

// cleanText cleans a chat line and checks its length: comet.CleanChat. The
// text is stored and sent as plain text; clients render it as text, never
// as HTML.
func cleanText(s string) (string, error) { return comet.CleanChat(s) }

// playerTopic is the bus topic every tab of a player is on, wherever it is
// homed: its direct messages travel there.
func playerTopic(playerID string) string { return "player:" + playerID }

// dmChannel names the direct channel of two players: both ids, sorted.
func dmChannel(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return "dm:" + a + ":" + b
}

type sayRequest struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	Text    string `json:"text"`
	// Key, chosen by the client for the line and kept when it resends it,
	// makes the line exactly once for its player across sessions: a resend
	// into a session renewed after a crash has another sid and seq.
	Key string `json:"key"`
}

// maxSayKey bounds a chat.say key; keys are letters, digits, '-' and '_'.
const maxSayKey = 64

// onSay handles chat.say: "/w name text" and "/me text" are understood; the
// line is committed to the store before anyone is told it exists.
func (s *Server) onSay(ctx context.Context, sess *tab, data json.RawMessage) error {
	var req sayRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	if !validSayKey(req.Key) {
		return comet.Errorf(comet.EINVALID, "a chat.say key is 1 to %d letters, digits, '-' or '_'", maxSayKey)
	}
	me := false
	if cmd, rest, ok := strings.Cut(strings.TrimSpace(req.Text), " "); ok || strings.HasPrefix(cmd, "/") {
		switch strings.ToLower(cmd) {
		case "/me":
			me, req.Text = true, rest
		case "/w", "/whisper", "/msg":
			to, text, err := s.whisperTarget(rest)
			if err != nil {
				return err
			}
			req.To, req.Text = to, text
		default:
			if strings.HasPrefix(cmd, "/") && !strings.HasPrefix(cmd, "//") {
				return comet.Errorf(comet.EINVALID, "unknown command %s (try /w name text or /me text)", cmd)
			}
		}
	}
	text, err := cleanText(req.Text)
	if err != nil {
		return err
	}
	channel := req.Channel
	var dmTo string
	switch {
	case req.To != "":
		if req.To == sess.playerID {
			return comet.Errorf(comet.EINVALID, "you cannot message yourself")
		}
		if _, err := s.store.PlayerByID(ctx, req.To); err != nil {
			return err
		}
		dmTo, channel = req.To, dmChannel(sess.playerID, req.To)
	case channel == "":
		return comet.Errorf(comet.EINVALID, "chat.say needs a channel or to")
	case !sess.Subscribed(comet.ChatTopic(channel)):
		return comet.Errorf(comet.EFORBIDDEN, "you are not in channel %q", channel)
	}
	if silenced, err := s.store.Silenced(ctx, sess.playerID); err != nil {
		return err
	} else if silenced {
		return comet.Errorf(comet.EFORBIDDEN, "you have been muted by a moderator")
	}
	// Last, so a line refused for any other reason costs no allowance.
	g := s.guards
	addr := eventAddr(ctx, sess)
	if ok, retry := s.takeLimit(ctx, limitChatIP, addr, true); !ok {
		return g.refuse(g.chatPerIP, retry, "slow down: too many chat lines from your address")
	}
	if ok, _ := s.takeLimit(ctx, limitChatPlayer, sess.playerID, false); !ok {
		s.metrics.limited.WithLabelValues("chat").Inc()
		return comet.Errorf(comet.ERATELIMIT, "slow down: at most %d lines per %d seconds", chatBurst, chatBurst*int(chatEvery/time.Second))
	}
	if ok, retry := s.takeLimit(ctx, limitChatIP, addr, false); !ok { // taken by another tab meanwhile
		return g.refuse(g.chatPerIP, retry, "slow down: too many chat lines from your address")
	}

	m := &comet.ChatMessage{Channel: channel, FromID: sess.playerID, FromName: sess.PlayerName(),
		Text: text, Me: me, At: time.Now(), Key: sayKey(ctx, sess, req.Key)}
	if err := s.store.SaveChat(ctx, m); errors.Is(err, comet.ErrDuplicate) {
		// Said before under this key (the client's, or this session and
		// seq), by a server or home that died before its answer reached
		// the client: taken, and not published again — whoever was
		// listening had it live, and a renewed or re-homed session's fresh
		// history has it. A home that died between saving and publishing
		// leaves the line to history reads only: the cache is dropped so
		// the next one here reads it from the store.
		s.history.invalidate(channel)
		s.log.Info("chat line retried after it was stored; not delivered again", "sid", sess.ID(), "id", m.ID)
		return nil
	} else if err != nil {
		return fmt.Errorf("chat: save: %w", err)
	}
	s.history.invalidate(channel)
	msg := comet.MustMessage("chat.msg", lineOf(m))
	msg.From = sess.playerID
	msg.Flags |= comet.Filtered // muters drop it (deliver)
	if dmTo != "" {
		// Each player's tabs on every node are on its player topic; the
		// delivery filter (deliver) records the direct channel on each.
		s.bus.Publish(playerTopic(sess.playerID), msg)
		s.bus.Publish(playerTopic(dmTo), msg)
		return nil
	}
	s.bus.Publish(comet.ChatTopic(channel), msg)
	return nil
}

// sayKey is the idempotency key of a line said by a client event: the
// key the client chose, under its player (unique for the player, whatever
// session resends it); else its session and client seq, unique for as long
// as the session lives; "" (no key) for an event with neither.
func sayKey(ctx context.Context, sess *tab, key string) string {
	if key != "" {
		return "k:" + sess.playerID + ":" + key
	}
	seq := eventSeqOf(ctx)
	if seq == 0 {
		return ""
	}
	return sess.ID() + ":" + strconv.FormatUint(seq, 10)
}

// validSayKey reports whether key is empty or a well-formed chat.say key.
func validSayKey(key string) bool {
	if len(key) > maxSayKey {
		return false
	}
	for _, c := range []byte(key) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// whisperTarget splits the "name text" after /w. A quoted name ("bob hey")
// is taken whole. Unquoted, the name is the leading words that look like an
// online player's name (comet.NameKey); when leading words of different
// lengths name different players ("bob" and "bob hey"), or two players look
// alike, the command is refused as ambiguous rather than guessed.
func (s *Server) whisperTarget(rest string) (to, text string, err error) {
	return splitWhisper(rest, s.onlineKeys(), s.guards.keys.key)
}

// splitWhisper is whisperTarget on a map from name key (key) to the online
// players using it.
func splitWhisper(rest string, online map[string][]string, key func(string) string) (to, text string, err error) {
	rest = strings.TrimSpace(rest)
	if q, ok := strings.CutPrefix(rest, `"`); ok {
		name, after, found := strings.Cut(q, `"`)
		if !found {
			return "", "", comet.Errorf(comet.EINVALID, `unterminated quote: write /w "name with spaces" text`)
		}
		switch ids := online[key(name)]; len(ids) {
		case 0:
			return "", "", comet.Errorf(comet.ENOTFOUND, "no player named %q is online", name)
		case 1:
			return ids[0], after, nil
		default:
			return "", "", comet.Errorf(comet.EINVALID, "more than one player online looks like %q; use the player's id", name)
		}
	}
	type match struct {
		name string
		ids  []string
		end  int
	}
	var matches []match
	var distinct []string
	for end := 0; end <= len(rest) && end <= 4*comet.MaxNameLen; end++ { // a name: 24 runes of at most 4 bytes
		if end < len(rest) && rest[end] != ' ' || end > 0 && rest[end-1] == ' ' {
			continue
		}
		if ids := online[key(rest[:end])]; len(ids) > 0 {
			matches = append(matches, match{rest[:end], ids, end})
			for _, id := range ids {
				if !slices.Contains(distinct, id) {
					distinct = append(distinct, id)
				}
			}
		}
	}
	switch {
	case len(matches) == 0:
		name, _, _ := strings.Cut(rest, " ")
		return "", "", comet.Errorf(comet.ENOTFOUND, "no player named %q is online", name)
	case len(distinct) > 1 && len(matches) > 1:
		return "", "", comet.Errorf(comet.EINVALID, `/w is ambiguous: %q and %q are both online; quote the name, e.g. /w "%s" text`,
			matches[0].name, matches[1].name, matches[len(matches)-1].name)
	case len(distinct) > 1:
		return "", "", comet.Errorf(comet.EINVALID, "more than one player online looks like %q; use the player's id", matches[0].name)
	}
	last := matches[len(matches)-1] // one player: the longest name that is its
	return distinct[0], rest[last.end:], nil
}

// onlineKeys maps the comet.NameKey of every online name to the distinct
// players using it.
func (s *Server) onlineKeys() map[string][]string {
	m := make(map[string][]string)
	add := func(id, name string) {
		k := s.guards.keys.key(name)
		if !slices.Contains(m[k], id) {
			m[k] = append(m[k], id)
		}
	}
	for _, o := range s.allTabs() {
		add(o.playerID, o.PlayerName())
	}
	if s.rooms != nil { // a cluster: the other nodes' players too (presence directory)
		for id, name := range s.rooms.otherPlayers() {
			add(id, name)
		}
	}
	return m
}

// onlineByName finds the id of an online player whose name looks like name
// (comet.NameKey); "" if none.
func (s *Server) onlineByName(name string) string {
	if ids := s.onlineByKey(name); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// joinChannel subscribes a session to a chat channel and sends its history.
func (s *Server) joinChannel(ctx context.Context, sess *tab, channel string) {
	sess.Subscribe(comet.ChatTopic(channel))
	s.sendHistory(ctx, sess, channel)
}

func (s *Server) sendHistory(ctx context.Context, sess *tab, channel string) {
	cacheable := s.historyReady(ctx, sess, channel)
	muted := sess.mutedSet()
	if len(muted) == 0 && cacheable {
		if m := s.history.get(channel); m != nil {
			sess.Send(m)
			return
		}
	}
	version := s.history.version(channel)
	msgs, err := s.store.ChatHistory(ctx, channel, chatHistoryLen)
	if err != nil {
		s.log.Error("chat history", "channel", channel, "err", err)
		sess.SendError(0, comet.Errorf(comet.EINTERNAL, "chat history unavailable"))
		return
	}
	all := chatHistory{Channel: channel, Messages: make([]chatLine, 0, len(msgs))}
	mine := chatHistory{Channel: channel, Messages: make([]chatLine, 0, len(msgs))}
	for i := range msgs {
		all.Messages = append(all.Messages, lineOf(&msgs[i]))
		if !muted[msgs[i].FromID] {
			mine.Messages = append(mine.Messages, lineOf(&msgs[i]))
		}
	}
	shared := comet.MustMessage("chat.history", all)
	if cacheable {
		s.history.put(channel, version, shared)
	}
	if len(mine.Messages) == len(all.Messages) {
		sess.Send(shared)
		return
	}
	sess.Send(comet.MustMessage("chat.history", mine))
}

// historyCache keeps each channel's encoded chat.history, shared by every
// session that joins the channel until a line is said there, so a burst of
// newcomers costs one query and one encoding, and their replay buffers share
// one copy. A version per channel keeps a slow query from caching a history
// older than a line saved meanwhile.
type historyCache struct {
	mu       sync.Mutex
	entries  map[string]historyEntry
	versions map[string]uint64
	epoch    uint64 // bumped when versions start over, so no old version matches again
}

type historyEntry struct {
	msg     *comet.Message
	version uint64
}

// maxCachedChannels bounds the cache; past it, the cache starts over.
const maxCachedChannels = 4096

func (c *historyCache) get(channel string) *comet.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[channel]; ok && e.version == c.versionLocked(channel) {
		return e.msg
	}
	return nil
}

// version is what put must be given: the channel's version when a query began.
func (c *historyCache) version(channel string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.versionLocked(channel)
}

func (c *historyCache) versionLocked(channel string) uint64 {
	return c.epoch<<32 | c.versions[channel]
}

func (c *historyCache) put(channel string, version uint64, m *comet.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.versionLocked(channel) != version {
		return // a line was saved after the query began
	}
	if c.entries == nil || len(c.entries) >= maxCachedChannels {
		c.entries = make(map[string]historyEntry)
	}
	c.entries[channel] = historyEntry{msg: m, version: version}
}

// forget drops every cached history, and refuses any query under way, when
// this node may have missed lines said elsewhere (NATS was down).
func (c *historyCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.versions, c.entries = nil, nil
	c.epoch++
}

// invalidate drops a channel's cached history after a line is saved there.
func (c *historyCache) invalidate(channel string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.versions == nil || len(c.versions) >= maxCachedChannels {
		c.versions = make(map[string]uint64)
		c.entries = nil
		c.epoch++
	}
	c.versions[channel]++
	delete(c.entries, channel)
}

type historyRequest struct {
	Channel string `json:"channel"`
}

// onHistory handles chat.history {"channel"}: a channel the session is in, or
// one of its player's direct channels ("dm:<a>:<b>").
func (s *Server) onHistory(ctx context.Context, sess *tab, data json.RawMessage) error {
	var req historyRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	if !sess.Subscribed(comet.ChatTopic(req.Channel)) && !isDMOf(req.Channel, sess.playerID) {
		return comet.Errorf(comet.EFORBIDDEN, "you are not in channel %q", req.Channel)
	}
	s.sendHistory(ctx, sess, req.Channel)
	return nil
}

func isDMOf(channel, playerID string) bool {
	parts := strings.Split(channel, ":")
	return len(parts) == 3 && parts[0] == "dm" && (parts[1] == playerID || parts[2] == playerID) && parts[1] < parts[2]
}

type muteRequest struct {
	Player string `json:"player"`
}

// onMute handles chat.mute {"player"}: the muter's sessions stop receiving that
// player's lines (stored, so it lasts across sessions).
func (s *Server) onMute(ctx context.Context, sess *tab, data json.RawMessage) error {
	return s.setMute(ctx, sess, data, true)
}

// onUnmute handles chat.unmute {"player"}.
func (s *Server) onUnmute(ctx context.Context, sess *tab, data json.RawMessage) error {
	return s.setMute(ctx, sess, data, false)
}

func (s *Server) setMute(ctx context.Context, sess *tab, data json.RawMessage, mute bool) error {
	var req muteRequest
	if err := decodeData(data, &req); err != nil {
		return err
	}
	if req.Player == "" || req.Player == sess.playerID {
		return comet.Errorf(comet.EINVALID, "name another player to mute")
	}
	if _, err := s.store.PlayerByID(ctx, req.Player); err != nil {
		return err
	}
	var err error
	if mute {
		err = s.store.Mute(ctx, sess.playerID, req.Player)
	} else {
		err = s.store.Unmute(ctx, sess.playerID, req.Player)
	}
	if err != nil {
		return err
	}
	if err := s.applyMutes(ctx, sess.playerID); err != nil {
		return err
	}
	if cc, ok := s.cluster.(chatCluster); ok && s.cluster != nil {
		// Answered only once every node applied it: a line the muted
		// player says after the answer reaches none of the muter's tabs.
		b, _ := json.Marshal(clusterChatCall{Mutes: sess.playerID})
		ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
		defer cancel()
		if err := cc.ChatAll(ctx, b); err != nil {
			// Stored all the same; a node that did not apply it is dying
			// or fenced, and its sessions read it when they start again.
			s.log.Warn("mute change not applied on every node", "player", sess.playerID, "err", err)
		}
	}
	return nil
}

// applyMutes reads player's mute list from the store and gives it to the
// player's tabs on this node, each told with chat.muted.
func (s *Server) applyMutes(ctx context.Context, player string) error {
	ids, err := s.store.Mutes(ctx, player)
	if err != nil {
		return err
	}
	msg := comet.MustMessage("chat.muted", map[string][]string{"players": ids})
	for _, o := range s.tabsOf(player) {
		o.setMuted(ids)
		o.Send(msg)
	}
	return nil
}

// chatCluster is what a cluster node offers for chat across nodes
// (server/cluster chat.go): a call every other live node has applied when
// it returns.
type chatCluster interface {
	ServeChat(h func(ctx context.Context, data []byte) error) error
	ChatAll(ctx context.Context, data []byte) error
}

// clusterChatCall is a chat call between nodes: Mutes names a player whose
// mute list changed (each node reads it from the store, so two changes
// applied in either order leave the newest).
type clusterChatCall struct {
	Mutes string `json:"mutes,omitempty"`
}

// startClusterChat answers the other nodes' chat calls when the cluster
// offers them; on one node it does nothing.
func (s *Server) startClusterChat() {
	cc, ok := s.cluster.(chatCluster)
	if !ok || s.cluster == nil {
		return
	}
	if err := cc.ServeChat(s.onClusterChat); err != nil {
		s.log.Error("cluster chat calls not served: mute changes reach this node's sessions when they start", "err", err)
	}
}

// onClusterChat applies another node's chat call here.
func (s *Server) onClusterChat(ctx context.Context, data []byte) error {
	var c clusterChatCall
	if err := json.Unmarshal(data, &c); err != nil {
		return comet.Errorf(comet.EINVALID, "bad chat call: %v", err)
	}
	if c.Mutes != "" {
		return s.applyMutes(ctx, c.Mutes)
	}
	return nil
}

// loadMutes puts a new session on its player topic (direct messages) and
// reads its mute list from the store.
func (s *Server) loadMutes(ctx context.Context, sess *tab) {
	sess.Subscribe(playerTopic(sess.playerID))
	ids, err := s.store.Mutes(ctx, sess.playerID)
	if err != nil {
		s.log.Error("load mutes", "player", sess.playerID, "err", err)
		return
	}
	if len(ids) > 0 {
		sess.setMuted(ids)
		sess.Send(comet.MustMessage("chat.muted", map[string][]string{"players": slices.Clone(ids)}))
	}
}

// chatLimiter is the player's chat token bucket here, shared by all of the
// player's tabs so more tabs do not mean more lines.
// Once a minute it drops the full buckets (a full bucket is a new one): in
// a cluster this node keeps buckets of players with no tab here.
func (s *Server) chatLimiter(playerID string) *rate.Limiter {
	now := time.Now()
	if last := s.chatSwept.Load(); now.UnixNano()-last > int64(time.Minute) && s.chatSwept.CompareAndSwap(last, now.UnixNano()) {
		s.chatLimits.Range(func(k, v any) bool {
			if v.(*rate.Limiter).TokensAt(now) >= chatBurst {
				s.chatLimits.Delete(k)
			}
			return true
		})
	}
	l, _ := s.chatLimits.LoadOrStore(playerID, rate.NewLimiter(rate.Every(chatEvery), chatBurst))
	return l.(*rate.Limiter)
}
