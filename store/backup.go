package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DBSizes returns Badger's own estimate of the bytes its LSM tree and
// value log take on disk (refreshed by Badger about once a minute).
func (s *Store) DBSizes() (lsm, vlog int64, err error) {
	leave, err := s.enter()
	if err != nil {
		return 0, 0, err
	}
	defer leave()
	lsm, vlog = s.db.Size()
	return lsm, vlog, nil
}

// backupMagic starts every backup file, followed by the since value it
// was taken with and a newline; Badger's backup stream follows.
const backupMagic = "mailroom-backup v1 since="

// Backup writes a consistent snapshot of the database to w while the
// store stays in use: Badger's backup stream, read at one timestamp, so
// it holds every transaction committed before it started and none after.
// With since > 0 only what changed after that version is written (an
// incremental backup, including deletions). It returns the since value
// for the next incremental backup.
func (s *Store) Backup(ctx context.Context, w io.Writer, since uint64) (next uint64, err error) {
	leave, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer leave()
	if _, err := fmt.Fprintf(w, "%s%d\n", backupMagic, since); err != nil {
		return 0, err
	}
	stream := s.db.NewStream()
	stream.LogPrefix = "backup"
	stream.SinceTs = since
	// Each of a stream's producers opens its own read transaction, each
	// at the timestamp of its opening: with several, a backup taken under
	// load mixes moments (a mailbox's counters from after a message it
	// does not hold). One producer reads everything at one timestamp.
	stream.NumGo = 1
	maxVersion, err := stream.Backup(ctxWriter{ctx, w}, since)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	// The stream reads versions above SinceTs (Badger's iterator skips
	// version <= SinceTs), so the next backup starts from the highest
	// version this one holds, not one past it as Badger's documentation
	// of Backup suggests: that would lose the first commit after this
	// backup (TestBackupWhileAppending).
	return max(maxVersion, since), nil
}

// ctxWriter stops a backup whose context ended at its next write.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// ErrNotEmpty is returned by Restore for a directory that already holds a
// database.
var ErrNotEmpty = errors.New("the data directory already holds a database")

// Restore creates a database in dir, which must not hold one, from
// backups: a full one (since 0) first, then incremental ones in the order
// they were taken.
func Restore(ctx context.Context, dir string, backups ...io.Reader) error {
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
		return fmt.Errorf("%s: %w", dir, ErrNotEmpty)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		return err
	}
	for i, r := range backups {
		br := bufio.NewReader(r)
		line, err := br.ReadString('\n')
		rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), backupMagic)
		since, perr := strconv.ParseUint(rest, 10, 64)
		if err != nil || !ok || perr != nil {
			s.Close()
			return fmt.Errorf("backup %d: not a mailroom backup", i+1)
		}
		if i == 0 && since != 0 {
			s.Close()
			return fmt.Errorf("backup 1 is incremental (since %d): restore a full backup first", since)
		}
		if err := s.db.Load(ctxReader{ctx, br}, 256); err != nil {
			s.Close()
			return fmt.Errorf("backup %d: %w", i+1, err)
		}
	}
	return s.Close()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
