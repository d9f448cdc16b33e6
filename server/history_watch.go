package server

import (
	"context"
	"strings"
	"sync"

	"comet"
)

// Chat history on a bus shared with other nodes (natsbus). A tab must end
// up with every line of a channel once, in its history or live, and two
// things could lose a line said on another node:
//
//   - The tab subscribes before its history is read, but the line reaches
//     this node only once the NATS server has this node's subscription,
//     which nats.go sends without waiting. So the history is read only
//     after the bus says the subscription is in effect (Subscribed): a line
//     saved after the read is published after it and comes live; one saved
//     before is in the history.
//   - The history cache is dropped by a line said on this node (onSay), not
//     by one said elsewhere: a tab joining here would be sent a history
//     without that line after it went by live. So each cached channel has a
//     watch, a sink on its topic that drops the cache at every line from
//     any node, subscribed and in effect before the query it caches begins.
//     Direct channels travel on player topics and are not cached.

// sharedBus is a bus that carries topics between nodes (natsbus).
type sharedBus interface {
	// Subscribed returns once this node's subscription to topic is in
	// effect on the server; an error if it is not.
	Subscribed(ctx context.Context, topic string) error
}

// historyWatches holds the watch of each channel whose history is cached
// on a shared bus. Its mutex is held across Subscribe and Close, so it is
// never taken under a bus lock or historyCache.mu (a watch's Send takes
// historyCache.mu under the bus's topic lock).
type historyWatches struct {
	mu   sync.Mutex
	subs map[string]comet.Subscription
}

// historyWatch drops its channel's cached history at every message on the
// channel's topic.
type historyWatch struct {
	cache   *historyCache
	channel string
}

func (w *historyWatch) Send(*comet.Message) { w.cache.invalidate(w.channel) }

// historyReady prepares a read of channel's history for sess on a shared
// bus and reports whether the history may come from, or go to, the cache;
// on one node's bus it is always true. It waits until this node's
// subscription to the topic that brings sess the channel's lines live is in
// effect; if it cannot tell, the history is still read, uncached, and a
// line said elsewhere meanwhile may be missed (as on a lost connection).
func (s *Server) historyReady(ctx context.Context, sess *tab, channel string) (cacheable bool) {
	sb, ok := s.bus.(sharedBus)
	if !ok {
		return true
	}
	topic, dm := comet.ChatTopic(channel), strings.HasPrefix(channel, "dm:")
	if dm {
		topic = playerTopic(sess.playerID) // direct lines come on the player's topic
	} else {
		s.watchHistory(channel)
	}
	if err := sb.Subscribed(ctx, topic); err != nil {
		s.log.Warn("chat history read before this node's subscription is in effect: a line said on another node meanwhile may be missed",
			"channel", channel, "err", err)
		return false
	}
	return !dm
}

// watchHistory makes sure channel has a watch, first closing the watches
// nothing else on this node listens beside (a room's channel after the
// room closed), so each keeps no NATS subscription alive for long.
func (s *Server) watchHistory(channel string) {
	w := &s.watches
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subs[channel] != nil {
		return
	}
	for ch, sub := range w.subs {
		if s.bus.Subscribers(sub.Topic()) <= 1 {
			sub.Close()
			delete(w.subs, ch)
			// Lines said elsewhere from now on go unseen here: no history
			// cached so far, or by a query under way, may be served.
			s.history.invalidate(ch)
		}
	}
	if w.subs == nil {
		w.subs = make(map[string]comet.Subscription)
	}
	w.subs[channel] = s.bus.Subscribe(comet.ChatTopic(channel), &historyWatch{cache: &s.history, channel: channel})
}
