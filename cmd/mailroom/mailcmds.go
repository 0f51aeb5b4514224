package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"mailroom/config"
	"mailroom/smtpd"
	"mailroom/store"
)

// cmdQueue lists the outbound queue: what waits, for whom, and why.
func cmdQueue(ctx context.Context, args []string, out io.Writer) error {
	path, dataDir, err := commonFlags("queue", args, true)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(path, dataDir)
	if err != nil {
		return err
	}
	var entries []*store.QueueEntry
	if sock := cfg.AdminSocket(); sock == "" || adminCall(ctx, sock, "queue", &entries) != nil {
		s, err := store.Open(ctx, store.Options{Dir: cfg.DataDir})
		if err != nil {
			return err
		}
		defer s.Close()
		if entries, err = s.QueueEntries(ctx); err != nil {
			return err
		}
	}
	if len(entries) == 0 {
		fmt.Fprintln(out, "queue is empty")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUEUED\tSIZE\tATTEMPTS\tNEXT TRY\tFROM\tRECIPIENT\tSTATE\tLAST ERROR")
	for _, e := range entries {
		from := e.From
		if from == "" {
			from = "<>"
		}
		for _, r := range e.Rcpts {
			state := r.State.String()
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Created.Format(time.DateTime), e.Size,
				e.Attempts, e.Next.Format(time.DateTime), from, r.Addr, state, r.LastError)
		}
	}
	return tw.Flush()
}

// cmdDKIMKeygen writes a DKIM key and prints its DNS record.
func cmdDKIMKeygen(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dkim-keygen", flag.ContinueOnError)
	domain := fs.String("domain", "", "the signing `domain`")
	selector := fs.String("selector", "", "the DKIM `selector`")
	kind := fs.String("type", "rsa", "key type: rsa (2048 bits) or ed25519")
	outFile := fs.String("out", "", "key `file` to write (default: <domain>.<selector>.pem here)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *domain == "" || *selector == "" || fs.NArg() > 0 {
		fs.Usage()
		return usageError{errors.New("-domain and -selector are required")}
	}
	path := *outFile
	if path == "" {
		path = *domain + "." + *selector + ".pem"
	}
	key, err := smtpd.GenerateDKIMKey(path, *kind)
	if err != nil {
		return err
	}
	rec, err := smtpd.DKIMRecord(key)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "; key written to %s; set dkim_selector = %q and dkim_key = %q for %s\n", path, *selector, path, *domain)
	fmt.Fprintf(out, "%s._domainkey.%s. IN TXT %s\n", *selector, *domain, smtpd.TXTStrings(rec))
	return nil
}

// cmdDNS prints the records a domain needs, in zone-file syntax.
func cmdDNS(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	domain := fs.String("domain", "", "the `domain` to print records for")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *domain == "" || fs.NArg() > 0 {
		fs.Usage()
		return usageError{errors.New("-domain is required")}
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	var d *config.Domain
	for i := range cfg.Domains {
		if strings.EqualFold(cfg.Domains[i].Name, *domain) {
			d = &cfg.Domains[i]
		}
	}
	if d == nil {
		return fmt.Errorf("%s is not one of the configured domains", *domain)
	}
	host := hostname(cfg)
	name := strings.ToLower(d.Name)
	fmt.Fprintf(out, "; DNS records for %s (mail host %s)\n", name, host)
	fmt.Fprintf(out, "%s. IN MX 10 %s.\n", name, host)
	if relay := cfg.Outbound.Relay; relay != "" {
		// Mail leaves through the smarthost, whose addresses receivers
		// check: "mx -all" alone would fail every message.
		relayHost, _, _ := net.SplitHostPort(relay)
		fmt.Fprintf(out, "; SPF: outbound mail leaves through the relay %s (outbound.relay), so receivers check its addresses.\n", relayHost)
		fmt.Fprintf(out, "; Replace RELAY-SPF with the mechanism your relay provider documents (e.g. include:spf.provider.example,\n")
		fmt.Fprintf(out, "; or ip4:/ip6: of its servers), then publish the record without the leading \";\":\n")
		fmt.Fprintf(out, "; %s. IN TXT \"v=spf1 mx RELAY-SPF -all\"\n", name)
	} else {
		fmt.Fprintf(out, "%s. IN TXT \"v=spf1 mx -all\"\n", name)
	}
	if d.DKIMSelector != "" {
		key, err := smtpd.LoadDKIMKey(cfg.DKIMKeyPath(*d))
		switch {
		case errors.Is(err, os.ErrNotExist) && d.DKIMGenerate:
			fmt.Fprintf(out, "; DKIM: the key is generated when the server first starts; run this again then\n")
		case err != nil:
			return fmt.Errorf("DKIM key: %w", err)
		default:
			rec, err := smtpd.DKIMRecord(key)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s._domainkey.%s. IN TXT %s\n", d.DKIMSelector, name, smtpd.TXTStrings(rec))
		}
	} else {
		fmt.Fprintf(out, "; DKIM: no dkim_selector for %s, so mail from it is not signed\n", name)
	}
	if pm, ok := cfg.Postmasters()[name]; ok {
		fmt.Fprintf(out, "; DMARC reports go to postmaster@%s, which is delivered to %s\n", name, pm)
	}
	fmt.Fprintf(out, "_dmarc.%s. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"\n", name, name)
	printClientDNS(out, cfg, name, host)
	return nil
}

// fsckResult is what `mailroom fsck` reports.
type fsckResult struct {
	Problems []string `json:"problems"`
	Repaired bool     `json:"repaired"`
	// Remaining is what a check after the repair still finds.
	Remaining []string `json:"remaining,omitempty"`
}

func runFsck(ctx context.Context, st *store.Store, repair bool) (fsckResult, error) {
	if !repair {
		p, err := st.Check(ctx)
		return fsckResult{Problems: p}, err
	}
	p, err := st.Repair(ctx)
	if err != nil {
		return fsckResult{Problems: p}, err
	}
	rest, err := st.Check(ctx)
	return fsckResult{Problems: p, Repaired: len(p) > 0, Remaining: rest}, err
}

// cmdFsck recomputes every counter and reference count from the records,
// and with -repair fixes what disagrees.
func cmdFsck(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	repair := fs.Bool("repair", false, "fix what the check finds")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	var res fsckResult
	err = errNoSocket
	if sock := cfg.AdminSocket(); sock != "" {
		err = adminCallArgs(ctx, sock, "fsck", map[string]bool{"repair": *repair}, &res)
	}
	if errors.Is(err, errNoSocket) {
		st, serr := store.Open(ctx, store.Options{Dir: cfg.DataDir})
		if serr != nil {
			return serr
		}
		defer st.Close()
		res, err = runFsck(ctx, st, *repair)
	}
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintln(out, p)
	}
	switch {
	case len(res.Problems) == 0:
		fmt.Fprintln(out, "clean")
		return nil
	case !*repair:
		return fmt.Errorf("%d problems found; run with -repair to fix them", len(res.Problems))
	case len(res.Remaining) > 0:
		for _, p := range res.Remaining {
			fmt.Fprintln(out, "still:", p)
		}
		return fmt.Errorf("%d problems could not be repaired", len(res.Remaining))
	}
	fmt.Fprintf(out, "repaired %d problems\n", len(res.Problems))
	return nil
}
