package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/inbound"
	"mailroom/internal/liblog"
	"mailroom/internal/netlimit"
	"mailroom/internal/trace"
	"mailroom/store"
)

// Mode says what a listener is for.
type Mode int

const (
	// ModeMX accepts mail for local recipients from anyone.
	ModeMX Mode = iota
	// ModeSubmission requires AUTH and enforces send-as.
	ModeSubmission
	// ModeLMTP accepts mail for local recipients with per-recipient
	// replies, from a trusted MTA in front.
	ModeLMTP
)

func (m Mode) String() string {
	return [...]string{"mx", "submission", "lmtp"}[m]
}

// Queue takes mail for remote recipients. Enqueue must make the message
// durable before it returns.
type Queue interface {
	// Enqueue queues head followed by msg: head is header fields the
	// server put in front of the received message, kept apart so that
	// neither is copied to join them. msg is only valid during the call:
	// its buffer is reused for the next message (see getBuf).
	Enqueue(ctx context.Context, from string, rcpts []string, head, msg []byte) error
}

// Options configures the SMTP server.
type Options struct {
	Store     *store.Store
	Directory *acl.Live
	Logger    *slog.Logger
	Hostname  string
	// Domains are the local domains, lower-case.
	Domains   []string
	TLSConfig *tls.Config
	// MaxMessageBytes bounds a message, inclusive: DATA, BDAT and a
	// declared SIZE; MaxRecipients bounds RCPT TO.
	MaxMessageBytes int64
	MaxRecipients   int
	// Timeout bounds each read and write.
	Timeout time.Duration
	// Queue takes submitted mail for remote recipients; nil refuses it.
	Queue Queue
	// Audit, if set, hears of mail a user sends as another account (the
	// audit log); it must not block.
	Audit func(store.AuditRecord)
	// Sieve configures filtering at local delivery (sieve.go).
	Sieve SieveOptions
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxConnections and MaxConnectionsPerIP bound concurrent connections
	// over all listeners; 0 means no limit.
	MaxConnections, MaxConnectionsPerIP int
	// AuthDelay is the delay after the first failed AUTH from an address
	// or for a user name, doubling with each further one up to
	// AuthDelayMax; zero means 1s and 30s. Sleep waits it (tests record).
	AuthDelay, AuthDelayMax time.Duration
	// MaxReceiving bounds the bytes of messages being received at once
	// over all connections; a DATA beyond it gets 452 4.3.1 and its bytes
	// are dropped as they come. 0 means no limit.
	MaxReceiving int64
	Sleep        func(ctx context.Context, d time.Duration)
	// Inbound runs the checks on mail from outside (MX, LMTP): SPF, DKIM,
	// DMARC, spam. nil accepts it unchecked.
	Inbound *inbound.Checker
	// Observer is told of connections, logins and messages (metrics);
	// nil: nobody.
	Observer Observer
}

// ListenerOptions qualify one listener.
type ListenerOptions struct {
	Mode Mode
	// InsecureAuth allows AUTH before TLS.
	InsecureAuth bool
	// ImplicitTLS serves TLS from the first byte (port 465). Serve wraps
	// the listener itself, above the connection limits, because go-smtp
	// recognises TLS only on a *tls.Conn.
	ImplicitTLS bool
}

// Server serves SMTP and LMTP listeners.
type Server struct {
	opts    Options
	log     *slog.Logger
	domains atomic.Pointer[map[string]bool] // see SetOptions
	next    atomic.Uint64

	mu       sync.Mutex
	servers  []*smtp.Server
	sessions map[*session]struct{}
	closing  bool

	conns     *netlimit.Conns
	throttle  *netlimit.Throttle
	receiving *budget // nil: no limit

	sieveCache scriptCache
	srs        srsKey
	sieveLive  atomic.Pointer[SieveOptions] // set by SetOptions (sieve.go)
}

// New returns a server; Serve starts listeners.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.AuthDelay == 0 {
		opts.AuthDelay = time.Second
	}
	if opts.AuthDelayMax == 0 {
		opts.AuthDelayMax = 30 * time.Second
	}
	if opts.Sleep == nil {
		opts.Sleep = netlimit.Sleep
	}
	s := &Server{opts: opts, log: opts.Logger.With("proto", "smtp"), sessions: map[*session]struct{}{},
		conns:    netlimit.NewConns(opts.MaxConnections, opts.MaxConnectionsPerIP),
		throttle: netlimit.NewThrottle(opts.AuthDelay, opts.AuthDelayMax, nil),
	}
	if opts.MaxReceiving > 0 {
		s.receiving = &budget{max: opts.MaxReceiving}
	}
	s.SetOptions(opts)
	return s
}

