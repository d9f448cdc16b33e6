package server

import (
	"context"
	"time"
)

// Chat limits hold for the whole cluster as on one node (docs/SECURITY.md):
// the bucket of a player or an address lives on one live node, its key's
// owner (server/cluster/limits.go), which every node asks for each line. A
// take the owner does not answer within limitTimeout falls back to this
// node's own bucket, so a dying owner neither stops chat nor lifts the
// limit.

// limitCluster is what a cluster node offers for limits kept cluster-wide.
type limitCluster interface {
	Owner(key string) string
	TakeLimit(ctx context.Context, node, kind, key string, peek bool) (bool, time.Duration, error)
	ServeLimits(f func(kind, key string, peek bool) (bool, time.Duration)) error
}

// Bucket kinds of takeLimit.
const (
	limitChatPlayer = "chat_player" // chatEvery, burst chatBurst, per player
	limitChatIP     = "chat_ip"     // --chat-per-ip-per-minute, per client address
)

// limitTimeout bounds a take asked of a key's owner.
const limitTimeout = 500 * time.Millisecond

// startClusterLimits answers the other nodes' takes from this node's
// buckets; on one node it does nothing.
func (s *Server) startClusterLimits() {
	lc, ok := s.cluster.(limitCluster)
	if s.cluster == nil || !ok {
		return
	}
	if err := lc.ServeLimits(s.localLimit); err != nil {
		s.log.Error("cluster limits not served: other nodes fall back to their own buckets", "err", err)
	}
}

// takeLimit takes one from bucket kind/key (peek: only says whether one
// could be taken): this node's, or in a cluster its owner's.
func (s *Server) takeLimit(ctx context.Context, kind, key string, peek bool) (bool, time.Duration) {
	if lc, ok := s.cluster.(limitCluster); s.cluster != nil && ok {
		if owner := lc.Owner(kind + ":" + key); owner != "" && owner != s.cluster.Name() {
			cctx, cancel := context.WithTimeout(ctx, limitTimeout)
			ok, retry, err := lc.TakeLimit(cctx, owner, kind, key, peek)
			cancel()
			if err == nil {
				return ok, retry
			}
			s.log.Debug("a limit's owner did not answer: this node's bucket decides", "owner", owner, "kind", kind, "err", err)
		}
	}
	return s.localLimit(kind, key, peek)
}

// localLimit takes one from this node's bucket kind/key.
func (s *Server) localLimit(kind, key string, peek bool) (bool, time.Duration) {
	switch kind {
	case limitChatIP:
		if peek {
			return s.guards.chatPerIP.check(key)
		}
		return s.guards.chatPerIP.take(key)
	case limitChatPlayer:
		l := s.chatLimiter(key)
		if peek {
			return l.Tokens() >= 1, 0
		}
		return l.Allow(), 0
	}
	return true, 0 // a kind this build does not know limits nothing
}
