package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/dane"
	"mailroom/fts"
	"mailroom/imapd"
	"mailroom/inbound"
	"mailroom/internal/netlimit"
	"mailroom/internal/trace"
	"mailroom/metrics"
	"mailroom/mtasts"
	"mailroom/smtpd"
	"mailroom/store"
	"mailroom/web"
)

func newLogger(cfg config.Log, level *slog.LevelVar) *slog.Logger {
	level.Set(parseLevel(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func parseLevel(s string) slog.Level {
	switch s {
	case "trace":
		return trace.Level
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// buildDirectory turns the config's identity sections into an acl
// directory.
func buildDirectory(cfg *config.Config) (*acl.Directory, error) {
	var plans []acl.Plan
	for _, name := range cfg.PlanNames() {
		p := cfg.Plans[name]
		plans = append(plans, acl.Plan{Name: name, Share: p.Share, MaxGrantees: p.MaxGrantees, Quota: int64(p.Quota), MaxMessages: p.Messages})
	}
	var groups []string
	for g := range cfg.Groups {
		groups = append(groups, g)
	}
	// postmaster@ each domain is an alias of the account that receives it.
	postmasterOf := map[string][]string{}
	for domain, account := range cfg.Postmasters() {
		postmasterOf[account] = append(postmasterOf[account], "postmaster@"+domain)
	}
	var specs []acl.AccountSpec
	for _, a := range cfg.Accounts {
		plan := a.Plan
		if plan == "" {
			plan = config.DefaultPlan
		}
		aliases := append(slices.Clone(a.Aliases), postmasterOf[a.Address]...)
		slices.Sort(aliases[len(a.Aliases):])
		specs = append(specs, acl.AccountSpec{
			Address: a.Address, PasswordHash: a.PasswordHash, SCRAMSHA256: a.SCRAMSHA256, Plan: plan,
			Groups: a.Groups, Aliases: aliases, Team: a.Team,
		})
	}
	var shares []acl.Share
	for _, s := range cfg.Shares {
		shares = append(shares, acl.Share{Owner: s.Owner, Mailbox: s.Mailbox, Grantee: s.Grantee, Rights: s.Rights, Send: s.Send, Seen: s.Seen})
	}
	return acl.NewDirectory(specs, plans, groups, shares)
}

func cmdServe(ctx context.Context, args []string) error {
	path, dataDir, err := commonFlags("serve", args, true)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(path, dataDir)
	if err != nil {
		return err
	}
	var level slog.LevelVar
	log := newLogger(cfg.Log, &level)
	// Catch SIGHUP before the "mailroom started" line: a reload sent as soon
	// as the server says it runs must not kill it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	limitMemory(ctx, int64(cfg.Limits.Memory), log)
	srv, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return srv.shutdown()
		case <-hup:
			next, err := loadConfig(path, dataDir)
			if err == nil {
				err = srv.reload(next, &level)
			}
			if err != nil {
				log.Error("reload failed; keeping the running configuration", "err", err)
				continue
			}
			log.Info("configuration reloaded")
		}
	}
}

// server is a running Mailroom.
type server struct {
	log   *slog.Logger
	cfg   *config.Config
	store *store.Store
	dir   *acl.Live
	imap  *imapd.Server
	smtp  *smtpd.Server
	sieve *sieveServer
	certs *certSource // nil without TLS, or with ACME
	acme  *autocert.Manager
	web   *web.Server

	metrics        *metrics.Metrics
	metricsHandler http.Handler
	imports        sync.Map // account -> chan struct{}: one import at a time (import.go)

	resolver inbound.FullResolver // [dns] resolver: every lookup of the server
	checker  *inbound.Checker     // inbound trust checks (SPF, DKIM, DMARC, spam)
	// webLogins slows repeated failed logins to the web listeners' /audit.
	webLogins *netlimit.Throttle
	sts       *mtasts.Fetcher // MTA-STS policies of recipient domains, cached across reloads

	queue        liveQueue
	stopOutbound func() // stops the current outbound queue's workers and waits
	admin        *adminServer

	listeners []net.Listener
	wg        sync.WaitGroup

	index       *fts.Index // the full-text index, in data_dir/fts
	stopIndexer func()
	audit       *auditWriter
}

// start opens the store, binds every listener and starts serving. Binding
// happens before start returns, so the logged addresses are live.
func start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*server, error) {
	dir, err := buildDirectory(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	var certs *certSource
	var acmeMgr *autocert.Manager
	switch {
	case cfg.TLS.ACME.Enabled():
		if tlsConfig, acmeMgr, err = newACME(cfg, log.With("component", "acme")); err != nil {
			return nil, fmt.Errorf("tls.acme: %w", err)
		}
	case cfg.TLS.Configured():
		if tlsConfig, certs, err = newTLS(cfg, log); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	}
	reg := imapd.NewRegistry()
	// The full-text index hears every committed change after the IMAP
	// registry; it is set once the store is open, before anything runs.
	var indexer *fts.Indexer
	onChange := func(c store.Change) {
		reg.Publish(c)
		if indexer != nil {
			indexer.Note(c)
		}
	}
	st, err := store.Open(ctx, store.Options{Dir: cfg.DataDir, Logger: log.With("component", "store"), OnChange: onChange,
		MinFreeBytes: int64(cfg.Limits.MinFreeSpace), MappedBudget: mappedBudget(cfg), Derive: imapd.DeriveBodyInfo, AuditRetention: cfg.Audit.Retention.D()})
	if err != nil {
		return nil, err
	}
	s := &server{log: log, cfg: cfg, store: st, dir: acl.NewLive(dir), certs: certs, acme: acmeMgr, resolver: inbound.NewResolver(cfg.DNS.Resolver),
		webLogins: netlimit.NewThrottle(time.Second, 30*time.Second, nil)}
	s.sts = &mtasts.Fetcher{Resolver: s.resolver, Logger: log.With("component", "mta-sts")}
	ictx, stopIndexer := context.WithCancel(context.Background())
	s.stopIndexer = stopIndexer
	if cfg.Search.FullTextOn() {
		if s.index, err = fts.Open(filepath.Join(cfg.DataDir, "fts")); err != nil {
			s.shutdown()
			return nil, err
		}
		indexer = fts.NewIndexer(s.index, st, log.With("component", "fts"))
		s.wg.Go(func() { indexer.Run(ictx) })
	}
	s.metrics, s.metricsHandler = newMetrics(s)
	if err := ensureInboxes(ctx, st, dir); err != nil {
		s.shutdown()
		return nil, err
	}
	io := imapOptions(cfg)
	io.Store, io.Registry, io.Directory, io.Logger, io.TLSConfig = st, reg, s.dir, log, tlsConfig
	if indexer != nil {
		io.Search = indexer
	}
	if learner := newJunkLearner(cfg, log); learner != nil {
		io.OnJunk = learner.note
		s.wg.Go(func() { learner.run(ictx) })
	}
	audit := newAuditWriter(st, log)
	s.audit = audit
	s.wg.Go(func() { audit.run(ictx) })
	io.Audit, io.AuditReads = audit.note, cfg.Audit.Reads
	io.OnLogin = func(ok bool) { s.metrics.Login("imap", ok) }
	s.imap = imapd.New(io)
	s.sieve = newManageSieve(cfg, st, s.dir, log, tlsConfig)
	keys, err := loadDKIMKeys(cfg, log)
	if err != nil {
		s.shutdown()
		return nil, err
	}
	relayCAs, err := loadCAFile(cfg.Outbound.RelayCAFile)
	if err != nil {
		s.shutdown()
		return nil, fmt.Errorf("outbound.relay_ca_file: %w", err)
	}
	s.startOutbound(cfg, keys, relayCAs)
	so := smtpOptions(cfg)
	so.Store, so.Directory, so.Logger, so.TLSConfig, so.Queue, so.Audit = st, s.dir, log, tlsConfig, &s.queue, audit.note
	s.checker = newChecker(cfg, s.resolver, log)
	so.Inbound = s.checker
	so.Observer = s.metrics
	s.smtp = smtpd.New(so)
	if s.web, err = newWeb(s, cfg); err != nil {
		s.shutdown()
		return nil, err
	}
	for _, name := range cfg.ListenerNames() {
		l := cfg.Listener(name)
		if !l.Enabled() {
			continue
		}
		ln, err := listen(l.Address)
		if err != nil {
			s.shutdown()
			return nil, fmt.Errorf("listeners.%s: %w", name, err)
		}
		if name == "imap" || name == "imaps" {
			ln = countingListener{Listener: ln, count: func() { s.metrics.Connection(name) }}
		}
		if name == "imaps" {
			ln = tls.NewListener(ln, tlsConfig)
		}
		s.listeners = append(s.listeners, ln)
		log.Info("listening", "listener", name, "addr", ln.Addr().String())
		serve := func() error {
			switch name {
			case "imap", "imaps":
				return s.imap.Serve(ln, imapd.ListenerOptions{InsecureAuth: l.AllowInsecureAuth})
			case "managesieve":
				return serveManageSieve(s.sieve, ln, l.AllowInsecureAuth)
			case "smtp":
				return s.smtp.Serve(ln, smtpd.ListenerOptions{Mode: smtpd.ModeMX})
			case "lmtp":
				return s.smtp.Serve(ln, smtpd.ListenerOptions{Mode: smtpd.ModeLMTP})
			case "http":
				return s.web.Serve(ln, nil)
			case "https":
				return s.web.Serve(ln, httpsConfig(tlsConfig, acmeMgr != nil))
			default: // submission, and submissions with implicit TLS
				return s.smtp.Serve(ln, smtpd.ListenerOptions{Mode: smtpd.ModeSubmission, InsecureAuth: l.AllowInsecureAuth, ImplicitTLS: name == "submissions"})
			}
		}
		s.wg.Go(func() {
			if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Error("serve", "listener", name, "err", err)
			}
		})
	}
	if sock := cfg.AdminSocket(); sock != "" {
		if s.admin, err = startAdmin(sock, s, log); err != nil {
			s.shutdown()
			return nil, fmt.Errorf("admin socket: %w", err)
		}
		log.Info("listening", "listener", "admin", "addr", sock)
	}
	if acmeMgr != nil {
		go prefetchACME(tlsConfig, hostname(cfg), log.With("component", "acme"))
	}
	log.Info("mailroom started", "data_dir", cfg.DataDir, "accounts", len(dir.Accounts()))
	return s, nil
}

// imapOptions returns the IMAP options the configuration sets; start adds
// the server's parts.
func imapOptions(cfg *config.Config) imapd.Options {
	l := cfg.Limits
	return imapd.Options{
		AppendLimit: int64(l.MessageSize), MaxMailboxes: l.MailboxesPerAccount,
		LoginTimeout: l.LoginTimeout.D(), IdleTimeout: l.IdleTimeout.D(),
		MaxConnections: l.Connections, MaxConnectionsPerIP: l.ConnectionsPerIP,
		MaxSessionsPerAccount: l.SessionsPerAccount,
	}
}

// smtpOptions returns the SMTP options the configuration sets; start adds
// the server's parts.
func smtpOptions(cfg *config.Config) smtpd.Options {
	l := cfg.Limits
	return smtpd.Options{
		Hostname: hostname(cfg), Domains: domainNames(cfg),
		MaxMessageBytes: int64(l.MessageSize), MaxRecipients: l.Recipients, Timeout: l.SMTPTimeout.D(),
		MaxReceiving:   int64(l.Receiving),
		MaxConnections: l.Connections, MaxConnectionsPerIP: l.ConnectionsPerIP,
		Sieve: sieveOptions(cfg),
	}
}

func domainNames(cfg *config.Config) []string {
	var domains []string
	for _, d := range cfg.Domains {
		domains = append(domains, d.Name)
	}
	return domains
}

// liveQueue hands submitted mail to the current outbound queue, which a
// reload may replace.
type liveQueue struct {
	p atomic.Pointer[smtpd.Outbound]
}

func (q *liveQueue) Enqueue(ctx context.Context, from string, rcpts []string, head, msg []byte) error {
	return q.p.Load().Enqueue(ctx, from, rcpts, head, msg)
}

// EnqueueEntry keeps the DSN and REQUIRETLS parameters (smtpd.EnvelopeQueue).
func (q *liveQueue) EnqueueEntry(ctx context.Context, env *store.QueueEntry, head, msg []byte) error {
	return q.p.Load().EnqueueEntry(ctx, env, head, msg)
}

// startOutbound starts an outbound queue for cfg and makes it current,
// after stopping the previous one (its deliveries in progress are
// abandoned and retried by the new one: the queue lives in the store).
func (s *server) startOutbound(cfg *config.Config, keys map[string]*smtpd.DKIMKey, relayCAs *x509.CertPool) {
	out := smtpd.NewOutbound(smtpd.OutboundOptions{
		Store: s.store, Directory: s.dir, Logger: s.log, Hostname: hostname(cfg), Domains: domainNames(cfg),
		Relay: cfg.Outbound.Relay, RelayUsername: cfg.Outbound.RelayUsername, RelayPassword: cfg.Outbound.RelayPassword,
		RelayTLS: cfg.Outbound.RelayTLS, RelayRootCAs: relayCAs,
		MaxAge: cfg.Outbound.MaxAge.D(), RetryInitial: cfg.Outbound.RetryInitial.D(), Workers: cfg.Outbound.Workers,
		DKIM: keys, Resolver: s.resolver, MTASTS: s.sts, DANE: &dane.Resolver{Addr: cfg.DNS.Resolver},
		Observer: s.metrics,
	})
	if s.stopOutbound != nil {
		s.stopOutbound()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		out.Run(ctx)
	})
	s.stopOutbound = func() { cancel(); <-done }
	s.queue.p.Store(out)
}

// ensureInboxes gives every configured account its INBOX, so a team
// mailbox nobody logs in to is visible to its grantees before its first
// mail.
func ensureInboxes(ctx context.Context, st *store.Store, dir *acl.Directory) error {
	for _, a := range dir.Accounts() {
		// A team account nobody logs in to is complete from the start:
		// its members share its Sent, Drafts, Trash, Junk and Archive.
		if err := st.EnsureAccount(ctx, a.Address, a.Team); err != nil {
			return fmt.Errorf("mailboxes of %s: %w", a.Address, err)
		}
	}
	return nil
}

// loadDKIMKeys loads each domain's signing key, generating it first where
// dkim_generate asks for that and the file does not exist yet.
func loadDKIMKeys(cfg *config.Config, log *slog.Logger) (map[string]*smtpd.DKIMKey, error) {
	keys := map[string]*smtpd.DKIMKey{}
	for i, d := range cfg.Domains {
		if d.DKIMSelector == "" {
			continue
		}
		path := cfg.DKIMKeyPath(d)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && d.DKIMGenerate {
			signer, err := smtpd.GenerateDKIMKey(path, "rsa")
			if err != nil {
				return nil, fmt.Errorf("domains[%d]: generate DKIM key: %w", i, err)
			}
			rec, _ := smtpd.DKIMRecord(signer)
			log.Info("generated a DKIM key; publish its DNS record", "domain", d.Name, "file", path,
				"record", d.DKIMSelector+"._domainkey."+d.Name+" TXT "+rec)
		}
		signer, err := smtpd.LoadDKIMKey(path)
		if err != nil {
			return nil, fmt.Errorf("domains[%d].dkim_key: %w", i, err)
		}
		keys[strings.ToLower(d.Name)] = &smtpd.DKIMKey{Domain: strings.ToLower(d.Name), Selector: d.DKIMSelector, Signer: signer}
	}
	return keys, nil
}

// listen opens a TCP listener, or a unix socket for "unix:/path".
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		os.Remove(path) // a socket left by a previous run
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", addr)
}

