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
		ip := Host(c.RemoteAddr())
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

// Throttle slows down repeated failed logins from one address and against
// one account name, whether or not the account exists. Each failure
// doubles the delay before the next attempt is answered, from base up to
// max; a key is forgotten after 15 minutes without failures.
type Throttle struct {
	mu     sync.Mutex
	fails  map[string]*failRecord
	base   time.Duration
	max    time.Duration
	forget time.Duration
	now    func() time.Time
}

type failRecord struct {
	count int
	last  time.Time
}

// NewThrottle returns a throttle; now nil means time.Now.
func NewThrottle(base, max time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{fails: map[string]*failRecord{}, base: base, max: max, forget: 15 * time.Minute, now: now}
}

// Delay is how long to wait before answering an attempt for these keys.
func (t *Throttle) Delay(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var worst int
	for _, k := range keys {
		if r := t.fails[k]; r != nil {
			if t.now().Sub(r.last) > t.forget {
				delete(t.fails, k)
				continue
			}
			worst = max(worst, r.count)
		}
	}
	if worst == 0 {
		return 0
	}
	return min(t.base<<min(worst-1, 20), t.max)
}

// Fail records a failed attempt for these keys.
func (t *Throttle) Fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.fails) > 100000 { // bound memory under a spray of names
		for k, r := range t.fails {
			if t.now().Sub(r.last) > t.forget {
				delete(t.fails, k)
			}
		}
	}
	for _, k := range keys {
		r := t.fails[k]
		if r == nil {
			r = &failRecord{}
			t.fails[k] = r
		}
		r.count++
		r.last = t.now()
	}
}

// Succeed clears these keys.
func (t *Throttle) Succeed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.fails, k)
	}
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
