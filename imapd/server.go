package imapd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailroom/acl"
	"mailroom/imapd/engine"
	"mailroom/internal/liblog"
	"mailroom/internal/netlimit"
	"mailroom/internal/trace"
	"mailroom/store"
)

// Options configures the IMAP server.
type Options struct {
	Store     *store.Store
	Registry  *Registry
	Directory *acl.Live
	Logger    *slog.Logger
	// TLSConfig enables STARTTLS (and is what implicit-TLS listeners use).
	TLSConfig *tls.Config
	// AppendLimit is the largest message APPEND accepts, in bytes.
	AppendLimit int64
	// MaxMailboxes bounds the mailboxes one account may have.
	MaxMailboxes int
	// LoginTimeout bounds the time from connecting to logging in;
	// IdleTimeout an authenticated connection's inactivity (RFC 9051 §5.4
	// asks for at least 30 minutes). Zero means go-imap's defaults.
	LoginTimeout time.Duration
	IdleTimeout  time.Duration
	// MaxConnections and MaxConnectionsPerIP bound concurrent
	// connections; MaxSessionsPerAccount concurrent logins of one account.
	// Zero means no limit.
	MaxConnections        int
	MaxConnectionsPerIP   int
	MaxSessionsPerAccount int
	// AuthDelay is the delay after the first failed login from an address
	// or for an account name; it doubles with each further failure up to
	// AuthDelayMax. Zero means 1s and 30s.
	AuthDelay    time.Duration
	AuthDelayMax time.Duration
	// Sleep waits for a login delay; nil waits for real. Tests record it.
	Sleep func(ctx context.Context, d time.Duration)

	// Engine serves with Mailroom's own protocol engine (imapd/engine)
	// instead of go-imap's server, while the engine is being completed.
	Engine bool
	// onSearchMessage, if set, is called with the command's context for
	// each message SEARCH looks at (tests).
	onSearchMessage func(ctx context.Context)
}

// ListenerOptions qualify one listener.
type ListenerOptions struct {
	// InsecureAuth allows LOGIN and AUTHENTICATE before TLS.
	InsecureAuth bool
}

// Server serves IMAP on any number of listeners.
type Server struct {
	eng   *engine.Server // set when Options.Engine
	opts  Options
	log   *slog.Logger
	next  atomic.Uint64
	mu    sync.Mutex
	impls []*imapserver.Server

	// gate: each command holds it for reading, so Close can wait for the
	// commands in flight to finish before it closes connections.
	gate sync.RWMutex

	conns    *netlimit.Conns
	sessions *sessionCounter
	throttle *netlimit.Throttle
	limits   atomic.Pointer[reloadable] // see SetOptions
}

// busy marks a command in flight until the returned func is called.
func (s *Server) busy() func() {
	s.gate.RLock()
	return s.gate.RUnlock
}

// New returns a server; Serve starts listeners.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
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
	s := &Server{
		opts:     opts,
		log:      log.With("proto", "imap"),
		conns:    netlimit.NewConns(opts.MaxConnections, opts.MaxConnectionsPerIP),
		sessions: &sessionCounter{n: map[string]int{}},
		throttle: netlimit.NewThrottle(opts.AuthDelay, opts.AuthDelayMax, nil),
	}
	if opts.Engine {
		eo := engineOptions(opts)
		eo.Logger = log
		s.eng = engine.New(eo)
	}
	s.SetOptions(opts)
	return s
}

// engineOptions maps the server's options onto the engine's.
func engineOptions(o Options) engine.Options {
	return engine.Options{
		Store: o.Store, Registry: o.Registry.Engine(), Directory: o.Directory, Logger: o.Logger,
		TLSConfig: o.TLSConfig, AppendLimit: o.AppendLimit, MaxMailboxes: o.MaxMailboxes,
		LoginTimeout: o.LoginTimeout, IdleTimeout: o.IdleTimeout,
		MaxConnections: o.MaxConnections, MaxConnectionsPerIP: o.MaxConnectionsPerIP,
		MaxSessionsPerAccount: o.MaxSessionsPerAccount,
		AuthDelay:             o.AuthDelay, AuthDelayMax: o.AuthDelayMax, Sleep: o.Sleep,
		OnSearchMessage: o.onSearchMessage,
	}
}

// extraCaps are the capabilities Mailroom adds to go-imap's list.
func (s *Server) extraCaps() []string {
	return []string{"ID", "ACL", "RIGHTS=texk"}
}

// Capabilities advertised once authenticated (go-imap adds STARTTLS,
// LOGINDISABLED and AUTH= itself before login).
func (s *Server) caps() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
		imap.CapSASLIR: {}, imap.CapID: {}, imap.CapEnable: {},
		imap.CapNamespace: {}, imap.CapUnselect: {}, imap.CapUIDPlus: {},
		imap.CapESearch: {}, imap.CapSearchRes: {}, imap.CapIdle: {},
		imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapSpecialUse: {},
		imap.CapMove: {}, imap.CapLiteralPlus: {}, imap.CapStatusSize: {},
		imap.CapChildren: {}, imap.CapAppendLimit: {}, imap.CapBinary: {},
		imap.CapUnauthenticate: {},
	}
}

// Serve accepts connections on ln until Close. Wrap ln in tls.NewListener
// for implicit TLS.
func (s *Server) Serve(ln net.Listener, lopts ListenerOptions) error {
	if s.eng != nil {
		return s.eng.Serve(ln, engine.ListenerOptions{InsecureAuth: lopts.InsecureAuth})
	}
	// go-imap sees every connection as plain with insecure auth allowed:
	// extConn terminates STARTTLS and enforces the TLS rule itself.
	srv := imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         s.caps(),
		Logger:       liblog.New(s.log),
		InsecureAuth: true,
	})
	s.mu.Lock()
	s.impls = append(s.impls, srv)
	s.mu.Unlock()
	return srv.Serve(codeListener{s.listener(ln, lopts)})
}

// Close waits for the commands in flight to finish, then stops every
// listener and closes every connection.
func (s *Server) Close() error {
	if s.eng != nil {
		return s.eng.Close()
	}
	s.gate.Lock()
	s.gate.Unlock() // an empty critical section: we only wait
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.impls {
		srv.Close()
	}
	return nil
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	id := s.next.Add(1)
	nc := c.NetConn()
	out, _ := nc.(*codeConn)
	if out != nil {
		nc = out.extConn
	}
	ext, _ := nc.(*extConn)
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{
		srv:        s,
		conn:       c,
		ext:        ext,
		out:        out,
		connCtx:    ctx,
		cancelConn: cancel,
		log:        s.log.With("conn", id, "remote", c.NetConn().RemoteAddr().String()),
	}
	if ext != nil {
		ext.session.Store(sess)
		trace.Attach(ext.cur, sess.log)
	}
	sess.log.Debug("connected")
	return enteredSession{sess}, nil, nil
}