// reload applies a new configuration to the running server: accounts and
// everything else of the directory, the TLS certificate (read again from
// its files, so SIGHUP after a renewal is enough), local domains, the
// outbound settings and DKIM keys, the connection, session and timeout
// limits and the log level. Settings that need a restart (see
// restartOnly) keep their running values and are named in one log line.
// Everything that can fail is done before anything is applied, so a
// failed reload changes nothing.
func (s *server) reload(cfg *config.Config, level *slog.LevelVar) error {
	dir, err := buildDirectory(cfg)
	if err != nil {
		return err
	}
	var cert *tls.Certificate
	if s.certs != nil && cfg.TLS.Configured() {
		if cert, err = loadCertificate(cfg, s.log); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
	}
	outboundChanged := !reflect.DeepEqual(cfg.Outbound, s.cfg.Outbound) || !reflect.DeepEqual(cfg.Domains, s.cfg.Domains)
	webOpts, err := s.webOptions(keepRunning(s.cfg, cfg))
	if err != nil {
		return err
	}
	var keys map[string]*smtpd.DKIMKey
	var relayCAs *x509.CertPool
	if outboundChanged {
		if keys, err = loadDKIMKeys(cfg, s.log); err != nil {
			return err
		}
		if relayCAs, err = loadCAFile(cfg.Outbound.RelayCAFile); err != nil {
			return fmt.Errorf("outbound.relay_ca_file: %w", err)
		}
	}
	if err := ensureInboxes(context.Background(), s.store, dir); err != nil {
		return err
	}
	// Apply.
	restart := restartOnly(s.cfg, cfg)
	s.dir.Store(dir)
	if cert != nil {
		s.certs.p.Store(cert)
		if cert.Leaf != nil {
			s.log.Info("tls certificate reloaded", "subject", cert.Leaf.Subject.CommonName, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	if outboundChanged {
		s.startOutbound(cfg, keys, relayCAs)
	}
	s.imap.SetOptions(imapOptions(cfg))
	s.smtp.SetOptions(smtpOptions(cfg))
	s.web.SetOptions(webOpts)
	s.checker.SetLocalDomains(fromPolicies(cfg))
	level.Set(parseLevel(cfg.Log.Level))
	if len(restart) > 0 {
		s.log.Warn("this change needs a restart; the running values stay until then", "settings", strings.Join(restart, ", "))
	}
	s.cfg = keepRunning(s.cfg, cfg)
	return nil
}

// restartSettings are the settings a running server cannot change, each
// with a function that reads it from a configuration.
var restartSettings = []struct {
	key string
	get func(*config.Config) any
}{
	{"data_dir", func(c *config.Config) any { return c.DataDir }},
	{"hostname", func(c *config.Config) any { return c.Hostname }},
	{"log.format", func(c *config.Config) any { return c.Log.Format }},
	{"admin.socket", func(c *config.Config) any { return c.AdminSocket() }},
	{"tls (turning it on or off)", func(c *config.Config) any { return c.TLS.Configured() }},
	{"tls.acme", func(c *config.Config) any { return c.TLS.ACME }},
	{"limits.message_size", func(c *config.Config) any { return c.Limits.MessageSize }},
	{"limits.recipients", func(c *config.Config) any { return c.Limits.Recipients }},
	{"limits.smtp_timeout", func(c *config.Config) any { return c.Limits.SMTPTimeout }},
	{"limits.min_free_space", func(c *config.Config) any { return c.Limits.MinFreeSpace }},
	{"limits.receiving", func(c *config.Config) any { return c.Limits.Receiving }},
	{"limits.memory", func(c *config.Config) any { return c.Limits.Memory }},
	{"limits.mapped_bodies", func(c *config.Config) any { return c.Limits.MappedBodies }},
	{"dns.resolver", func(c *config.Config) any { return c.DNS.Resolver }},
	{"spam", func(c *config.Config) any { return fmt.Sprint(c.Spam) }},
}

// restartOnly names the settings that differ between the running
// configuration and next but cannot change without a restart.
func restartOnly(running, next *config.Config) []string {
	var keys []string
	for _, name := range running.ListenerNames() {
		if running.Listener(name) != next.Listener(name) {
			keys = append(keys, "listeners."+name)
		}
	}
	for _, r := range restartSettings {
		if r.get(running) != r.get(next) {
			keys = append(keys, r.key)
		}
	}
	return keys
}

// keepRunning returns next with the restart-only settings of running, so
// that the server's idea of its configuration stays what it runs with.
func keepRunning(running, next *config.Config) *config.Config {
	c := *next
	c.DataDir, c.Hostname, c.Log.Format, c.Admin = running.DataDir, running.Hostname, running.Log.Format, running.Admin
	c.Listeners = running.Listeners
	if running.TLS.Configured() != next.TLS.Configured() {
		c.TLS = running.TLS
	}
	c.TLS.ACME = running.TLS.ACME
	c.Limits.MessageSize, c.Limits.Recipients = running.Limits.MessageSize, running.Limits.Recipients
	c.Limits.SMTPTimeout, c.Limits.MinFreeSpace = running.Limits.SMTPTimeout, running.Limits.MinFreeSpace
	c.Limits.Receiving, c.Limits.Memory, c.Limits.MappedBodies = running.Limits.Receiving, running.Limits.Memory, running.Limits.MappedBodies
	c.DNS, c.Spam = running.DNS, running.Spam
	return &c
}

// shutdown stops accepting, lets in-flight commands finish, and closes the
// store.
func (s *server) shutdown() error {
	if s.admin != nil {
		s.admin.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.smtp != nil {
		s.smtp.Shutdown(ctx) // lets a DATA in progress finish
	}
	if s.sieve != nil {
		s.sieve.Close()
	}
	if s.imap != nil {
		s.imap.Close()
	}
	if s.web != nil {
		s.web.Shutdown(ctx)
	}
	if s.stopOutbound != nil {
		s.stopOutbound() // a delivery in progress is abandoned and retried later
	}
	if s.stopIndexer != nil {
		s.stopIndexer() // what is not indexed yet is indexed after the next start
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.log.Warn("listeners did not stop in 30s")
	}
	if s.index != nil {
		if err := s.index.Close(); err != nil {
			s.log.Warn("closing the full-text index", "err", err)
		}
	}
	return s.store.Close()
}
