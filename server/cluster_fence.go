package server

import (
	"context"
	"time"

	"comet"
)

// A fenced node (server/cluster/fence.go) lost NATS or its lease: others
// may be taking its sessions over, so it serves nothing until it recovers.
// Its streams end with sys.restart (clients reconnect, through the load
// balancer to another node), /healthz answers 503 and client requests 503 +
// Retry-After (drainMiddleware). The sessions stay, detached, with their
// grace running: if the node recovers first they resume here losslessly.

// msgRestart tells a client to reconnect (and resume) in about a second.
var msgRestart = comet.MustMessage("sys.restart", map[string]int{"reconnect_ms": 1000})

// fenced reports whether this node is a fenced cluster node.
func (s *Server) fenced() bool { return s.cluster != nil && s.cluster.Fenced() }

// Fence ends every stream held here: a session this node is home of is
// told sys.restart first; a mirror's stream just ends (its seqs are its
// home's) and the mirror goes.
func (s *Server) Fence(why error) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	s.log.Warn("fenced: ending every stream", "why", why)
	s.dropMirrors(ctx)
	s.restartClients(ctx)
	for _, ps := range s.hub.Sessions() {
		ps.EndStream()
	}
}

// restartClients sends sys.restart to every session this node is home of
// (never to a mirror) and writes what is queued.
func (s *Server) restartClients(ctx context.Context) {
	for _, ps := range s.hub.Sessions() {
		if !tabOf(ps).mirror {
			ps.Send(msgRestart)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s.hub.Flush(fctx)
}

// Recover runs before a fenced node serves again: each session held here
// that the directory now gives another node (re-homed while this node was
// away) is dropped, so one sid never has two homes; a mirror left is ended.
func (s *Server) Recover(ctx context.Context) {
	s.history.forget() // lines said elsewhere while NATS was down went unseen here
	dropped := 0
	for _, ps := range s.hub.Sessions() {
		t := tabOf(ps)
		if t.mirror {
			ps.EndStream()
			s.hub.Remove(ctx, ps)
			continue
		}
		keep, err := s.cluster.Reconcile(ctx, ps.ID(), t.playerID)
		if err != nil {
			s.log.Warn("recover: directory check failed; session kept", "sid", ps.ID(), "err", err)
		}
		if !keep {
			s.hub.Remove(ctx, ps)
			dropped++
		}
	}
	s.log.Info("recovered from a fence", "sessions", s.hub.Len(), "dropped", dropped)
}
