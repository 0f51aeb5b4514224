package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"mailroom/store"
)

// auditWriter stores the audit records IMAP and SMTP hand it, in batches,
// in the background: the action never waits for its record. A full
// buffer drops records and says so in the log.
type auditWriter struct {
	st    *store.Store
	log   *slog.Logger
	queue chan store.AuditRecord
	syncs chan chan struct{} // sync's requests
}

func newAuditWriter(st *store.Store, log *slog.Logger) *auditWriter {
	return &auditWriter{st: st, log: log.With("component", "audit"), queue: make(chan store.AuditRecord, 4096), syncs: make(chan chan struct{})}
}

// sync waits until what was noted before it is stored (the admin
// socket's "audit" reads everything up to now), or ctx ends.
func (a *auditWriter) sync(ctx context.Context) {
	done := make(chan struct{})
	select {
	case a.syncs <- done:
		select {
		case <-done:
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
}

// note is the hook IMAP and SMTP call; it never blocks.
func (a *auditWriter) note(r store.AuditRecord) {
	select {
	case a.queue <- r:
	default:
		a.log.Warn("audit buffer full; record dropped", "account", r.Account, "actor", r.Actor, "action", r.Action)
	}
}

// run writes until ctx ends, then what is left.
func (a *auditWriter) run(ctx context.Context) {
	var batch []store.AuditRecord
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := a.st.AddAudit(context.WithoutCancel(ctx), batch); err != nil {
			a.log.Error("writing the audit log", "records", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case r := <-a.queue:
			if batch = append(batch, r); len(batch) >= 200 {
				flush()
			}
		case <-tick.C:
			flush()
		case done := <-a.syncs:
			for len(a.queue) > 0 {
				batch = append(batch, <-a.queue)
			}
			flush()
			close(done)
		case <-ctx.Done():
			for {
				select {
				case r := <-a.queue:
					batch = append(batch, r)
				default:
					flush()
					return
				}
			}
		}
	}
}

// auditRequest is the admin socket's "audit" query.
type auditRequest struct {
	Account, User string
	Since         time.Time
}

func readAudit(ctx context.Context, st *store.Store, req auditRequest) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	err := st.AuditLog(ctx, store.AuditFilter{Account: req.Account, Actor: req.User, Since: req.Since}, func(r store.AuditRecord) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// cmdAudit prints the audit log: mailroom audit [-account A] [-user U]
// [-since 24h|2026-11-01] [-json].
func cmdAudit(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	path := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	account := fs.String("account", "", "only actions in this account's mailboxes")
	user := fs.String("user", "", "only actions by this user")
	since := fs.String("since", "", "only from this time: a duration back (\"24h\") or a date (\"2026-11-01\")")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	req := auditRequest{Account: *account, User: *user}
	if *since != "" {
		if d, err := time.ParseDuration(*since); err == nil {
			req.Since = time.Now().Add(-d)
		} else if t, err := time.ParseInLocation(time.DateOnly, *since, time.Local); err == nil {
			req.Since = t
		} else if t, err := time.Parse(time.RFC3339, *since); err == nil {
			req.Since = t
		} else {
			return usageError{fmt.Errorf("-since %q: want a duration (24h) or a date (2026-11-01)", *since)}
		}
	}
	cfg, err := loadConfig(*path, *dataDir)
	if err != nil {
		return err
	}
	var recs []store.AuditRecord
	if sock := cfg.AdminSocket(); sock == "" || adminCallArgs(ctx, sock, "audit", req, &recs) != nil {
		s, err := store.Open(ctx, store.Options{Dir: cfg.DataDir})
		if err != nil {
			return err
		}
		defer s.Close()
		if recs, err = readAudit(ctx, s, req); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUSER\tACTION\tACCOUNT\tMAILBOX\tDETAIL")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format(time.DateTime), r.Actor, r.Action, r.Account, r.Mailbox, r.Detail)
	}
	return tw.Flush()
}
