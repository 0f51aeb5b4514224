package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"mailroom/acl"
	"mailroom/store"
)

const mailboxUsage = `usage: mailroom mailbox list ACCOUNT
       mailroom mailbox create [-special \Archive] ACCOUNT NAME
       mailroom mailbox rename ACCOUNT FROM TO
       mailroom mailbox delete ACCOUNT NAME
  (also -c FILE, -data DIR) An operator's way to shape an account's
  folders, a team account's above all: a new folder inherits its parent's
  rights. Through the admin socket while the server runs.
`

// mailboxRequest is one `mailroom mailbox` operation.
type mailboxRequest struct {
	Op      string `json:"op"` // list, create, rename, delete
	Account string `json:"account"`
	Name    string `json:"name,omitempty"`
	To      string `json:"to,omitempty"`
	Special string `json:"special,omitempty"`
}

// mailboxRow is one line of `mailroom mailbox list`.
type mailboxRow struct {
	Name     string `json:"name"`
	Special  string `json:"special,omitempty"`
	Messages uint32 `json:"messages"`
	Unseen   uint32 `json:"unseen"`
	Size     int64  `json:"size"`
}

// runMailbox does a mailbox operation on the store, for a configured
// account.
func runMailbox(ctx context.Context, st *store.Store, dir *acl.Directory, req mailboxRequest) ([]mailboxRow, error) {
	a, ok := dir.Lookup(req.Account)
	if !ok {
		return nil, fmt.Errorf("no account %q in the configuration", req.Account)
	}
	var err error
	switch req.Op {
	case "list":
		boxes, lerr := st.Mailboxes(ctx, a.Address)
		if lerr != nil {
			return nil, lerr
		}
		var rows []mailboxRow
		for _, m := range boxes {
			rows = append(rows, mailboxRow{Name: m.Name, Special: m.SpecialUse, Messages: m.Messages, Unseen: m.Unseen, Size: m.Size})
		}
		return rows, nil
	case "create":
		_, err = st.CreateMailbox(ctx, a.Address, req.Name, store.CreateOptions{SpecialUse: req.Special, InheritACL: true})
	case "rename":
		err = st.RenameMailbox(ctx, a.Address, req.Name, req.To)
	case "delete":
		err = st.DeleteMailbox(ctx, a.Address, req.Name)
	default:
		err = fmt.Errorf("unknown mailbox operation %q", req.Op)
	}
	return nil, err
}

// cmdMailbox is `mailroom mailbox list|create|rename|delete`.
func cmdMailbox(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, mailboxUsage)
		return usageError{errors.New("missing operation")}
	}
	op := args[0]
	fs := flag.NewFlagSet("mailbox "+op, flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	special := fs.String("special", "", `special use of a new mailbox: \Archive, \Drafts, \Junk, \Sent or \Trash`)
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	rest := fs.Args()
	req := mailboxRequest{Op: op, Special: *special}
	switch {
	case op == "list" && len(rest) == 1:
		req.Account = rest[0]
	case (op == "create" || op == "delete") && len(rest) == 2:
		req.Account, req.Name = rest[0], rest[1]
	case op == "rename" && len(rest) == 3:
		req.Account, req.Name, req.To = rest[0], rest[1], rest[2]
	default:
		fmt.Fprint(out, mailboxUsage)
		return usageError{errors.New("bad arguments")}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	var rows []mailboxRow
	if err := callOrRun(ctx, cfg, "mailbox", req, &rows, func(ctx context.Context, st *store.Store, dir *acl.Directory) ([]mailboxRow, error) {
		return runMailbox(ctx, st, dir, req)
	}); err != nil {
		return err
	}
	if op != "list" {
		fmt.Fprintln(out, "ok")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MAILBOX\tSPECIAL\tMESSAGES\tUNSEEN\tBYTES")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", r.Name, r.Special, r.Messages, r.Unseen, r.Size)
	}
	return tw.Flush()
}
