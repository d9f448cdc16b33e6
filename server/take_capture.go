package server

import (
	"context"

	"comet/server/push"
)

// takeCapture closes a take's window. A session taken from its drained
// home (a drain, a room's move, a pulled WebSocket) is ended there before it
// is subscribed here; a bus line published in between would reach neither
// node. Once this node owns the session's entry, and before the home ends
// it, before opens a capture of the session's topics on this node (in
// effect on the NATS server before it returns); restore hands the capture
// to the restored session, which numbers what it held that the blob does
// not. Use one per take; close releases a capture restore never got.
type takeCapture struct {
	s *Server
	c *push.Capture
}

// before is the take's hook: cluster.Node.TakeDrained runs it once this
// node owns the session's entry, before the drained home ends the session.
func (tc *takeCapture) before(ctx context.Context, topics []string, seq uint64) {
	tc.c = tc.s.hub.Capture(topics, seq)
	sb, ok := tc.s.bus.(sharedBus)
	if !ok {
		return
	}
	for _, t := range topics {
		if err := sb.Subscribed(ctx, t); err != nil {
			tc.s.log.Warn("take: capture of a topic not in effect; a line published during the take may be missed", "topic", t, "err", err)
		}
	}
}

// restore registers the taken session with what the capture held.
func (tc *takeCapture) restore(sv push.SavedSession, t *tab) (*push.Session, error) {
	c := tc.c
	tc.c = nil
	ps, over, err := tc.s.hub.RestoreCaptured(sv, t, c)
	if over {
		tc.s.log.Warn("take: more lines came during the take than its capture keeps; some may be missing", "sid", sv.ID)
	}
	return ps, err
}

// close releases a capture restore did not take (the take failed).
func (tc *takeCapture) close() {
	if tc.c != nil {
		tc.c.Close()
		tc.c = nil
	}
}
