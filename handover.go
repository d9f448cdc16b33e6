package comet

import "context"

// HandoverStore keeps the one hand-over a process leaves its successor on a
// graceful restart (server/handover.go): an opaque blob, saved once by the
// exiting process and taken once by the next.
type HandoverStore interface {
	// SaveHandover stores blob as the hand-over, replacing any older one.
	// EINVALID for an empty blob.
	SaveHandover(ctx context.Context, blob []byte) error
	// TakeHandover returns the stored hand-over and deletes it in the same
	// step, so two processes never both take it; ENOTFOUND when there is none.
	TakeHandover(ctx context.Context) ([]byte, error)
}
