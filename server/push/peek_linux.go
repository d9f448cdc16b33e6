package push

import (
	"net"
	"syscall"
)

// peerGone reports whether the peer of c has closed its side, without a
// reader goroutine: a non-blocking MSG_PEEK that returns 0 bytes means EOF.
// Bytes waiting (a pipelined request) or EAGAIN mean the peer is still there.
func peerGone(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = n == 0 && err == nil || err == syscall.ECONNRESET
		return true // never wait for readability
	})
	return gone || err != nil
}
