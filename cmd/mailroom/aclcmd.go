package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"mailroom/acl"
	"mailroom/store"
)

// aclRequest is an operator's ACL change or query, the same whether it is
// carried out here or by a running server through the admin socket.
type aclRequest struct {
	Op         string `json:"op"` // list, grant, revoke, seen
	Account    string `json:"account,omitempty"`
	Mailbox    string `json:"mailbox,omitempty"`
	Identifier string `json:"identifier,omitempty"`
	Rights     string `json:"rights,omitempty"`
	// Seen is seen's new mode: shared, private, default (the configured
	// one), or empty to ask.
	Seen string `json:"seen,omitempty"`
}

// aclRow is one line of `mailroom acl list`.
type aclRow struct {
	Account    string `json:"account"`
	Mailbox    string `json:"mailbox"`
	Identifier string `json:"identifier"`
	Rights     string `json:"rights"`
	Source     string `json:"source"` // "imap" (SETACL or this command) or "config"
	// Seen is how \Seen is kept on the mailbox (list: "shared" or
	// "private"; "" for the operator's grants of all of an account).
	Seen string `json:"seen,omitempty"`
}

// runACL carries out req against a store and directory, with the same
// gating as SETACL.
func runACL(ctx context.Context, st *store.Store, dir *acl.Directory, req aclRequest) ([]aclRow, error) {
	if req.Op == "list" {
		return listACL(ctx, st, dir, req.Account)
	}
	owner, ok := dir.Lookup(req.Account)
	if !ok {
		return nil, fmt.Errorf("no account %q", req.Account)
	}
	m, err := st.MailboxByName(ctx, owner.Address, req.Mailbox)
	if err != nil {
		return nil, fmt.Errorf("%s's mailbox %q: %w", owner.Address, req.Mailbox, err)
	}
	if req.Op == "seen" {
		return seenACL(ctx, st, dir, owner, m, req.Seen)
	}
	id, err := dir.CanonicalIdentifier(req.Identifier)
	if err != nil {
		return nil, err
	}
	switch req.Op {
	case "grant":
		if r, err := acl.ParseRights(req.Rights); err != nil || r == 0 {
			return nil, fmt.Errorf("rights %q: want letters of lrswipkxtea", req.Rights)
		}
		_, err := dir.SetRights(ctx, st, owner, m.ID, id, req.Rights)
		return nil, err
	case "revoke":
		return nil, st.SetACL(ctx, m.ID, id, "")
	}
	return nil, fmt.Errorf("unknown acl operation %q", req.Op)
}

// seenACL sets how \Seen is kept on mailbox m (the METADATA entry
// acl.SeenEntry, as its owner would set it over IMAP; "default" removes
// it) and returns the mode now in force, with where it comes from.
func seenACL(ctx context.Context, st *store.Store, dir *acl.Directory, owner *acl.Account, m *store.Mailbox, mode string) ([]aclRow, error) {
	scope := store.MetadataScope{Mailbox: m.ID}
	switch mode {
	case "":
	case acl.SeenShared, acl.SeenPrivate:
		if err := st.SetMetadata(ctx, []store.MetadataWrite{{Scope: scope, Name: acl.SeenEntry, Value: []byte(mode)}}, store.MetadataLimits{}); err != nil {
			return nil, err
		}
	case "default":
		if err := st.SetMetadata(ctx, []store.MetadataWrite{{Scope: scope, Name: acl.SeenEntry}}, store.MetadataLimits{}); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("seen mode %q: want shared, private or default", mode)
	}
	mode, source, err := seenOf(ctx, st, dir, owner, m)
	if err != nil {
		return nil, err
	}
	return []aclRow{{Account: owner.Address, Mailbox: m.Name, Rights: mode, Source: source}}, nil
}

// seenOf returns how \Seen is kept on mailbox m of owner, and where that
// comes from: the mailbox's own setting, the configuration or the
// default.
func seenOf(ctx context.Context, st *store.Store, dir *acl.Directory, owner *acl.Account, m *store.Mailbox) (mode, source string, err error) {
	var explicit string
	if err := st.GetMetadata(ctx, store.MetadataScope{Mailbox: m.ID}, acl.SeenEntry, 0, func(e store.MetadataEntry) error {
		explicit = string(e.Value)
		return nil
	}); err != nil {
		return "", "", err
	}
	source = "mailbox"
	switch {
	case explicit == acl.SeenShared || explicit == acl.SeenPrivate:
	case dir.ConfiguredSeen(owner, m.Name) != "":
		source = "config"
	default:
		source = "default"
	}
	return dir.SeenMode(owner, m.Name, explicit), source, nil
}

