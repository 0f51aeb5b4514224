package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mailroom/acl"
	"mailroom/internal/netlimit"
	"mailroom/sieve"
	"mailroom/store"
)

// Options configures a Server.
type Options struct {
	Store     *store.Store
	Directory *acl.Live
	Logger    *slog.Logger
	TLSConfig *tls.Config // nil: no STARTTLS
	// Limits compile uploaded scripts; nil means sieve.DefaultLimits.
	Limits *sieve.Limits
	// Timeout ends a connection idle this long; 0 means 10 minutes.
	Timeout time.Duration
	// MaxConnections and MaxConnectionsPerIP bound concurrent
	// connections; 0 means no limit.
	MaxConnections, MaxConnectionsPerIP int
	// AuthDelay is the delay after a failed login, doubling up to
	// AuthDelayMax (defaults 1 s and 30 s), as for IMAP.
	AuthDelay, AuthDelayMax time.Duration
	// Sleep waits for a login delay; nil waits for real.
	Sleep func(ctx context.Context, d time.Duration)
}

// ListenerOptions qualify one listener.
type ListenerOptions struct {
	// InsecureAuth allows AUTHENTICATE before STARTTLS.
	InsecureAuth bool
}

// Server serves ManageSieve.
type Server struct {
	opts     Options
	log      *slog.Logger
	conns    *netlimit.Conns
	throttle *netlimit.Throttle
	next     atomic.Uint64

	mu        sync.Mutex
	listeners []net.Listener
	open      map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New returns a server; Serve starts listeners.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Limits == nil {
		o.Limits = &sieve.DefaultLimits
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.AuthDelay <= 0 {
		o.AuthDelay = time.Second
	}
	if o.AuthDelayMax <= 0 {
		o.AuthDelayMax = 30 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) {
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
	}
	return &Server{
		opts: o, log: o.Logger.With("component", "managesieve"),
		conns:    netlimit.NewConns(o.MaxConnections, o.MaxConnectionsPerIP),
		throttle: netlimit.NewThrottle(o.AuthDelay, o.AuthDelayMax, nil),
		open:     map[net.Conn]struct{}{},
	}
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener, lopts ListenerOptions) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		ip := netlimit.Host(c.RemoteAddr())
		if !s.conns.Acquire(ip) {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("BYE (TRYLATER) \"Too many connections\"\r\n"))
			c.Close()
			continue
		}
		if !s.track(c) {
			s.conns.Release(ip)
			c.Close()
			return net.ErrClosed
		}
		s.wg.Go(func() {
			defer s.conns.Release(ip)
			defer s.untrack(c)
			s.serveConn(c, lopts)
		})
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	c.Close()
}

// Close stops the listeners, closes every connection and waits for the
// sessions to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) serveConn(c net.Conn, lopts ListenerOptions) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := s.next.Add(1)
	sess := &session{
		srv: s, conn: c, lopts: lopts, ctx: ctx,
		log: s.log.With("conn", id, "remote", c.RemoteAddr().String()),
	}
	sess.setConn(c)
	sess.log.Debug("connected")
	if err := sess.run(); err != nil && !errors.Is(err, net.ErrClosed) {
		sess.log.Debug("connection ended", "err", err)
	}
}

func (sess *session) setConn(c net.Conn) {
	sess.conn = c
	sess.dec = &decoder{r: bufio.NewReaderSize(c, 4096), maxLiteral: maxPreAuthLiteral}
	sess.enc = &encoder{w: bufio.NewWriter(c)}
	if sess.account != "" {
		sess.dec.maxLiteral = maxScriptLiteral
	}
}
