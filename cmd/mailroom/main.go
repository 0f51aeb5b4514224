// Command mailroom is the Mailroom mail server and its admin tool.
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
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/term"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/store"
)

const usage = `usage: mailroom <command> [flags]

commands:
  serve          run the server (-c FILE, -data DIR)
  check-config   validate the configuration (-c FILE)
  hash-password  read a password from stdin or a prompt and print its hash (-scram: also a SCRAM-SHA-256 credential, as config lines)
  stats          print what the data directory holds, as JSON (-c FILE, -data DIR, -accounts: per account too)
  queue          list the outbound queue and why each message waits (-c FILE, -data DIR)
  dkim-keygen    write a DKIM key and print its DNS record (-domain D -selector S [-type rsa|ed25519] [-out FILE])
  dns            print the MX, SPF, DKIM and DMARC records of a domain (-c FILE -domain D)
  acl            list, grant or revoke mailbox rights (acl list|grant|revoke ...; see 'mailroom acl')
  sieve          check a Sieve script, or list, get, put, activate an account's (see 'mailroom sieve')
  fsck           check every counter and reference count against the records (-c FILE, -data DIR, -repair)
  account        list accounts, show one, purge one no longer configured (account list|show|purge; see 'mailroom account')
  import         copy a Maildir, mbox file or directory of mbox files into an account (ACCOUNT SOURCE)
  export         write an account's mail as a Maildir or mbox files (ACCOUNT DIR [-format maildir|mbox])
  backup         write a consistent backup while the server runs (-c FILE, -data DIR, -since N, FILE)
  restore        create the data directory from a backup and incremental ones (-c FILE, -data DIR, FILE...)
  mailbox        list, create, rename or delete an account's mailboxes (see 'mailroom mailbox')
  audit          what others did in people's mailboxes (-c FILE [-account A] [-user U] [-since 24h|DATE] [-json])
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args)
	case "check-config":
		err = cmdCheckConfig(args, os.Stdout)
	case "hash-password":
		err = cmdHashPassword(args, os.Stdin, os.Stdout, os.Stderr)
	case "stats":
		err = cmdStats(ctx, args, os.Stdout)
	case "queue":
		err = cmdQueue(ctx, args, os.Stdout)
	case "dkim-keygen":
		err = cmdDKIMKeygen(args, os.Stdout)
	case "dns":
		err = cmdDNS(args, os.Stdout)
	case "sieve":
		err = cmdSieve(ctx, args, os.Stdin, os.Stdout)
	case "acl":
		err = cmdACL(ctx, args, os.Stdout)
	case "fsck":
		err = cmdFsck(ctx, args, os.Stdout)
	case "account":
		err = cmdAccount(ctx, args, os.Stdin, os.Stdout)
	case "import":
		err = cmdImport(ctx, args, os.Stdout)
	case "export":
		err = cmdExport(ctx, args, os.Stdout)
	case "backup":
		err = cmdBackup(ctx, args, os.Stdout)
	case "restore":
		err = cmdRestore(ctx, args, os.Stdout)
	case "audit":
		err = cmdAudit(ctx, args, os.Stdout)
	case "mailbox":
		err = cmdMailbox(ctx, args, os.Stdout)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "mailroom: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "mailroom %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// usageError is a flag parsing error the flag package already printed.
type usageError struct{ error }

// commonFlags parses -c and -data.
func commonFlags(name string, args []string, withData bool) (cfgPath, dataDir string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfgPath, "c", "mailroom.toml", "configuration `file`")
	if withData {
		fs.StringVar(&dataDir, "data", "", "data `directory` (overrides data_dir)")
	}
	if err := fs.Parse(args); err != nil {
		return "", "", usageError{err}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return "", "", usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	return cfgPath, dataDir, nil
}

// loadConfig loads and validates the file, applying -data.
func loadConfig(path, dataDir string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		if err := cfg.SetDataDir(dataDir); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func cmdCheckConfig(args []string, out io.Writer) error {
	path, _, err := commonFlags("check-config", args, false)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err == nil {
		_, err = buildDirectory(cfg)
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(out, line)
		}
		return errors.New("configuration has errors")
	}
	fmt.Fprintln(out, "ok")
	return nil
}

func cmdHashPassword(args []string, in *os.File, out, prompt io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	scram := fs.Bool("scram", false, "also print a SCRAM-SHA-256 credential; both as config lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var pw string
	if term.IsTerminal(int(in.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return err
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return err
		}
		if string(a) != string(b) {
			return errors.New("passwords do not match")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return errors.New("empty password")
	}
	h, err := acl.HashPassword(pw)
	if err != nil {
		return err
	}
	if !*scram {
		fmt.Fprintln(out, h)
		return nil
	}
	sc, err := acl.NewSCRAMCredential(pw, acl.SCRAMIterations)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "password_hash = %q\nscram_sha256 = %q\n", h, sc)
	return nil
}

// statsReport is what `mailroom stats` prints.
type statsReport struct {
	store.Stats
	ConfiguredAccounts int `json:"configured_accounts"`
	// PerAccount lists every account in the store or the configuration
	// (stats -accounts).
	PerAccount []accountInfo `json:"per_account,omitempty"`
}

func cmdStats(ctx context.Context, args []string, out io.Writer) error {
	// -accounts adds per_account; without it the output keeps its shape
	// (an object of numbers) for the scripts that read it.
	perAccount := false
	if i := slices.Index(args, "-accounts"); i >= 0 {
		perAccount, args = true, slices.Delete(slices.Clone(args), i, i+1)
	}
	path, dataDir, err := commonFlags("stats", args, true)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(path, dataDir)
	if err != nil {
		return err
	}
	var st store.Stats
	// A running server holds the database; ask it through its socket.
	var per []accountInfo
	if sock := cfg.AdminSocket(); sock != "" {
		if err := adminCall(ctx, sock, "stats", &st); err == nil {
			if perAccount {
				if err := adminCallArgs(ctx, sock, "account", accountRequest{Op: "list"}, &per); err != nil {
					return err
				}
			}
			return printStats(out, cfg, st, per)
		}
	}
	s, err := store.Open(ctx, store.Options{Dir: cfg.DataDir})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w, and its admin socket did not answer", err)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	if st, err = s.Stats(ctx); err != nil {
		return err
	}
	if perAccount {
		dir, err := buildDirectory(cfg)
		if err != nil {
			return err
		}
		res, err := runAccount(ctx, s, dir, accountRequest{Op: "list"})
		if err != nil {
			return err
		}
		per = res.([]accountInfo)
	}
	return printStats(out, cfg, st, per)
}

func printStats(out io.Writer, cfg *config.Config, st store.Stats, per []accountInfo) error {
	r := statsReport{Stats: st, ConfiguredAccounts: len(cfg.Accounts), PerAccount: per}
	// "accounts" counts configured accounts; accounts with mail are in
	// the store's own count.
	r.Accounts = len(cfg.Accounts)
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
