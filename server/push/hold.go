package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Hold is a downstream handed to the core after its request was read: a
// hijacked connection on which nothing has been written yet.
type Hold struct {
	Conn      net.Conn
	Session   *Session
	Transport Transport
	// Header carries the application's headers (security headers); the
	// transport's own and the streaming ones are added to it.
	Header  http.Header
	Chunked bool   // an HTTP/1.1 peer: the body is chunked
	Last    uint64 // the client's resume cursor
	Release func() // called once when the stream ends (a per-address slot)
}

// ErrSessionEnded is returned when a downstream attaches to a session that
// ended while its request was being read.
var ErrSessionEnded = errors.New("session ended")

// Hold writes the response head and prelude itself and hands the connection
// to the writer pool: the caller's goroutine returns at once, so an idle
// stream costs no goroutine and no net/http buffers. The connection is
// closed (and Release called) on every error.
func (h *Hub) Hold(o Hold) error {
	st, err := h.open(o)
	if err != nil {
		return err
	}
	return h.attachStream(st, o.Last)
}

// open writes the response head and prelude of o and registers the stream
// with the writer pool, unattached; the connection is closed (and Release
// called) on every error.
func (h *Hub) open(o Hold) (*stream, error) {
	if h.Draining() {
		if o.Conn != nil {
			_ = o.Conn.Close()
		}
		if o.Release != nil {
			o.Release()
		}
		return nil, ErrDraining
	}
	hd := o.Header
	if hd == nil {
		hd = http.Header{}
	}
	o.Transport.header(hd)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Connection", "close")
	if o.Chunked {
		hd.Set("Transfer-Encoding", "chunked")
	}
	_ = o.Conn.SetDeadline(time.Time{})
	st := &stream{hub: h, sess: o.Session, t: o.Transport, conn: o.Conn, chunked: o.Chunked,
		started: time.Now().UnixNano(), release: o.Release}
	head := responseHead(hd)
	// An empty batch right after the prelude lets a client see, within its
	// open deadline, that bytes really flow (and not into a buffering proxy).
	pre := o.Transport.appendBatch(o.Transport.appendPrelude(nil), nil)
	if o.Chunked {
		head = strconv.AppendInt(head, int64(len(pre)), 16)
		head = append(head, "\r\n"...)
		head = append(append(head, pre...), "\r\n"...)
	} else {
		head = append(head, pre...)
	}
	_ = o.Conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if _, err := o.Conn.Write(head); err != nil {
		_ = o.Conn.Close()
		if o.Release != nil {
			o.Release()
		}
		return nil, fmt.Errorf("write stream head: %w", err)
	}
	// From here on writes never block (the pool leaves what the socket does
	// not take pending), so the head's deadline must not linger.
	_ = o.Conn.SetWriteDeadline(time.Time{})
	st.lastWrite.Store(time.Now().UnixNano())

	h.writers.register(st)
	return st, nil
}

// attachStream makes a registered stream its session's downstream, resuming
// after last, and starts it. The cursor is set under the stream's lock in
// the same step as attaching: a Send from another goroutine can wake the
// stream the moment it is attached, and its flush must not see the zero
// cursor and resend from 1.
func (h *Hub) attachStream(st *stream, last uint64) error {
	st.mu.Lock()
	cursor, reset, old, ok := st.sess.attach(st, last)
	st.cursor = cursor
	st.mu.Unlock()
	if old != nil {
		old.stop()
	}
	if !ok { // ended (or the hub began draining) between the request and now
		st.close(nil)
		if h.Draining() {
			return ErrDraining
		}
		return ErrSessionEnded
	}
	if reset {
		h.requestFresh(st.sess, FreshReset)
	}
	st.wake()
	return nil
}

// responseHead renders the status line and headers for a hijacked response.
func responseHead(h http.Header) []byte {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	b.WriteString("Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	return []byte(b.String())
}

// pollReceiver is the downstream of one poll request: wake signals the
// waiting handler; stop ends its wait when a newer downstream attaches.
type pollReceiver struct {
	wakeC chan struct{}
	stopC chan struct{}
	once  chan struct{}
}

func newPollReceiver() *pollReceiver {
	return &pollReceiver{wakeC: make(chan struct{}, 1), stopC: make(chan struct{}), once: make(chan struct{}, 1)}
}

func (p *pollReceiver) wake() {
	select {
	case p.wakeC <- struct{}{}:
	default:
	}
}

func (p *pollReceiver) stop() {
	select {
	case p.once <- struct{}{}:
		close(p.stopC)
	default:
	}
}

// MaxPollWait caps how long a long-poll is held.
const MaxPollWait = 30 * time.Second

// Poll answers one batch of the events after last as a JSON array, holding
// up to wait (0: plain polling) until there is at least one, ctx ends, or a
// newer downstream replaces this one. It fails only for an ended session.
func (h *Hub) Poll(ctx context.Context, s *Session, last uint64, wait time.Duration) ([]byte, error) {
	if h.Draining() {
		return nil, ErrDraining
	}
	name := "poll"
	if wait > 0 {
		name = "longpoll"
	}
	pr := newPollReceiver()
	cursor, reset, old, ok := s.attach(pr, last)
	if !ok {
		if h.Draining() {
			return nil, ErrDraining
		}
		return nil, ErrSessionEnded
	}
	if old != nil {
		old.stop()
	}
	defer s.detach(pr)
	if reset {
		h.requestFresh(s, FreshReset)
	}
	gauge := h.metrics.streams.WithLabelValues(name)
	gauge.Inc()
	defer gauge.Dec()

	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(min(wait, MaxPollWait))
		defer t.Stop()
		timer = t.C
	}
	var evs []event
	for {
		evs, cursor, reset, _ = s.collect(pr, evs[:0], cursor, 0, batchBytes)
		if reset {
			h.requestFresh(s, FreshReset)
		}
		if len(evs) > 0 || wait == 0 {
			break
		}
		if !waitPoll(ctx, pr, timer) {
			break
		}
	}
	h.metrics.delivered.Add(float64(len(evs)))
	return appendJSONBatch(nil, evs), nil
}

// waitPoll waits for new events; false means answer now (timeout, replaced, gone).
func waitPoll(ctx context.Context, pr *pollReceiver, timer <-chan time.Time) bool {
	select {
	case <-pr.wakeC:
		return true
	case <-pr.stopC:
		return false
	case <-timer:
		return false
	case <-ctx.Done():
		return false
	}
}
