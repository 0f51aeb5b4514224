//go:build !linux

package hangup

import (
	"errors"
	"syscall"
	"time"
)

// peerGone is not implemented here: commands then run to their end after
// the client has gone.
func peerGone(syscall.RawConn, time.Duration) (bool, error) {
	return false, errors.New("hangup detection not supported on this platform")
}
