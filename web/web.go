package web

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mailroom/store"
)

// Endpoint is one service clients connect to: a port, and whether TLS
// starts at once (implicit) or after STARTTLS. Port 0 means off.
type Endpoint struct {
	Port        int
	ImplicitTLS bool
}

// Options configure the server.
type Options struct {
	// Hostname is the name clients connect to and the MX host.
	Hostname string
	// Domains are the local mail domains.
	Domains []string
	// IMAP and Submission list the endpoints clients are offered, best
	// first (cmd/mailroom puts implicit TLS first).
	IMAP       []Endpoint
	Submission []Endpoint
	// MTASTSMode is "testing", "enforce" or "none"; MTASTSMaxAge the
	// policy's max_age.
	MTASTSMode   string
	MTASTSMaxAge time.Duration
	// Metrics serves /metrics; nil: not found.
	Metrics http.Handler
	// MetricsAuth checks basic authentication for /metrics; nil: open.
	MetricsAuth func(ctx context.Context, user, password string) bool
	// Audit, if set, serves /audit: the audit records the user whose
	// credentials came with the request may read (see acl.AuditReader),
	// since the given time, oldest first; ErrUnauthorized for wrong
	// credentials.
	Audit func(ctx context.Context, remote net.Addr, user, password string, since time.Time, limit int) ([]store.AuditRecord, error)
	// HTTPChallenge, when set, wraps the router on plain HTTP listeners
	// to answer an ACME CA's HTTP-01 challenges (autocert's HTTPHandler).
	HTTPChallenge func(http.Handler) http.Handler
	Logger        *slog.Logger
}

// Server serves the router on any number of listeners.
type Server struct {
	o       atomic.Pointer[Options]
	log     *slog.Logger
	handler http.Handler

	mu      sync.Mutex
	servers []*http.Server
	closed  bool
}

// New returns a server for o.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: o.Logger}
	s.o.Store(&o)
	s.handler = s.routes()
	return s
}

// SetOptions replaces the options (a configuration reload); requests
// already being answered finish with the old ones.
func (s *Server) SetOptions(o Options) {
	if o.Logger == nil {
		o.Logger = s.log
	}
	s.o.Store(&o)
}

func (s *Server) opts() *Options { return s.o.Load() }

// Handler returns the router.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on ln until Shutdown; with tlsConfig set, over TLS.
func (s *Server) Serve(ln net.Listener, tlsConfig *tls.Config) error {
	handler := s.handler
	if tlsConfig == nil {
		// The challenge wrapper of the options at Serve time: a reload
		// does not turn ACME on or off (tls needs a restart).
		if wrap := s.opts().HTTPChallenge; wrap != nil {
			handler = wrap(handler)
		}
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops every listener and waits for requests in progress, until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	var errs []error
	for _, hs := range servers {
		errs = append(errs, hs.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig)
	mux.HandleFunc("GET /mail/config-v1.1.xml", s.autoconfig)
	mux.HandleFunc("POST /autodiscover/autodiscover.xml", s.autodiscover)
	mux.HandleFunc("POST /Autodiscover/Autodiscover.xml", s.autodiscover)
	mux.HandleFunc("GET /apple/mail.mobileconfig", s.mobileconfig)
	mux.HandleFunc("GET /.well-known/mta-sts.txt", s.mtasts)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /audit", s.audit)
	return mux
}

// localDomain returns the configured domain d names (case-insensitive),
// or "".
func (s *Server) localDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	for _, l := range s.opts().Domains {
		if strings.EqualFold(l, d) {
			return strings.ToLower(l)
		}
	}
	return ""
}

// requestHost is the request's host name without port.
func requestHost(r *http.Request) string {
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(h)
}

// addressDomain returns a local address's domain, "" when addr is not one.
func (s *Server) addressDomain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || len(addr) > 320 {
		return ""
	}
	return s.localDomain(addr[at+1:])
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts().Metrics == nil {
		http.NotFound(w, r)
		return
	}
	if s.opts().MetricsAuth != nil {
		user, pass, ok := r.BasicAuth()
		if !ok || !s.opts().MetricsAuth(r.Context(), user, pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="mailroom metrics", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	s.opts().Metrics.ServeHTTP(w, r)
}
