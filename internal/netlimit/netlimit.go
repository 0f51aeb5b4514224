// Package netlimit bounds what one network client may take: concurrent
// connections per address and in all, and the pace of failed logins. The
// IMAP and SMTP servers share it, so that both faces of the server resist
// the same abuse the same way.
package netlimit

import (
	"context"
	"net"
	"sync"
	"time"
)

// Conns counts connections in all and per client address.
type Conns struct {
	mu    sync.Mutex
	total int
	perIP map[string]int
	max   int // 0: no limit
	maxIP int // 0: no limit
}

// NewConns returns a counter with these limits (0: none).
func NewConns(max, maxPerIP int) *Conns {
	return &Conns{perIP: map[string]int{}, max: max, maxIP: maxPerIP}
}

// Acquire takes a slot for ip, or reports that none is free.
func (l *Conns) Acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.max > 0 && l.total >= l.max) || (l.maxIP > 0 && l.perIP[ip] >= l.maxIP) {
		return false
	}
	l.total++
	l.perIP[ip]++
	return true
}

// SetLimits changes the limits (0: none). Connections over a lowered
// limit stay open; new ones are refused until enough have closed.
func (l *Conns) SetLimits(max, maxPerIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.max, l.maxIP = max, maxPerIP
}

// Release gives back a slot taken for ip.
func (l *Conns) Release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// Host returns the IP address of a network address, as text.
func Host(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// Listener turns away connections over the limits: refuse is called, on
// its own goroutine, with each refused connection (to say why and close
// it), and wrap with each accepted one and the func that releases its
// slot.
type Listener struct {
	net.Listener
	Conns  *Conns
	Refuse func(net.Conn)
	Wrap   func(c net.Conn, release func()) net.Conn
}

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := Client(c.RemoteAddr())
		if !l.Conns.Acquire(ip) {
			go l.Refuse(c)
			continue
		}
		var once sync.Once
		release := func() { once.Do(func() { l.Conns.Release(ip) }) }
		if l.Wrap != nil {
			return l.Wrap(c, release), nil
		}
		return &releasingConn{Conn: c, release: release}, nil
	}
}

type releasingConn struct {
	net.Conn
	release func()
}

func (c *releasingConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
