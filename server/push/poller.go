package push

import "context"

// poller watches the hijacked sockets for the writer pool without a
// goroutine per stream: it reports a peer that hung up (the stream is closed)
// and a stalled socket that can take bytes again (the stream is queued).
type poller interface {
	// watch starts reporting st's hang-up; an error leaves st on blocking writes.
	watch(st *stream) error
	// armWrite asks for one report when st's socket has room; st.mu is held.
	armWrite(st *stream) error
	// rearm registers st again for what it waits for now (hang-up, room to
	// write while stalled, bytes to read for a WebSocket); st.mu is held.
	rearm(st *stream) error
	// run delivers reports until ctx ends.
	run(ctx context.Context)
}
