package main

import (
	"crypto/tls"
	"log/slog"
	"net"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/managesieve"
	"mailroom/sieve"
	"mailroom/smtpd"
	"mailroom/store"
)

// sieveOptions returns the delivery-time Sieve options the configuration
// sets; a reload applies them (smtpd.Server.SetOptions). The global
// script itself is read at each delivery, so editing it needs no reload.
func sieveOptions(cfg *config.Config) smtpd.SieveOptions {
	lim := sieve.DefaultLimits
	lim.MaxRedirects = cfg.Sieve.MaxRedirects
	return smtpd.SieveOptions{Global: cfg.Sieve.Global, Limits: &lim}
}

// sieveServer is the ManageSieve server (named here so that serve.go
// need not import the package).
type sieveServer = managesieve.Server

func newManageSieve(cfg *config.Config, st *store.Store, dir *acl.Live, log *slog.Logger, tlsConfig *tls.Config) *sieveServer {
	return managesieve.New(manageSieveOptions(cfg, st, dir, log, tlsConfig))
}

func serveManageSieve(s *sieveServer, ln net.Listener, insecureAuth bool) error {
	return s.Serve(ln, managesieve.ListenerOptions{InsecureAuth: insecureAuth})
}

// manageSieveOptions returns the ManageSieve options: the same
// connection and login limits as IMAP.
func manageSieveOptions(cfg *config.Config, st *store.Store, dir *acl.Live, log *slog.Logger, tlsConfig *tls.Config) managesieve.Options {
	l := cfg.Limits
	lim := sieve.DefaultLimits
	lim.MaxRedirects = cfg.Sieve.MaxRedirects
	return managesieve.Options{
		Store: st, Directory: dir, Logger: log, TLSConfig: tlsConfig, Limits: &lim,
		Timeout:        l.IdleTimeout.D(),
		MaxConnections: l.Connections, MaxConnectionsPerIP: l.ConnectionsPerIP,
	}
}
