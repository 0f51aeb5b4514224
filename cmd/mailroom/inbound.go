package main

import (
	"log/slog"
	"strings"

	"mailroom/config"
	"mailroom/inbound"
)

// newChecker builds the inbound checks of mail from outside: SPF, DKIM
// and DMARC always, DNSBL and rspamd as [spam] says, every lookup through
// the one resolver.
func newChecker(cfg *config.Config, r inbound.Resolver, log *slog.Logger) *inbound.Checker {
	opts := inbound.Options{Resolver: r, AuthservID: hostname(cfg), Logger: log.With("component", "inbound"), DNSBL: cfg.Spam.DNSBL}
	if cfg.Spam.Rspamd != "" {
		opts.Rspamd = &inbound.Rspamd{URL: cfg.Spam.Rspamd, TempFailOnError: cfg.Spam.OnError == "tempfail"}
	}
	c := inbound.New(opts)
	c.SetLocalDomains(fromPolicies(cfg))
	return c
}

// fromPolicies is each local domain's unauthenticated_from.
func fromPolicies(cfg *config.Config) map[string]inbound.FromPolicy {
	m := map[string]inbound.FromPolicy{}
	for _, d := range cfg.Domains {
		m[strings.ToLower(d.Name)] = inbound.FromPolicy(d.UnauthenticatedFrom)
	}
	return m
}
