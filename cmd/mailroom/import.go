package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/internal/mailfile"
	"mailroom/store"
)

// importRequest is the admin socket's "import" command.
type importRequest struct {
	Account string `json:"account"`
	Source  string `json:"source"` // absolute path
	// Folder is the mailbox a single mbox file goes to (default INBOX).
	Folder string `json:"folder,omitempty"`
	// Password logs in to an imap:// or imaps:// source.
	Password string `json:"password,omitempty"`
}

// importProgress is reported after each batch and at the end.
type importProgress struct {
	Total    int    `json:"total"`
	Done     int    `json:"done"`     // Imported + Skipped + Failed
	Imported int    `json:"imported"` // stored now
	Skipped  int    `json:"skipped"`  // already in the mailbox (an earlier, interrupted run)
	Failed   int    `json:"failed"`   // unreadable or too large; named in the server's log
	Folder   string `json:"folder"`
}

// importBatch bounds one store transaction of an import.
const (
	importBatchMessages = 500
	importBatchBytes    = 32 << 20
)

// readSource lists the folders of an import source.
func readSource(req importRequest, maxMessage int64) ([]mailfile.Folder, func(), error) {
	if strings.HasPrefix(req.Source, "imap://") || strings.HasPrefix(req.Source, "imaps://") {
		return openIMAPSource(req.Source, req.Password, maxMessage)
	}
	folders, err := readFiles(req, maxMessage)
	return folders, func() {}, err
}

// readFiles lists the folders of a Maildir or mbox source.
func readFiles(req importRequest, maxMessage int64) ([]mailfile.Folder, error) {
	fi, err := os.Stat(req.Source)
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir() && mailfile.IsMaildir(req.Source):
		return mailfile.ReadMaildir(req.Source, maxMessage)
	case fi.IsDir():
		return mailfile.ReadMboxDir(req.Source, maxMessage)
	case mailfile.IsMbox(req.Source):
		folder := req.Folder
		if folder == "" {
			folder = store.Inbox
		}
		f, err := mailfile.ReadMboxFile(req.Source, folder, maxMessage)
		return []mailfile.Folder{f}, err
	}
	return nil, fmt.Errorf("%s is neither a Maildir, an mbox file, nor a directory of mbox files", req.Source)
}

// runImport copies a source into an account: each folder into the
// mailbox of its name (created if missing), flags and internal dates
// kept, in batches of one transaction each. A message the mailbox
// already holds as many times as the source has had it so far is skipped,
// so an interrupted import run again resumes without duplicates.
func runImport(ctx context.Context, st *store.Store, dir *acl.Directory, req importRequest, maxMessage int64,
	log func(msg string, args ...any), progress func(importProgress) error) (importProgress, error) {
	var p importProgress
	a, ok := dir.Lookup(req.Account)
	if !ok || !strings.EqualFold(a.Address, req.Account) {
		return p, fmt.Errorf("%s is not a configured account", req.Account)
	}
	folders, closeSource, err := readSource(req, maxMessage)
	if err != nil {
		return p, err
	}
	defer closeSource()
	for _, f := range folders {
		p.Total += len(f.Messages)
	}
	for _, f := range folders {
		p.Folder = f.Name
		var mb *store.Mailbox
		if f.Name == store.Inbox {
			mb, err = st.Inbox(ctx, a.Address)
		} else {
			if _, err = st.CreateMailbox(ctx, a.Address, f.Name, store.CreateOptions{}); err != nil && !errors.Is(err, store.ErrExists) {
				return p, fmt.Errorf("create %q: %w", f.Name, err)
			}
			mb, err = st.MailboxByName(ctx, a.Address, f.Name)
		}
		if err != nil {
			return p, fmt.Errorf("mailbox %q: %w", f.Name, err)
		}
		have, err := st.BodyHashes(ctx, mb.ID)
		if err != nil {
			return p, err
		}
		var bodies [][]byte
		var msgs []store.NewMessage
		size := 0
		flush := func() error {
			if len(bodies) > 0 {
				if err := st.AppendBatch(ctx, mb.ID, bodies, msgs); err != nil {
					return fmt.Errorf("store into %q: %w", f.Name, err)
				}
				p.Imported += len(bodies)
				p.Done += len(bodies)
				bodies, msgs, size = bodies[:0], msgs[:0], 0
			}
			return progress(p)
		}
		pendingSkips := 0
		for _, m := range f.Messages {
			if err := ctx.Err(); err != nil {
				return p, err
			}
			data, err := m.Read()
			if err != nil {
				log("import: message not imported", "folder", f.Name, "err", err)
				p.Failed++
				p.Done++
				continue
			}
			data = mailfile.ToCRLF(data)
			if h := sha256.Sum256(data); have[h] > 0 {
				have[h]--
				p.Skipped++
				p.Done++
				if pendingSkips++; pendingSkips == importBatchMessages {
					pendingSkips = 0
					if err := progress(p); err != nil {
						return p, err
					}
				}
				continue
			}
			date := m.Date
			if date.IsZero() {
				date = time.Now()
			}
			bodies = append(bodies, data)
			msgs = append(msgs, store.NewMessage{Flags: store.ParseFlags(m.Flags), InternalDate: date})
			if size += len(data); len(bodies) == importBatchMessages || size >= importBatchBytes {
				if err := flush(); err != nil {
					return p, err
				}
			}
		}
		if err := flush(); err != nil {
			return p, err
		}
	}
	return p, nil
}

