//go:build !linux

package push

import (
	"errors"
	"net"
)

// newPoller has no implementation here: streams keep their net.Conn, write
// under a deadline, and dead peers are found by failed heartbeat writes.
func newPoller(*writerPool) (poller, error) {
	return nil, errors.New("no socket poller on this platform")
}

func detachFD(net.Conn) (int, error) { return -1, errors.ErrUnsupported }

func writeFD(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

func closeFD(int) {}
