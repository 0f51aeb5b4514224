package imapd

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// connLimiter counts connections in all and per client address.
type connLimiter struct {
	mu    sync.Mutex
	total int
	perIP map[string]int
	max   int // 0: no limit
	maxIP int // 0: no limit
}

func (l *connLimiter) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.max > 0 && l.total >= l.max) || (l.maxIP > 0 && l.perIP[ip] >= l.maxIP) {
		return false
	}
	l.total++
	l.perIP[ip]++
	return true
}

func (l *connLimiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// limitListener wraps accepted connections in extConn, turning away those
// over the connection limits with a BYE.
type limitListener struct {
	net.Listener
	srv   *Server
	lopts ListenerOptions
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(conn.RemoteAddr())
		if !l.srv.conns.acquire(ip) {
			l.srv.log.Warn("connection refused: too many connections", "remote", conn.RemoteAddr().String())
			// Written off the accept loop: a TLS handshake may be slow.
			go func() {
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				conn.Write([]byte("* BYE [UNAVAILABLE] Too many connections, try again later\r\n"))
				conn.Close()
			}()
			continue
		}
		var once sync.Once
		return newExtConn(conn, l.srv, l.lopts, func() { once.Do(func() { l.srv.conns.release(ip) }) }), nil
	}
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

// authThrottle slows down repeated failed logins from one address and
// against one account name, whether or not the account exists. Each
// failure doubles the delay before the next attempt is answered, from
// base up to max; a key is forgotten after forget without failures.
type authThrottle struct {
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

func newAuthThrottle(base, max time.Duration, now func() time.Time) *authThrottle {
	return &authThrottle{fails: map[string]*failRecord{}, base: base, max: max, forget: 15 * time.Minute, now: now}
}

// delay is how long to wait before answering an attempt for these keys.
func (t *authThrottle) delay(keys ...string) time.Duration {
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
	d := t.base << min(worst-1, 20)
	return min(d, t.max)
}

func (t *authThrottle) fail(keys ...string) {
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

func (t *authThrottle) succeed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.fails, k)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
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
