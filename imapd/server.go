package imapd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"mailroom/acl"
	"mailroom/imapd/engine"
	"mailroom/store"
)

// Options configure a Server; cmd/mailroom builds them from the
// configuration.
type Options struct {
	Store *store.Store
	// Registry announces committed changes to sessions; wire its Publish
	// to store.Options.OnChange.
	Registry  *Registry
	Directory *acl.Live
	Logger    *slog.Logger
	// TLSConfig enables STARTTLS (nil: not offered).
	TLSConfig *tls.Config

	// AppendLimit bounds one APPENDed message (APPENDLIMIT).
	AppendLimit int64
	// MaxMailboxes bounds the mailboxes one account may have.
	MaxMailboxes int
	// LoginTimeout bounds the time to authenticate after connecting;
	// IdleTimeout an authenticated connection's inactivity.
	LoginTimeout time.Duration
	IdleTimeout  time.Duration
	// Connection caps (0: none) and concurrent sessions per account.
	MaxConnections        int
	MaxConnectionsPerIP   int
	MaxSessionsPerAccount int
	// AuthDelay is the first delay after a failed login, doubling up to
	// AuthDelayMax (defaults 1 s and 30 s).
	AuthDelay    time.Duration
	AuthDelayMax time.Duration
	// Sleep waits for a login delay; nil waits for real. Tests record it.
	Sleep func(ctx context.Context, d time.Duration)

	// Search, if set, is the full-text index SEARCH BODY and TEXT ask
	// first (an *fts.Indexer).
	Search engine.SearchIndex
	// OnJunk, if set, hears of messages users move into or out of \Junk
	// (rspamd learning); it must not block.
	OnJunk func(content []byte, spam bool)
	// Audit, if set, hears of what users do in others' mailboxes; it must
	// not block. AuditReads adds the reading of content.
	Audit      func(store.AuditRecord)
	AuditReads bool
	// OnLogin, if set, hears of each credential check and its result.
	OnLogin func(ok bool)

	// onSearchMessage, if set, is called with the command's context for
	// each message SEARCH looks at (tests).
	onSearchMessage func(ctx context.Context)
}

// ListenerOptions qualify one listener.
type ListenerOptions struct {
	// InsecureAuth allows passwords without TLS (loopback development).
	InsecureAuth bool
}

// Registry fans the store's committed changes out to the sessions that
// have a mailbox selected.
type Registry = engine.Registry

// DeriveBodyInfo computes what IMAP keeps with each new message body
// (its header summary and ENVELOPE), for store.Options.Derive: whoever
// opens the store to deliver or import mail sets it, so listing, sorting
// and threading never parse a message again.
func DeriveBodyInfo(body []byte) []store.Derived { return engine.DeriveBodyInfo(body) }

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return engine.NewRegistry() }

// Server is Mailroom's IMAP server: the protocol engine in imapd/engine
// behind the options cmd/mailroom sets.
type Server struct {
	eng *engine.Server
}

// New returns a server; Serve starts listeners.
func New(opts Options) *Server {
	return &Server{eng: engine.New(engineOptions(opts))}
}

// engineOptions maps the server's options onto the engine's.
func engineOptions(o Options) engine.Options {
	return engine.Options{
		Store: o.Store, Registry: o.Registry, Directory: o.Directory, Logger: o.Logger,
		TLSConfig: o.TLSConfig, AppendLimit: o.AppendLimit, MaxMailboxes: o.MaxMailboxes,
		LoginTimeout: o.LoginTimeout, IdleTimeout: o.IdleTimeout,
		MaxConnections: o.MaxConnections, MaxConnectionsPerIP: o.MaxConnectionsPerIP,
		MaxSessionsPerAccount: o.MaxSessionsPerAccount,
		AuthDelay:             o.AuthDelay, AuthDelayMax: o.AuthDelayMax, Sleep: o.Sleep,
		OnSearchMessage: o.onSearchMessage, Search: o.Search, OnJunk: o.OnJunk, Audit: o.Audit, AuditReads: o.AuditReads, OnLogin: o.OnLogin,
	}
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener, lopts ListenerOptions) error {
	return s.eng.Serve(ln, engine.ListenerOptions{InsecureAuth: lopts.InsecureAuth})
}

// SetOptions applies o's limits to the running server (reload).
func (s *Server) SetOptions(o Options) { s.eng.SetOptions(engineOptions(o)) }

// Close stops the listeners and ends every connection after the command
// it runs.
func (s *Server) Close() error { return s.eng.Close() }
