package server

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// epoller is the Linux poller: one epoll set beside the runtime's own, with
// each stream's socket registered one-shot for hang-up (EPOLLRDHUP) and, while
// it is stalled, for room to write (EPOLLOUT). Events carry the stream's slot
// and generation, never a pointer, so a late event for a closed stream whose
// descriptor was reused is recognised and ignored.
type epoller struct {
	pool *writerPool
	ep   int // the epoll descriptor
	wake int // an eventfd that ends run
}

func newPoller(p *writerPool) (poller, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(ep)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(ep)
		_ = unix.Close(wake)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	return &epoller{pool: p, ep: ep, wake: wake}, nil
}

const (
	evHangup   = unix.EPOLLRDHUP | unix.EPOLLONESHOT // EPOLLHUP and EPOLLERR are always reported
	evWritable = evHangup | unix.EPOLLOUT
)

func (e *epoller) watch(st *stream) error { return e.ctl(st, unix.EPOLL_CTL_ADD, evHangup) }

func (e *epoller) armWrite(st *stream) error { return e.ctl(st, unix.EPOLL_CTL_MOD, evWritable) }

// ctl registers st's socket; the descriptor is only used inside Control, so
// it cannot be closed (and reused) underneath.
func (e *epoller) ctl(st *stream, op int, events uint32) error {
	var err error
	cerr := st.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: events, Fd: st.slot, Pad: int32(st.gen)}
		err = unix.EpollCtl(e.ep, op, int(fd), &ev)
	})
	if cerr != nil {
		return fmt.Errorf("epoll_ctl: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

func (e *epoller) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		one := [8]byte{1}
		_, _ = unix.Write(e.wake, one[:])
	})
	defer stop()
	defer unix.Close(e.wake)
	defer unix.Close(e.ep)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(e.ep, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			e.pool.hub.log.Error("epoll_wait failed; dead peers go unnoticed until a write fails", "err", err)
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd < 0 {
				return // woken to stop
			}
			st := e.pool.lookup(ev.Fd, uint32(ev.Pad))
			if st == nil {
				continue
			}
			e.event(st, ev.Events)
		}
	}
}

// event acts on one report: a hang-up closes the stream, room to write
// re-arms the hang-up watch and queues the stream.
func (e *epoller) event(st *stream, events uint32) {
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		st.close(errPeerGone)
		return
	}
	if events&unix.EPOLLOUT != 0 {
		st.mu.Lock()
		if !st.closed {
			if err := e.ctl(st, unix.EPOLL_CTL_MOD, evHangup); err != nil {
				e.pool.hub.log.Debug("re-arm hang-up watch", "err", err)
			}
		}
		st.mu.Unlock()
		e.pool.roomAgain(st)
	}
}

// rawWrite writes to a socket without blocking: what the kernel does not take
// at once is left to the caller. Its method value is made once per writer, so
// a write allocates nothing.
type rawWrite struct {
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func newRawWrite() rawWrite { return rawWrite{} }

func (w *rawWrite) do(fd uintptr) bool {
	for w.n < len(w.p) {
		m, err := syscall.Write(int(fd), w.p[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true // never wait: the poller reports room
		case err != nil:
			w.err = err
			return true
		case m <= 0:
			return true
		}
	}
	return true
}

// write sends what the socket takes now: n < len(p) with a nil error means
// the rest must wait for room.
func (w *rawWrite) write(rc syscall.RawConn, p []byte) (int, error) {
	if w.fn == nil {
		w.fn = w.do
	}
	w.p, w.n, w.err = p, 0, nil
	if err := rc.Write(w.fn); err != nil {
		return 0, err
	}
	n, err := w.n, w.err
	w.p, w.err = nil, nil
	return n, err
}
