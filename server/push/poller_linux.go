package push

import (
	"context"
	"errors"
	"fmt"
	"net"
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

func (e *epoller) watch(st *stream) error { return e.ctl(st, unix.EPOLL_CTL_ADD, e.mask(st)) }

func (e *epoller) armWrite(st *stream) error {
	return e.ctl(st, unix.EPOLL_CTL_MOD, e.mask(st)|evWritable)
}

func (e *epoller) rearm(st *stream) error { return e.ctl(st, unix.EPOLL_CTL_MOD, e.mask(st)) }

// mask is what st waits for now: a hang-up always, room to write while
// stalled, and bytes to read for a WebSocket no worker is reading or about
// to read (that read re-arms it). The caller holds st.mu.
func (e *epoller) mask(st *stream) uint32 {
	m := uint32(evHangup)
	if st.awaitOut {
		m |= unix.EPOLLOUT
	}
	if st.wsOf() != nil && !st.reading && !st.readQueued {
		m |= unix.EPOLLIN
	}
	return m
}

// ctl registers st's socket. The stream owns the descriptor and closes it
// only when no writer is on it, and closing drops it from the epoll set.
func (e *epoller) ctl(st *stream, op int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: st.slot, Pad: int32(st.gen)}
	if err := unix.EpollCtl(e.ep, op, int(st.fd), &ev); err != nil {
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
// A WebSocket with bytes to read is read first even when the peer also
// hung up: its last messages (and a close frame) still count, and
// the read finds the end.
func (e *epoller) event(st *stream, events uint32) {
	ws := st.wsOf() != nil
	in := events&unix.EPOLLIN != 0 && ws
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !in {
		st.mu.Lock()
		reading := ws && (st.reading || st.readQueued)
		st.mu.Unlock()
		if !reading { // else the read under way finds the end after the last bytes
			st.close(errPeerGone)
		}
		return
	}
	out := events&unix.EPOLLOUT != 0
	st.mu.Lock()
	if in {
		st.readQueued = true
	}
	if out {
		st.awaitOut = false
	}
	if !st.closed {
		if err := e.rearm(st); err != nil {
			e.pool.hub.log.Debug("re-arm poller watch", "err", err)
		}
	}
	st.mu.Unlock()
	if in {
		e.pool.hub.tasks.read(st)
	}
	if out {
		e.pool.schedule(st, markNone)
	}
}

// detachFD takes the socket out of the net package: it duplicates the
// descriptor and closes the net.Conn, which frees the runtime's poll
// descriptor, the netFD and both addresses (about 500 bytes a stream). The
// stream then owns the descriptor, which stays non-blocking.
//
// Only the net package's own socket types qualify: a wrapper that merely
// embeds one (a TLS layer, a byte counter) would be bypassed by raw writes.
func detachFD(conn net.Conn) (int, error) {
	var sc syscall.Conn
	switch c := conn.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return -1, fmt.Errorf("detach socket: %T is not a plain socket", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("detach socket: dup: %w", derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	_ = conn.Close() // the duplicate keeps the connection open
	return fd, nil
}

// writeFD writes what the socket takes now without blocking: n < len(p)
// with a nil error means the rest must wait for room to write.
func writeFD(fd int, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(fd, p[n:])
		if m > 0 {
			n += m
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return n, nil
		case err != nil:
			return n, err
		case m <= 0:
			return n, nil
		}
	}
	return n, nil
}

func closeFD(fd int) { _ = unix.Close(fd) }
