package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mailroom/acl"
	"mailroom/internal/netlimit"
	"mailroom/store"
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	Store *store.Store
	// Registry announces changes to sessions; wire its Publish to the
	// store's OnChange.
	Registry  *Registry
	Directory *acl.Live
	Logger    *slog.Logger
	// TLSConfig enables STARTTLS (nil: not offered).
	TLSConfig *tls.Config

	AppendLimit           int64         // largest APPEND message
	MaxMailboxes          int           // mailboxes one account may have (0: no limit)
	LoginTimeout          time.Duration // to authenticate after connecting (default 60 s)
	IdleTimeout           time.Duration // an authenticated connection's inactivity limit (default 30 min)
	MaxConnections        int
	MaxConnectionsPerIP   int
	MaxSessionsPerAccount int
	AuthDelay             time.Duration // first delay after a failed login (default 1 s)
	AuthDelayMax          time.Duration // (default 30 s)
	// Sleep waits for a login delay; tests record delays instead.
	Sleep func(ctx context.Context, d time.Duration)
	// OnSearchMessage, if set, is called with the command's context for
	// each message SEARCH looks at (tests).
	OnSearchMessage func(ctx context.Context)
	// OnKept, if set, is called after the keeper wrote derived data
	// (tests).
	OnKept func()
	// Search, if set, is the full-text index SEARCH BODY and TEXT ask
	// first (fts.Indexer); nil: every message is read.
	Search SearchIndex
	// OnJunk, if set, hears of each message a user moves or copies into
	// a \Junk mailbox (spam) or out of one, not into Trash (not spam),
	// with its content, to train the spam filter. It must not block.
	OnJunk func(content []byte, spam bool)
	// Audit, if set, hears of every action someone takes in a mailbox
	// that is not theirs (the audit log); it must not block. AuditReads
	// adds the reading of message content to what is told.
	Audit      func(store.AuditRecord)
	AuditReads bool
	// OnLogin, if set, hears of each login attempt that checked
	// credentials (LOGIN, AUTHENTICATE), whether they were right (the
	// metrics); it must not block.
	OnLogin func(ok bool)
}

// SearchIndex is a full-text index as SEARCH uses it: the messages of a
// mailbox that may hold all the words (up to its watermark, beyond which
// it knows nothing yet), and a way to ask it to catch up.
type SearchIndex interface {
	Candidates(ctx context.Context, mailbox store.MailboxID, words []string) (uids []store.UID, watermark store.UID, ok bool, err error)
	Touch(mailbox store.MailboxID)
}

// ListenerOptions are per listener.
type ListenerOptions struct {
	// InsecureAuth allows passwords without TLS (loopback development).
	InsecureAuth bool
}

// Server is Mailroom's IMAP engine: it owns the wire protocol end to end.
type Server struct {
	opts Options
	log  *slog.Logger
	next atomic.Uint64

	conns    *netlimit.Conns
	throttle *netlimit.Throttle
	sessions sessionCounter
	limits   atomic.Pointer[reloadable]

	ctx    context.Context
	cancel context.CancelFunc

	deflaters sync.Pool   // *flate.Writer between COMPRESS batches (compress.go)
	arenas    chan []byte // buffers for a batch of message contents (fetch.go)

	keeping chan keepRequest // to keeper
	keepWG  sync.WaitGroup
	mu      sync.Mutex
	lns     []net.Listener
	wg      sync.WaitGroup
}

// New returns a server; Serve starts listeners.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.LoginTimeout == 0 {
		opts.LoginTimeout = time.Minute
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 30 * time.Minute
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
	if opts.Registry == nil {
		opts.Registry = NewRegistry()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:     opts,
		log:      log.With("proto", "imap"),
		conns:    netlimit.NewConns(opts.MaxConnections, opts.MaxConnectionsPerIP),
		throttle: netlimit.NewThrottle(opts.AuthDelay, opts.AuthDelayMax, nil),
		sessions: sessionCounter{n: map[string]int{}},
		ctx:      ctx,
		cancel:   cancel,
		arenas:   make(chan []byte, pooledArenas),
	}
	s.SetOptions(opts)
	s.keeping = make(chan keepRequest, 16)
	s.keepWG.Add(1)
	go s.keeper()
	return s
}

// reloadable holds the limits SetOptions changes on a running server.
type reloadable struct {
	loginTimeout, idleTimeout time.Duration
	maxMailboxes, maxSessions int
}

// SetOptions applies o's limits to the running server: connection caps,
// sessions per account, mailboxes per account, and the login and idle
// timeouts (from each connection's next read).
func (s *Server) SetOptions(o Options) {
	s.conns.SetLimits(o.MaxConnections, o.MaxConnectionsPerIP)
	r := &reloadable{loginTimeout: o.LoginTimeout, idleTimeout: o.IdleTimeout, maxMailboxes: o.MaxMailboxes, maxSessions: o.MaxSessionsPerAccount}
	if r.loginTimeout == 0 {
		r.loginTimeout = time.Minute
	}
	if r.idleTimeout == 0 {
		r.idleTimeout = 30 * time.Minute
	}
	s.limits.Store(r)
}

// Serve accepts connections on ln until Close; each is served by its own
// goroutine.
func (s *Server) Serve(ln net.Listener, lopts ListenerOptions) error {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	limited := &netlimit.Listener{
		Listener: ln,
		Conns:    s.conns,
		Refuse: func(c net.Conn) {
			s.log.Warn("connection refused: too many connections", "remote", c.RemoteAddr().String())
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("* BYE [UNAVAILABLE] Too many connections, try again later\r\n"))
			c.Close()
		},
		Wrap: func(c net.Conn, release func()) net.Conn { return &releaseConn{Conn: c, release: release} },
	}
	for {
		nc, err := limited.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			newConn(s, nc, lopts).serve()
		}()
	}
}

// Close stops the listeners, ends every connection after the command it
// is running, and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.cancel()
	for _, ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.keepWG.Wait()
	return nil
}

// releaseConn gives its connection slot back once, on Close.
type releaseConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// SyscallConn gives the socket to hangup.Watch.
func (c *releaseConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

func (c *releaseConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// sessionCounter bounds concurrent sessions per account.
type sessionCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *sessionCounter) acquire(account string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := acl.Fold(account)
	if max > 0 && c.n[k] >= max {
		return false
	}
	c.n[k]++
	return true
}

func (c *sessionCounter) release(account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := acl.Fold(account)
	if c.n[k]--; c.n[k] <= 0 {
		delete(c.n, k)
	}
}
