package hangup

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"
	"time"
)

const (
	hangupCheckAfter = 50 * time.Millisecond
	hangupPoll       = 200 * time.Millisecond
)

// Watch calls gone once if the peer of c closes the connection
// before the returned stop func is called. Connections whose socket cannot
// be reached (not TCP, or a platform without peerGone) are not watched.
func Watch(c net.Conn, gone func()) (stop func()) {
	rc := rawSocket(c)
	if rc == nil {
		return func() {}
	}
	var mu sync.Mutex
	stopped := false
	t := time.AfterFunc(hangupCheckAfter, func() {
		for {
			mu.Lock()
			s := stopped
			mu.Unlock()
			if s {
				return
			}
			closed, err := peerGone(rc, hangupPoll)
			if err != nil {
				return
			}
			if closed {
				gone()
				return
			}
		}
	})
	return func() {
		t.Stop()
		mu.Lock()
		stopped = true
		mu.Unlock()
	}
}

// rawSocket returns the socket under c (through TLS), or nil.
func rawSocket(c net.Conn) syscall.RawConn {
	for range 4 {
		switch v := c.(type) {
		case *tls.Conn:
			c = v.NetConn()
		case syscall.Conn:
			rc, err := v.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		default:
			return nil
		}
	}
	return nil
}