func listACL(ctx context.Context, st *store.Store, dir *acl.Directory, only string) ([]aclRow, error) {
	var rows []aclRow
	for _, a := range dir.Accounts() {
		if only != "" && acl.Fold(only) != acl.Fold(a.Address) {
			continue
		}
		boxes, err := st.Mailboxes(ctx, a.Address)
		if err != nil {
			return nil, err
		}
		seen := func(name string) (string, error) {
			for _, m := range boxes {
				if m.Name == name {
					mode, _, err := seenOf(ctx, st, dir, a, m)
					return mode, err
				}
			}
			return "", nil // not created yet
		}
		for _, sh := range dir.Shares() {
			if acl.Fold(sh.Owner) == acl.Fold(a.Address) {
				row := aclRow{Account: a.Address, Mailbox: sh.Mailbox, Identifier: sh.Grantee, Rights: sh.Rights, Source: "config"}
				if row.Mailbox == "" {
					row.Mailbox = "*"
				} else if row.Seen, err = seen(sh.Mailbox); err != nil {
					return nil, err
				}
				rows = append(rows, row)
			}
		}
		for _, m := range boxes {
			entries, err := st.ACL(ctx, m.ID)
			if err != nil {
				return nil, err
			}
			var mode string
			if len(entries) > 0 {
				if mode, _, err = seenOf(ctx, st, dir, a, m); err != nil {
					return nil, err
				}
			}
			for _, e := range entries {
				rows = append(rows, aclRow{Account: a.Address, Mailbox: m.Name, Identifier: e.Identifier, Rights: e.Rights, Source: "imap", Seen: mode})
			}
		}
	}
	return rows, nil
}

const aclUsage = `usage:
  mailroom acl list   [-c FILE] [-data DIR] [ACCOUNT]
  mailroom acl grant  [-c FILE] [-data DIR] ACCOUNT MAILBOX IDENTIFIER RIGHTS
  mailroom acl revoke [-c FILE] [-data DIR] ACCOUNT MAILBOX IDENTIFIER
  mailroom acl seen   [-c FILE] [-data DIR] ACCOUNT MAILBOX [shared|private|default]
IDENTIFIER is an address, group:NAME, anyone, or one of them with a leading
"-" for a negative entry; RIGHTS are RFC 4314 letters (lrswipkxtea).
list shows each grant with its source (imap or config) and how \Seen is kept
on its mailbox (SEEN: shared or private; - for a grant of a whole account).
seen: one \Seen for everyone (shared) or each user's own (private) on the
mailbox; default follows the configuration ([[share]] seen, else shared
for a team account or one without a password, private for a person's);
without a mode it prints the mode in force and where it comes from
(mailbox, config or default).
`

func cmdACL(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, aclUsage)
		return usageError{errors.New("missing operation")}
	}
	op := args[0]
	fs := flag.NewFlagSet("acl "+op, flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	rest := fs.Args()
	req := aclRequest{Op: op}
	switch {
	case op == "list" && len(rest) <= 1:
		if len(rest) == 1 {
			req.Account = rest[0]
		}
	case op == "grant" && len(rest) == 4:
		req.Account, req.Mailbox, req.Identifier, req.Rights = rest[0], rest[1], rest[2], rest[3]
	case op == "revoke" && len(rest) == 3:
		req.Account, req.Mailbox, req.Identifier = rest[0], rest[1], rest[2]
	case op == "seen" && (len(rest) == 2 || len(rest) == 3):
		req.Account, req.Mailbox = rest[0], rest[1]
		if len(rest) == 3 {
			req.Seen = rest[2]
		}
	default:
		fmt.Fprint(out, aclUsage)
		return usageError{errors.New("bad arguments")}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	var rows []aclRow
	if err := callOrRun(ctx, cfg, "acl", req, &rows, func(ctx context.Context, st *store.Store, dir *acl.Directory) ([]aclRow, error) {
		return runACL(ctx, st, dir, req)
	}); err != nil {
		return err
	}
	if op == "seen" && len(rows) == 1 {
		fmt.Fprintf(out, "%s %s: %s (%s)\n", rows[0].Account, rows[0].Mailbox, rows[0].Rights, rows[0].Source)
		return nil
	}
	if op != "list" {
		fmt.Fprintln(out, "ok")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tMAILBOX\tIDENTIFIER\tRIGHTS\tSOURCE\tSEEN")
	for _, r := range rows {
		seen := r.Seen
		if seen == "" {
			seen = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, r.Mailbox, r.Identifier, r.Rights, r.Source, seen)
	}
	return tw.Flush()
}

// errNoSocket means no running server answered on the admin socket.
var errNoSocket = errors.New("no server on the admin socket")

func marshalArgs(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
