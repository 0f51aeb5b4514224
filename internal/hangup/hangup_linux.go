package hangup

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// peerGone waits up to timeout for the peer to close the socket: POLLRDHUP
// reports its FIN even when unread input is waiting, and nothing is read.
func peerGone(rc syscall.RawConn, timeout time.Duration) (bool, error) {
	var gone bool
	var perr error
	err := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(fds, int(timeout/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			return
		}
		if err != nil {
			perr = err
			return
		}
		gone = n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
	})
	if err != nil {
		return false, err
	}
	return gone, perr
}
