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
	"path/filepath"
	"strconv"
	"time"

	"mailroom/acl"
	"mailroom/internal/mailfile"
	"mailroom/store"
)

// exportRequest is the admin socket's "export" command.
type exportRequest struct {
	Account string `json:"account"`
	Dir     string `json:"dir"`    // absolute
	Format  string `json:"format"` // maildir or mbox
	// CRLF keeps the stored CRLF line endings instead of writing LF: a
	// source whose files had CRLF comes back byte for byte.
	CRLF bool `json:"crlf,omitempty"`
}

type exportResult struct {
	Mailboxes int `json:"mailboxes"`
	Messages  int `json:"messages"`
}

// exportBatch is how many messages are read per store read.
const exportBatch = 500

// runExport writes every mailbox of an account under req.Dir: a Maildir
// with Maildir++ subfolders (flags in the names, internal dates as
// modification times) or one mbox file per mailbox. Message bytes are
// the stored ones with LF line endings (see mailfile), or CRLF as stored
// with req.CRLF.
func runExport(ctx context.Context, st *store.Store, req exportRequest) (exportResult, error) {
	var res exportResult
	if !filepath.IsAbs(req.Dir) {
		return res, errors.New("export directory must be absolute")
	}
	if req.Format != "maildir" && req.Format != "mbox" {
		return res, fmt.Errorf("unknown format %q (want maildir or mbox)", req.Format)
	}
	mbs, err := st.Mailboxes(ctx, req.Account)
	if err != nil {
		return res, err
	}
	if len(mbs) == 0 {
		return res, fmt.Errorf("%s has no mailboxes", req.Account)
	}
	if err := os.MkdirAll(req.Dir, 0o700); err != nil {
		return res, err
	}
	endings := mailfile.ToLF
	if req.CRLF {
		endings = func(b []byte) []byte { return b }
	}
	for _, mb := range mbs {
		uids, err := st.UIDs(ctx, mb.ID)
		if err != nil {
			return res, err
		}
		var write func(m *store.Message, data []byte) error
		var closeFn func() error
		switch req.Format {
		case "maildir":
			w, err := mailfile.NewMaildirWriter(req.Dir, mb.Name)
			if err != nil {
				return res, err
			}
			write = func(m *store.Message, data []byte) error {
				return w.Write(endings(data), m.Flags.Names(), m.InternalDate, strconv.FormatUint(uint64(m.UID), 10)+"_"+strconv.FormatUint(uint64(mb.UIDValidity), 10))
			}
			closeFn = w.Close
		case "mbox":
			path := mailfile.MboxPath(req.Dir, mb.Name)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return res, err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return res, err
			}
			bw := bufio.NewWriterSize(f, 256<<10)
			write = func(m *store.Message, data []byte) error {
				return mailfile.WriteMboxMessage(bw, endings(data), m.InternalDate)
			}
			closeFn = func() error {
				err := bw.Flush()
				if err == nil {
					err = f.Sync()
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				return err
			}
		}
		for i := 0; i < len(uids); i += exportBatch {
			batch := uids[i:min(i+exportBatch, len(uids))]
			err := st.MessagesByUID(ctx, mb.ID, batch, true, func(m *store.Message, data []byte) error {
				res.Messages++
				return write(m, data)
			})
			if err != nil {
				closeFn()
				return res, fmt.Errorf("%s: %w", mb.Name, err)
			}
		}
		if err := closeFn(); err != nil {
			return res, err
		}
		res.Mailboxes++
	}
	return res, nil
}

func cmdExport(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	format := fs.String("format", "maildir", "maildir or mbox")
	crlf := fs.Bool("crlf", false, "keep CRLF line endings (for sources whose files had them); default LF")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return usageError{errors.New("usage: mailroom export [-c FILE] [-data DIR] [-format maildir|mbox] [-crlf] ACCOUNT DIR")}
	}
	dir, err := filepath.Abs(fs.Arg(1))
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	req := exportRequest{Account: fs.Arg(0), Dir: dir, Format: *format, CRLF: *crlf}
	var res exportResult
	actx, cancel := context.WithTimeout(ctx, 24*time.Hour)
	defer cancel()
	err = callOrRun(actx, cfg, "export", req, &res, func(ctx context.Context, st *store.Store, _ *acl.Directory) (exportResult, error) {
		return runExport(ctx, st, req)
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	return enc.Encode(res)
}