// SetOptions applies the local domains and the connection caps of o to
// the running server (connections over a lowered cap stay; new ones are
// refused until enough have gone). The other fields of o are ignored:
// go-smtp reads its limits and timeouts unsynchronised while serving, so
// those need a restart.
func (s *Server) SetOptions(o Options) {
	domains := map[string]bool{}
	for _, d := range o.Domains {
		domains[strings.ToLower(d)] = true
	}
	s.domains.Store(&domains)
	s.conns.SetLimits(o.MaxConnections, o.MaxConnectionsPerIP)
	s.sieveLive.Store(&o.Sieve)
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener, lopts ListenerOptions) error {
	srv := smtp.NewServer(backend{s: s, lopts: lopts})
	srv.Domain = s.opts.Hostname
	srv.TLSConfig = s.opts.TLSConfig
	srv.LMTP = lopts.Mode == ModeLMTP
	// The session enforces MaxMessageBytes itself (readMessage, Mail):
	// go-smtp's DATA reader refuses a message of exactly its limit (it
	// stops counting before it has read the terminating dot), while its
	// BDAT accepts one. Without a number, EHLO advertises a bare SIZE.
	srv.MaxMessageBytes = 0
	srv.MaxRecipients = s.opts.MaxRecipients
	srv.AllowInsecureAuth = lopts.InsecureAuth
	srv.ReadTimeout = s.opts.Timeout
	srv.WriteTimeout = s.opts.Timeout
	srv.ErrorLog = liblog.New(s.log)
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true        // RFC 3461: NOTIFY, ORCPT, RET, ENVID kept and honoured (dsn.go)
	srv.EnableREQUIRETLS = true // RFC 8689: over TLS only; the queue delivers such mail only over verified TLS
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	var limited net.Listener = &netlimit.Listener{Listener: ln, Conns: s.conns, Refuse: func(c net.Conn) {
		s.log.Warn("connection refused: too many connections", "remote", c.RemoteAddr().String())
		if !lopts.ImplicitTLS { // a TLS client could not read a plain reply
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("421 4.7.0 Too many connections from your address, try again later\r\n"))
		}
		c.Close()
	}, Wrap: func(c net.Conn, release func()) net.Conn {
		return trace.Wrap(&timeoutConn{Conn: c, release: release}, trace.SMTP, s.log)
	}}
	if lopts.ImplicitTLS {
		limited = tls.NewListener(limited, s.opts.TLSConfig)
	}
	err := srv.Serve(limited)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes idle sessions at once, lets a session
// in the middle of a transaction finish it (and get its reply), and waits
// until ctx is done for that; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.closing = true
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	// Outside s.mu: closing a connection calls Logout, which takes it.
	for _, sess := range sessions {
		sess.closeWhenIdle()
	}
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			if srv.Shutdown(ctx) != nil {
				srv.Close()
			}
		})
	}
	wg.Wait()
	return nil
}

type backend struct {
	s     *Server
	lopts ListenerOptions
}

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	id := b.s.next.Add(1)
	sess := &session{
		srv:  b.s,
		mode: b.lopts.Mode,
		conn: c,
		log:  b.s.log.With("conn", id, "remote", c.Conn().RemoteAddr().String(), "listener", b.lopts.Mode.String()),
	}
	trace.Attach(c.Conn(), sess.log)
	b.s.observer().Connection(b.lopts.Mode.String())
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if b.s.closing {
		return nil, smtpErr(421, smtp.EnhancedCode{4, 3, 2}, "Server shutting down")
	}
	b.s.sessions[sess] = struct{}{}
	return sess, nil
}

// isLocal reports whether domain is one of ours.
func (s *Server) isLocal(domain string) bool { return (*s.domains.Load())[domain] }

// primaryDomain is the host name when it is a local domain, else the first
// local domain ("" when there is none).
func (s *Server) primaryDomain() string {
	if h := strings.ToLower(s.opts.Hostname); s.isLocal(h) {
		return h
	}
	if len(s.opts.Domains) > 0 {
		return strings.ToLower(s.opts.Domains[0])
	}
	return ""
}

// timeoutConn ends a connection whose read times out. go-smtp sets the
// read deadline once per command line, but on a timeout in the middle of a
// line it hands back the partial line and reads on, so a client dripping
// one byte at a time would never be cut off.
type timeoutConn struct {
	net.Conn
	release func()
	dead    atomic.Bool
}

func (c *timeoutConn) Read(p []byte) (int, error) {
	if c.dead.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.dead.Store(true)
		c.Conn.Close()
	}
	return n, err
}

func (c *timeoutConn) Close() error {
	c.release()
	return c.Conn.Close()
}
