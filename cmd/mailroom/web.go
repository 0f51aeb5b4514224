package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/store"
	"mailroom/web"
)

// webOptions returns what the HTTP(S) listeners serve, from the
// configuration: clients are sent to the ports the server listens on.
func (s *server) webOptions(cfg *config.Config) (web.Options, error) {
	o := web.Options{
		Logger:   s.log.With("component", "web"),
		Hostname: hostname(cfg), Domains: domainNames(cfg),
		IMAP:         endpoints(cfg, "imaps", "imap"),
		Submission:   endpoints(cfg, "submissions", "submission"),
		MTASTSMode:   cfg.Web.MTASTSMode,
		MTASTSMaxAge: cfg.Web.MTASTSMaxAge.D(),
	}
	if s.acme != nil {
		o.HTTPChallenge = s.acme.HTTPHandler
	}
	o.Audit = s.readAudit
	if cfg.Web.Metrics {
		auth, err := metricsAuth(cfg.Web)
		if err != nil {
			return o, err
		}
		o.Metrics, o.MetricsAuth = s.metricsHandler, auth
	}
	return o, nil
}

// endpoints lists the enabled listeners of the implicit-TLS name and the
// STARTTLS one, in that order (RFC 8314 prefers implicit TLS).
func endpoints(cfg *config.Config, implicit, starttls string) []web.Endpoint {
	var out []web.Endpoint
	for _, name := range []string{implicit, starttls} {
		if name == implicit && !cfg.TLS.Configured() {
			continue
		}
		port := listenerPort(cfg, name)
		if port == 0 {
			continue
		}
		out = append(out, web.Endpoint{Port: port, ImplicitTLS: name == implicit})
	}
	return out
}

// newWeb returns the HTTP(S) server of a starting server.
func newWeb(s *server, cfg *config.Config) (*web.Server, error) {
	o, err := s.webOptions(cfg)
	if err != nil {
		return nil, err
	}
	return web.New(o), nil
}

// printClientDNS prints the records that let clients and other servers
// find what the HTTP(S) listeners serve: RFC 6186 SRV records (with
// RFC 8314's _submissions), the autoconfig/autodiscover/mta-sts names, the
// _mta-sts policy id (RFC 8461) and TLS reporting (RFC 8460).
func printClientDNS(out io.Writer, cfg *config.Config, domain, host string) {
	fmt.Fprintf(out, "; Client configuration (RFC 6186; a target of \".\" says the service is not offered)\n")
	for _, svc := range []struct{ srv, listener string }{
		{"_imaps", "imaps"}, {"_imap", "imap"}, {"_submissions", "submissions"}, {"_submission", "submission"},
	} {
		port := listenerPort(cfg, svc.listener)
		if port == 0 || (svc.listener == "imaps" || svc.listener == "submissions") && !cfg.TLS.Configured() {
			fmt.Fprintf(out, "%s._tcp.%s. IN SRV 0 0 0 .\n", svc.srv, domain)
			continue
		}
		fmt.Fprintf(out, "%s._tcp.%s. IN SRV 0 1 %d %s.\n", svc.srv, domain, port, host)
	}
	fmt.Fprintf(out, "_pop3._tcp.%s. IN SRV 0 0 0 .\n_pop3s._tcp.%s. IN SRV 0 0 0 .\n", domain, domain)
	if !cfg.Listener("http").Enabled() && !cfg.Listener("https").Enabled() {
		fmt.Fprintf(out, "; autoconfig, autodiscover and MTA-STS need [listeners.http] and [listeners.https]\n")
	} else {
		for _, n := range []string{"autoconfig", "autodiscover", "mta-sts"} {
			fmt.Fprintf(out, "%s.%s. IN CNAME %s.\n", n, domain, host)
		}
		if port := listenerPort(cfg, "https"); port != 0 {
			fmt.Fprintf(out, "_autodiscover._tcp.%s. IN SRV 0 1 %d %s.\n", domain, port, host)
		}
		policy := web.MTASTSPolicy(cfg.Web.MTASTSMode, host, int64(cfg.Web.MTASTSMaxAge.D().Seconds()))
		fmt.Fprintf(out, "; MTA-STS: the policy is served at https://mta-sts.%s/.well-known/mta-sts.txt (port 443, a certificate for that name)\n", domain)
		fmt.Fprintf(out, "_mta-sts.%s. IN TXT \"v=STSv1; id=%s\"\n", domain, web.MTASTSID(policy))
	}
	fmt.Fprintf(out, "_smtp._tls.%s. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@%s\"\n", domain, domain)
}

// listenerPort is the TCP port of an enabled listener, else 0.
func listenerPort(cfg *config.Config, name string) int {
	l := cfg.Listener(name)
	if !l.Enabled() {
		return 0
	}
	_, p, err := net.SplitHostPort(l.Address)
	if err != nil {
		return 0
	}
	port, _ := strconv.Atoi(p)
	return port
}

// readAudit is web.Options.Audit: it checks the credentials (slowed
// after failures as every login is) and returns the records of the log
// since the given time that the user may read (acl.AuditReader).
func (s *server) readAudit(ctx context.Context, remote net.Addr, user, pass string, since time.Time, limit int) ([]store.AuditRecord, error) {
	name := acl.Fold(user)
	if d := s.webLogins.Delay(name, remote); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	dir := s.dir.Load()
	a, err := dir.Authenticate(user, pass)
	if err != nil {
		s.webLogins.Fail(name, remote)
		s.metrics.Login("http", false)
		s.log.Warn("login failed", "proto", "http", "user", user, "remote", remote)
		return nil, web.ErrUnauthorized
	}
	s.webLogins.Succeed(name, remote)
	s.metrics.Login("http", true)
	if s.audit != nil {
		s.audit.sync(ctx) // what is pending is part of the answer
	}
	reader := dir.AuditReader(s.store, a)
	var out []store.AuditRecord
	errFull := errors.New("enough records")
	err = s.store.AuditLog(ctx, store.AuditFilter{Since: since}, func(r store.AuditRecord) error {
		may, err := reader.May(ctx, r)
		if err != nil || !may {
			return err
		}
		out = append(out, r)
		if len(out) == limit {
			return errFull
		}
		return nil
	})
	if errors.Is(err, errFull) {
		err = nil
	}
	return out, err
}