// importAdmin runs an import for the admin socket, writing a progress
// line to c after each batch; the import stops when c does (the command
// was interrupted).
func (s *server) importAdmin(ctx context.Context, c net.Conn, arg string) (any, error) {
	var req importRequest
	if err := json.Unmarshal([]byte(arg), &req); err != nil {
		return nil, err
	}
	// One import per account at a time: a second one (a resume after an
	// interrupted run) waits until the first has stopped.
	lock, _ := s.imports.LoadOrStore(strings.ToLower(req.Account), make(chan struct{}, 1))
	sem := lock.(chan struct{})
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-sem }()
	enc := json.NewEncoder(c)
	return runImport(ctx, s.store, s.dir.Load(), req, int64(s.cfg.Limits.MessageSize),
		func(msg string, args ...any) { s.log.Warn(msg, args...) },
		func(p importProgress) error {
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			return enc.Encode(map[string]importProgress{"progress": p})
		})
}

// adminImport sends an import to a running server and reports its
// progress lines.
func adminImport(ctx context.Context, sock string, req importRequest, progress func(importProgress)) (importProgress, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return importProgress{}, fmt.Errorf("%w: %v", errNoSocket, err)
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	if _, err := fmt.Fprintf(c, "import %s\n", marshalArgs(req)); err != nil {
		return importProgress{}, err
	}
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return importProgress{}, fmt.Errorf("server: %w", err)
		}
		var pl struct {
			Progress *importProgress `json:"progress"`
			adminResponse
		}
		if err := json.Unmarshal(line, &pl); err != nil {
			return importProgress{}, err
		}
		if pl.Progress != nil {
			progress(*pl.Progress)
			continue
		}
		if !pl.OK {
			return importProgress{}, errors.New(pl.Error)
		}
		var p importProgress
		return p, json.Unmarshal(pl.Data, &p)
	}
}

// progressReporter shows an import's progress: a bar with rate and ETA
// on a terminal, else a line per batch.
type progressReporter struct {
	out   io.Writer
	bar   *progressbar.ProgressBar
	start time.Time
}

func newProgressReporter(out *os.File) *progressReporter {
	r := &progressReporter{out: out, start: time.Now()}
	if term.IsTerminal(int(out.Fd())) {
		r.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(out), progressbar.OptionSetDescription("importing"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("msg"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(), progressbar.OptionClearOnFinish())
	}
	return r
}

func (r *progressReporter) report(p importProgress) {
	if r.bar != nil {
		if r.bar.GetMax() != p.Total {
			r.bar.ChangeMax(p.Total)
		}
		r.bar.Set(p.Done)
		return
	}
	el := time.Since(r.start).Seconds()
	rate := float64(p.Done) / max(el, 0.001)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.Total-p.Done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 100.0
	if p.Total > 0 {
		pct = 100 * float64(p.Done) / float64(p.Total)
	}
	fmt.Fprintf(r.out, "import: %d/%d messages (%.0f%%) in %s: %d new, %d already there, %d failed; %.0f msg/s, ETA %s\n",
		p.Done, p.Total, pct, p.Folder, p.Imported, p.Skipped, p.Failed, rate, eta)
}

func (r *progressReporter) finish() {
	if r.bar != nil {
		r.bar.Finish()
	}
}

func cmdImport(ctx context.Context, args []string, out *os.File) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	folder := fs.String("folder", "", "the `mailbox` a single mbox file goes to (default INBOX)")
	passwordFile := fs.String("password-file", "", "for an IMAP source: read the password from this `file` (else it is asked for)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return usageError{errors.New("usage: mailroom import [-c FILE] [-data DIR] [-folder NAME] [-password-file FILE] ACCOUNT MAILDIR|MBOX|MBOXDIR|imap[s]://USER@HOST[:PORT]")}
	}
	source := fs.Arg(1)
	var password string
	if strings.Contains(source, "://") {
		var err error
		if password, err = sourcePassword(*passwordFile); err != nil {
			return err
		}
	} else {
		var err error
		if source, err = filepath.Abs(source); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	req := importRequest{Account: fs.Arg(0), Source: source, Folder: *folder, Password: password}
	rep := newProgressReporter(out)
	var res importProgress
	err = errNoSocket
	if sock := cfg.AdminSocket(); sock != "" {
		res, err = adminImport(ctx, sock, req, rep.report)
	}
	if errors.Is(err, errNoSocket) {
		res, err = importLocal(ctx, cfg, req, rep.report)
	}
	rep.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "imported %d messages into %s (%d were already there, %d failed)\n", res.Imported, req.Account, res.Skipped, res.Failed)
	if res.Failed > 0 {
		return fmt.Errorf("%d messages could not be imported", res.Failed)
	}
	return nil
}

// importLocal imports with the server stopped.
func importLocal(ctx context.Context, cfg *config.Config, req importRequest, progress func(importProgress)) (importProgress, error) {
	dir, err := buildDirectory(cfg)
	if err != nil {
		return importProgress{}, err
	}
	st, err := store.Open(ctx, store.Options{Dir: cfg.DataDir, MinFreeBytes: int64(cfg.Limits.MinFreeSpace)})
	if err != nil {
		return importProgress{}, err
	}
	defer st.Close()
	return runImport(ctx, st, dir, req, int64(cfg.Limits.MessageSize),
		func(msg string, args ...any) { fmt.Fprintln(os.Stderr, append([]any{msg}, args...)...) },
		func(p importProgress) error { progress(p); return nil })
}

// sourcePassword reads an IMAP source's password from a file (its first
// line) or, on a terminal, asks for it.
func sourcePassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", errors.New("the IMAP source's password: give -password-file when not on a terminal")
	}
	fmt.Fprint(os.Stderr, "Password of the IMAP source: ")
	pw, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	return string(pw), err
}
