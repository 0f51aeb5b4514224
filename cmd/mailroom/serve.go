package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/imapd"
	"mailroom/smtpd"
	"mailroom/store"
)

// levelTrace is below debug: protocol transcripts.
const levelTrace = slog.LevelDebug - 4

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
		return levelTrace
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
		plans = append(plans, acl.Plan{Name: name, Share: p.Share, MaxGrantees: p.MaxGrantees, Quota: int64(p.Quota)})
	}
	var groups []string
	for g := range cfg.Groups {
		groups = append(groups, g)
	}
	var specs []acl.AccountSpec
	for _, a := range cfg.Accounts {
		plan := a.Plan
		if plan == "" {
			plan = config.DefaultPlan
		}
		specs = append(specs, acl.AccountSpec{
			Address: a.Address, PasswordHash: a.PasswordHash, Plan: plan,
			Groups: a.Groups, Aliases: a.Aliases, Team: a.Team,
		})
	}
	var shares []acl.Share
	for _, s := range cfg.Shares {
		shares = append(shares, acl.Share{Owner: s.Owner, Mailbox: s.Mailbox, Grantee: s.Grantee, Rights: s.Rights})
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
	srv, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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

	outbound     *smtpd.Outbound
	stopOutbound context.CancelFunc
	admin        *adminServer

	listeners []net.Listener
	wg        sync.WaitGroup
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
	if cfg.TLS.Configured() {
		if tlsConfig, err = loadTLS(cfg, log); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	}
	reg := imapd.NewRegistry()
	st, err := store.Open(ctx, store.Options{Dir: cfg.DataDir, Logger: log.With("component", "store"), OnChange: reg.Publish,
		MinFreeBytes: int64(cfg.Limits.MinFreeSpace)})
	if err != nil {
		return nil, err
	}
	s := &server{log: log, cfg: cfg, store: st, dir: acl.NewLive(dir)}
	if err := ensureInboxes(ctx, st, dir); err != nil {
		s.shutdown()
		return nil, err
	}
	s.imap = imapd.New(imapd.Options{
		Store: st, Registry: reg, Directory: s.dir, Logger: log, TLSConfig: tlsConfig,
		AppendLimit: int64(cfg.Limits.MessageSize), MaxMailboxes: cfg.Limits.MailboxesPerAccount,
		LoginTimeout: cfg.Limits.LoginTimeout.D(), IdleTimeout: cfg.Limits.IdleTimeout.D(),
		MaxConnections: cfg.Limits.Connections, MaxConnectionsPerIP: cfg.Limits.ConnectionsPerIP,
		MaxSessionsPerAccount: cfg.Limits.SessionsPerAccount,
		// While the IMAP engine is completed (docs/architecture.md), it
		// serves only when asked for; not an operator setting.
		Engine: os.Getenv("MAILROOM_IMAP_ENGINE") == "1",
	})
	var domains []string
	for _, d := range cfg.Domains {
		domains = append(domains, d.Name)
	}
	keys, err := loadDKIMKeys(cfg, log)
	if err != nil {
		s.shutdown()
		return nil, err
	}
	s.outbound = smtpd.NewOutbound(smtpd.OutboundOptions{
		Store: st, Directory: s.dir, Logger: log, Hostname: hostname(cfg), Domains: domains,
		Relay: cfg.Outbound.Relay, RelayUsername: cfg.Outbound.RelayUsername, RelayPassword: cfg.Outbound.RelayPassword,
		MaxAge: cfg.Outbound.MaxAge.D(), RetryInitial: cfg.Outbound.RetryInitial.D(), Workers: cfg.Outbound.Workers,
		DKIM: keys,
	})
	outCtx, stopOutbound := context.WithCancel(context.Background())
	s.stopOutbound = stopOutbound
	s.wg.Go(func() { s.outbound.Run(outCtx) })
	s.smtp = smtpd.New(smtpd.Options{
		Store: st, Directory: s.dir, Logger: log, Hostname: hostname(cfg), Domains: domains,
		TLSConfig: tlsConfig, MaxMessageBytes: int64(cfg.Limits.MessageSize),
		MaxRecipients: cfg.Limits.Recipients, Timeout: cfg.Limits.SMTPTimeout.D(),
		Queue: s.outbound, MaxConnections: cfg.Limits.Connections, MaxConnectionsPerIP: cfg.Limits.ConnectionsPerIP,
	})
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
		if name == "imaps" {
			ln = tls.NewListener(ln, tlsConfig)
		}
		s.listeners = append(s.listeners, ln)
		log.Info("listening", "listener", name, "addr", ln.Addr().String())
		serve := func() error {
			switch name {
			case "imap", "imaps":
				return s.imap.Serve(ln, imapd.ListenerOptions{InsecureAuth: l.AllowInsecureAuth})
			case "smtp":
				return s.smtp.Serve(ln, smtpd.ListenerOptions{Mode: smtpd.ModeMX})
			case "lmtp":
				return s.smtp.Serve(ln, smtpd.ListenerOptions{Mode: smtpd.ModeLMTP})
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
	log.Info("mailroom started", "data_dir", cfg.DataDir, "accounts", len(dir.Accounts()))
	return s, nil
}

// ensureInboxes gives every configured account its INBOX, so a team
// mailbox nobody logs in to is visible to its grantees before its first
// mail.
func ensureInboxes(ctx context.Context, st *store.Store, dir *acl.Directory) error {
	for _, a := range dir.Accounts() {
		if _, err := st.Inbox(ctx, a.Address); err != nil {
			return fmt.Errorf("INBOX of %s: %w", a.Address, err)
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

// reload applies a new configuration: the directory is swapped atomically
// and the log level changes; listener and store changes need a restart.
func (s *server) reload(cfg *config.Config, level *slog.LevelVar) error {
	dir, err := buildDirectory(cfg)
	if err != nil {
		return err
	}
	for _, name := range cfg.ListenerNames() {
		if cfg.Listener(name) != s.cfg.Listener(name) {
			s.log.Warn("listener changes take effect at restart", "listener", name)
		}
	}
	if cfg.DataDir != s.cfg.DataDir {
		s.log.Warn("data_dir changes take effect at restart")
	}
	if err := ensureInboxes(context.Background(), s.store, dir); err != nil {
		return err
	}
	s.dir.Store(dir)
	level.Set(parseLevel(cfg.Log.Level))
	s.cfg = cfg
	return nil
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
	if s.imap != nil {
		s.imap.Close()
	}
	if s.stopOutbound != nil {
		s.stopOutbound() // a delivery in progress is abandoned and retried later
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.log.Warn("listeners did not stop in 30s")
	}
	return s.store.Close()
}
