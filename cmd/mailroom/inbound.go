package main

import (
	"context"
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

// junkLearner trains rspamd with what users move into and out of Junk, in
// the background: a bounded queue (a message that finds it full is not
// learnt, and that is logged), one worker.
type junkLearner struct {
	l     *inbound.Learner
	log   *slog.Logger
	queue chan learnItem
}

type learnItem struct {
	msg  []byte
	spam bool
}

// newJunkLearner returns nil without [spam] learn.
func newJunkLearner(cfg *config.Config, log *slog.Logger) *junkLearner {
	if cfg.Spam.Learn == "" {
		return nil
	}
	return &junkLearner{
		l:     &inbound.Learner{URL: cfg.Spam.Learn, Password: cfg.Spam.LearnPassword},
		log:   log.With("component", "rspamd-learn"),
		queue: make(chan learnItem, 64),
	}
}

// note is the IMAP engine's OnJunk: it never blocks.
func (j *junkLearner) note(msg []byte, spam bool) {
	select {
	case j.queue <- learnItem{msg, spam}:
	default:
		j.log.Warn("learning queue full; message not learnt", "spam", spam)
	}
}

// run learns until ctx ends.
func (j *junkLearner) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-j.queue:
			if err := j.l.Learn(ctx, it.msg, it.spam); err != nil && ctx.Err() == nil {
				j.log.Warn("learning", "spam", it.spam, "err", err)
			}
		}
	}
}
