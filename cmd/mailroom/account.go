package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/store"
)

const accountUsage = `usage:
  mailroom account list [-c FILE] [-data DIR]            accounts in the store and in the configuration
  mailroom account show [-c FILE] [-data DIR] ADDRESS    an account's mailboxes, usage and quota
  mailroom account purge [-c FILE] [-data DIR] [-yes] ADDRESS
                                                         delete the mail of an account no longer configured
`

// accountRequest is the admin socket's "account" command.
type accountRequest struct {
	Op      string `json:"op"` // list, show, purge
	Address string `json:"address,omitempty"`
}

// accountInfo is one account as list and show report it.
type accountInfo struct {
	store.AccountSummary
	// Configured: the account is in the configuration (one that is not
	// but has mail is a candidate for purge).
	Configured bool  `json:"configured"`
	Quota      int64 `json:"quota,omitempty"`
	// Usage is the share of its quota used (0 without a quota).
	Usage       float64       `json:"usage,omitempty"`
	MailboxList []mailboxInfo `json:"mailbox_list,omitempty"`
}

type mailboxInfo struct {
	Name     string `json:"name"`
	Messages uint32 `json:"messages"`
	Unseen   uint32 `json:"unseen"`
	Bytes    int64  `json:"bytes"`
}

// runAccount carries out an account request on a store with the running
// directory (the server's, or the configuration's when it is stopped).
func runAccount(ctx context.Context, st *store.Store, dir *acl.Directory, req accountRequest) (any, error) {
	info := func(address string, withMailboxes bool) (accountInfo, error) {
		sum, mbs, err := st.AccountSummary(ctx, address)
		if err != nil {
			return accountInfo{}, err
		}
		ai := accountInfo{AccountSummary: sum}
		if a, ok := dir.Lookup(address); ok && strings.EqualFold(a.Address, address) {
			ai.Configured, ai.Account = true, a.Address
			if ai.Quota = a.Plan.Quota; ai.Quota > 0 {
				ai.Usage = float64(sum.Bytes) / float64(ai.Quota)
			}
		}
		if withMailboxes {
			for _, m := range mbs {
				ai.MailboxList = append(ai.MailboxList, mailboxInfo{Name: m.Name, Messages: m.Messages, Unseen: m.Unseen, Bytes: m.Size})
			}
		}
		return ai, nil
	}
	switch req.Op {
	case "list":
		names, err := st.Accounts(ctx)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var out []accountInfo
		for _, n := range names {
			ai, err := info(n, false)
			if err != nil {
				return nil, err
			}
			seen[strings.ToLower(n)] = true
			out = append(out, ai)
		}
		for _, a := range dir.Accounts() {
			if !seen[strings.ToLower(a.Address)] {
				out = append(out, accountInfo{AccountSummary: store.AccountSummary{Account: a.Address}, Configured: true, Quota: a.Plan.Quota})
			}
		}
		return out, nil
	case "show":
		ai, err := info(req.Address, true)
		if err == nil && !ai.Configured && ai.MailboxList == nil {
			err = fmt.Errorf("%s has no mail and is not configured", req.Address)
		}
		return ai, err
	case "purge":
		if _, ok := dir.Lookup(req.Address); ok {
			return nil, fmt.Errorf("%s is still configured (an account or an alias): remove it from the configuration and reload first", req.Address)
		}
		ai, err := info(req.Address, false)
		if err != nil {
			return nil, err
		}
		if ai.AccountSummary.Mailboxes == 0 {
			return nil, fmt.Errorf("%s has no mailboxes in the store", req.Address)
		}
		if err := st.PurgeAccount(ctx, req.Address); err != nil {
			return nil, err
		}
		return ai, nil
	}
	return nil, fmt.Errorf("unknown account operation %q", req.Op)
}

// callAccount sends req to a running server, or carries it out on the
// data directory when none answers.
func callAccount(ctx context.Context, cfg *config.Config, req accountRequest, out any) error {
	var raw json.RawMessage
	if err := callOrRun(ctx, cfg, "account", req, &raw, func(ctx context.Context, st *store.Store, dir *acl.Directory) (json.RawMessage, error) {
		res, err := runAccount(ctx, st, dir, req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	}); err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

func cmdAccount(ctx context.Context, args []string, in *os.File, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, accountUsage)
		return usageError{errors.New("missing operation")}
	}
	op := args[0]
	fs := flag.NewFlagSet("account "+op, flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	yes := fs.Bool("yes", false, "purge without asking")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	req := accountRequest{Op: op}
	switch {
	case op == "list" && fs.NArg() == 0:
	case (op == "show" || op == "purge") && fs.NArg() == 1:
		req.Address = fs.Arg(0)
	default:
		fmt.Fprint(out, accountUsage)
		return usageError{errors.New("bad arguments")}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	switch op {
	case "list":
		var list []accountInfo
		if err := callAccount(ctx, cfg, req, &list); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tCONFIGURED\tMAILBOXES\tMESSAGES\tBYTES\tQUOTA USED")
		for _, a := range list {
			used := "-"
			if a.Quota > 0 {
				used = fmt.Sprintf("%.0f%%", a.Usage*100)
			}
			fmt.Fprintf(tw, "%s\t%v\t%d\t%d\t%d\t%s\n", a.Account, a.Configured, a.AccountSummary.Mailboxes, a.Messages, a.Bytes, used)
		}
		return tw.Flush()
	case "show":
		var a accountInfo
		if err := callAccount(ctx, cfg, req, &a); err != nil {
			return err
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	}
	// purge: say what goes, and ask.
	var a accountInfo
	if err := callAccount(ctx, cfg, accountRequest{Op: "show", Address: req.Address}, &a); err != nil {
		return err
	}
	if a.Configured {
		return fmt.Errorf("%s is still configured: remove it from the configuration and reload first", req.Address)
	}
	fmt.Fprintf(out, "%s: %d mailboxes, %d messages, %d bytes will be deleted for good.\n", a.Account, a.AccountSummary.Mailboxes, a.Messages, a.Bytes)
	if !*yes {
		if !term.IsTerminal(int(in.Fd())) {
			return errors.New("not purged: confirm with -yes when not on a terminal")
		}
		fmt.Fprintf(out, "Type the address to confirm: ")
		line, _ := bufio.NewReader(in).ReadString('\n')
		if !strings.EqualFold(strings.TrimSpace(line), a.Account) {
			return errors.New("not purged: the address typed does not match")
		}
	}
	var done accountInfo
	if err := callAccount(ctx, cfg, req, &done); err != nil {
		return err
	}
	fmt.Fprintf(out, "purged %s\n", done.Account)
	return nil
}
