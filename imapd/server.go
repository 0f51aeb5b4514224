package imapd

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailroom/acl"
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
	// Trace logs protocol transcripts at debug level minus four.
	Trace bool
}

// ListenerOptions qualify one listener.
type ListenerOptions struct {
	// InsecureAuth allows LOGIN and AUTHENTICATE before TLS.
	InsecureAuth bool
}

// Server serves IMAP on any number of listeners.
type Server struct {
	opts  Options
	log   *slog.Logger
	next  atomic.Uint64
	mu    sync.Mutex
	impls []*imapserver.Server

	// gate: each command holds it for reading, so Close can wait for the
	// commands in flight to finish before it closes connections.
	gate sync.RWMutex
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
	return &Server{opts: opts, log: log.With("proto", "imap")}
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
		imap.CapChildren: {}, imap.CapAppendLimit: {},
	}
}

// Serve accepts connections on ln until Close. Wrap ln in tls.NewListener
// for implicit TLS.
func (s *Server) Serve(ln net.Listener, lopts ListenerOptions) error {
	srv := imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         s.caps(),
		Logger:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:    s.opts.TLSConfig,
		InsecureAuth: lopts.InsecureAuth,
	})
	s.mu.Lock()
	s.impls = append(s.impls, srv)
	s.mu.Unlock()
	return srv.Serve(ln)
}

// Close waits for the commands in flight to finish, then stops every
// listener and closes every connection.
func (s *Server) Close() error {
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
	sess := &session{
		srv:  s,
		conn: c,
		log:  s.log.With("conn", id, "remote", c.NetConn().RemoteAddr().String()),
	}
	sess.log.Debug("connected")
	return sess, nil, nil
}
