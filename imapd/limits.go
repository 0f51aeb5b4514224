package imapd

import (
	"net"
	"strings"
	"sync"
	"time"

	"mailroom/internal/netlimit"
)

// listener wraps accepted connections in extConn and turns away those
// over the connection limits with a BYE.
func (s *Server) listener(ln net.Listener, lopts ListenerOptions) net.Listener {
	return &netlimit.Listener{
		Listener: ln,
		Conns:    s.conns,
		Refuse: func(c net.Conn) {
			s.log.Warn("connection refused: too many connections", "remote", c.RemoteAddr().String())
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("* BYE [UNAVAILABLE] Too many connections, try again later\r\n"))
			c.Close()
		},
		Wrap: func(c net.Conn, release func()) net.Conn { return newExtConn(c, s, lopts, release) },
	}
}

// reloadable holds the limits SetOptions changes on a running server.
type reloadable struct {
	loginTimeout, idleTimeout time.Duration
	maxMailboxes, maxSessions int
}

// SetOptions applies the limits of o to the running server: the
// connection caps, MaxSessionsPerAccount, MaxMailboxes and the login and
// idle timeouts (from a connection's next read on). Connections and
// sessions over a lowered cap stay; new ones are refused until enough
// have gone. The other fields of o are ignored: AppendLimit because SMTP
// cannot change its size limit while serving, and one limit must hold
// everywhere.
func (s *Server) SetOptions(o Options) {
	if s.eng != nil {
		s.eng.SetOptions(engineOptions(o))
	}
	s.conns.SetLimits(o.MaxConnections, o.MaxConnectionsPerIP)
	s.limits.Store(&reloadable{
		loginTimeout: o.LoginTimeout, idleTimeout: o.IdleTimeout,
		maxMailboxes: o.MaxMailboxes, maxSessions: o.MaxSessionsPerAccount,
	})
}

// sessionCounter bounds concurrent sessions per account.
type sessionCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *sessionCounter) acquire(account string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := strings.ToLower(account)
	if max > 0 && c.n[k] >= max {
		return false
	}
	c.n[k]++
	return true
}

func (c *sessionCounter) release(account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := strings.ToLower(account)
	if c.n[k]--; c.n[k] <= 0 {
		delete(c.n, k)
	}
}
