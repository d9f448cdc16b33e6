//go:build !linux

package server

import (
	"errors"
	"syscall"
)

// newPoller has no implementation here: streams write under a deadline and
// dead peers are found by failed heartbeat writes.
func newPoller(*writerPool) (poller, error) {
	return nil, errors.New("no socket poller on this platform")
}

// rawWrite is unused without a poller.
type rawWrite struct{}

func newRawWrite() rawWrite { return rawWrite{} }

func (*rawWrite) write(syscall.RawConn, []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
