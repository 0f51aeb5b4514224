package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"mailroom/acl"
	"mailroom/store"
)

// backupRequest asks a running server for a backup into Path.
type backupRequest struct {
	Path  string `json:"path"`
	Since uint64 `json:"since"`
}

// backupResult is what a backup reports.
type backupResult struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	// Next is the -since value of the next incremental backup.
	Next uint64 `json:"next"`
}

// writeBackup writes a backup of st to path: into a temporary file beside
// it, synced, then renamed, so path is always either absent or complete.
func writeBackup(ctx context.Context, st *store.Store, req backupRequest) (backupResult, error) {
	if !filepath.IsAbs(req.Path) {
		return backupResult{}, errors.New("backup path must be absolute")
	}
	tmp, err := os.CreateTemp(filepath.Dir(req.Path), ".mailroom-backup-*")
	if err != nil {
		return backupResult{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	next, err := st.Backup(ctx, tmp, req.Since)
	if err == nil {
		err = tmp.Sync()
	}
	var info os.FileInfo
	if err == nil {
		info, err = tmp.Stat()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), req.Path)
	}
	if err != nil {
		return backupResult{}, err
	}
	return backupResult{Path: req.Path, Bytes: info.Size(), Next: next}, nil
}

func cmdBackup(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	since := fs.Uint64("since", 0, "incremental: only what changed after this `version` (the \"next\" of the previous backup)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError{errors.New("usage: mailroom backup [-c FILE] [-data DIR] [-since N] FILE")}
	}
	path, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	req := backupRequest{Path: path, Since: *since}
	var res backupResult
	// A running server takes the backup itself, consistent while it
	// serves; else the directory is opened here.
	bctx, cancel := context.WithTimeout(ctx, 24*time.Hour)
	defer cancel()
	err = callOrRun(bctx, cfg, "backup", req, &res, func(ctx context.Context, st *store.Store, _ *acl.Directory) (backupResult, error) {
		return writeBackup(ctx, st, req)
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func cmdRestore(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	cfgPath := fs.String("c", "mailroom.toml", "configuration `file`")
	dataDir := fs.String("data", "", "data `directory` (overrides data_dir)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return usageError{errors.New("usage: mailroom restore [-c FILE] [-data DIR] FULL [INCREMENTAL...]")}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	var readers []io.Reader
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		readers = append(readers, f)
	}
	if err := store.Restore(ctx, cfg.DataDir, readers...); err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %d backup(s) into %s\n", len(readers), cfg.DataDir)
	return nil
}
