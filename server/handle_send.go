package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/server/push"
)

// eventTimeout bounds one POST's events once taken (database waits included).
const eventTimeout = 30 * time.Second

// eventHandler handles one client event type for a session. An error (a
// *comet.Error, or any other error, logged as internal) is answered with a
// sys.error on the session's stream.
type eventHandler func(ctx context.Context, s *tab, data json.RawMessage) error

// handleSend takes a batch of client events. Each new client seq runs once,
// in any order within push.UpstreamWindow; resent ones are ignored, so a
// retried POST is safe; one fallen below the window is refused on the stream.
func (s *Server) handleSend(c echo.Context) error {
	sess, err := s.authSession(c)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxSendBytes+1))
	if err != nil {
		return fmt.Errorf("send: %w", err) // a bodyError: 400 invalid, the client's fault
	}
	if len(body) > maxSendBytes {
		return comet.Errorf(comet.ETOOLARGE, "body over %d bytes", maxSendBytes)
	}
	evs, err := decodeUpstream(body)
	if err != nil {
		return err
	}
	// An event whose seq is taken must run to the end even if the client
	// gives up on this POST: its resend would be ignored as a duplicate, so
	// cancelling it half way (a claim's bcrypt and write) would lose it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), eventTimeout)
	defer cancel()
	s.takeEvents(ctx, sess, evs)
	return c.NoContent(http.StatusNoContent)
}

// takeEvents runs a decoded batch of client events in order, from a POST or
// a WebSocket message: each new seq once (a resent one is ignored), each
// charged to its cost budget, each refusal a sys.error on the stream.
func (s *Server) takeEvents(ctx context.Context, sess *tab, evs []clientEvent) {
	for _, ev := range evs {
		switch sess.TakeUpstreamSeq(ev.Seq) {
		case push.UpstreamDuplicate:
			s.metrics.upstream.WithLabelValues("duplicate").Inc()
			continue
		case push.UpstreamTooOld:
			// Two POSTs in flight, or a retry queue, let a seq fall behind:
			// say so rather than drop it (whether it ran is not known).
			s.metrics.upstream.WithLabelValues("error").Inc()
			sess.SendError(ev.Seq, comet.Errorf(comet.EINVALID,
				"seq %d is more than %d below the highest seq taken: it may have run; send one POST at a time", ev.Seq, push.UpstreamWindow))
			continue
		}
		err := s.chargeEvent(sess, ev.Type)
		if err == nil {
			err = s.dispatch(ctx, sess, ev)
		}
		if err != nil {
			s.metrics.upstream.WithLabelValues("error").Inc()
			if comet.ErrorCode(err) == comet.EINTERNAL {
				s.log.Error("event failed", "type", ev.Type, "sid", sess.ID(), "err", err)
			}
			sess.SendError(ev.Seq, err)
			continue
		}
		s.metrics.upstream.WithLabelValues("ok").Inc()
	}
}

func (s *Server) dispatch(ctx context.Context, sess *tab, ev clientEvent) (err error) {
	h, ok := s.handlers[ev.Type]
	if !ok {
		return comet.Errorf(comet.EUNKNOWN, "unknown event type %q", ev.Type)
	}
	defer func() { // one bad handler must not take the session (or server) down
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()} // logged once, with its stack, by takeEvents
		}
	}()
	return h(withEventSeq(ctx, ev.Seq), sess, ev.Data)
}

type seqCtxKey struct{}

// withEventSeq records the client seq of the event a handler runs, which
// keys what must happen once per event even when the seq is taken again (a
// session re-homed after its home died forgets the seqs it took).
func withEventSeq(ctx context.Context, seq uint64) context.Context {
	return context.WithValue(ctx, seqCtxKey{}, seq)
}

// eventSeqOf returns the client seq withEventSeq recorded (0 if none).
func eventSeqOf(ctx context.Context) uint64 {
	seq, _ := ctx.Value(seqCtxKey{}).(uint64)
	return seq
}

// decodeData unmarshals an event's data into v strictly: unknown fields and
// wrong types are refused with a message naming the field.
func decodeData(data json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return comet.Errorf(comet.EINVALID, "bad data: %s", jsonErr(err))
	}
	return nil
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
