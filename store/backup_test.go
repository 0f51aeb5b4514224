package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBackupWhileAppending: full and incremental backups taken while
// messages are appended restore to a store that Check finds clean and
// that holds every message appended before each backup began.
func TestBackupWhileAppending(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inbox, err := s.Inbox(ctx, "a@example.test")
	if err != nil {
		t.Fatal(err)
	}
	var appended atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Appendf(nil, "Subject: %d-%d\r\n\r\nbody\r\n", w, i)
				if _, err := s.Append(ctx, inbox.ID, body, NewMessage{}, 0); err != nil {
					t.Error(err)
					return
				}
				appended.Add(1)
			}
		})
	}
	waitFor := func(n int64) {
		for appended.Load() < n {
			select {
			case <-stop:
				return
			default:
			}
			// Let the writers run: a read of the counter is all that waits.
			s.Stats(ctx)
		}
	}
	waitFor(100)
	before1 := appended.Load()
	var full, incr bytes.Buffer
	next, err := s.Backup(ctx, &full, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(before1 + 200)
	before2 := appended.Load()
	next2, err := s.Backup(ctx, &incr, next)
	if err != nil || next2 < next {
		t.Fatal(next2, next, err)
	}
	close(stop)
	wg.Wait()
	for i, backups := range [][]*bytes.Buffer{{&full}, {&full, &incr}} {
		dir := t.TempDir()
		var rs []io.Reader
		for _, b := range backups {
			rs = append(rs, bytes.NewReader(b.Bytes()))
		}
		if err := Restore(ctx, dir, rs...); err != nil {
			t.Fatal(err)
		}
		r, err := Open(ctx, Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := r.Check(ctx); err != nil || len(p) > 0 {
			t.Errorf("restore %d: %v %v", i, p, err)
		}
		in, _ := r.Inbox(ctx, "a@example.test")
		uids, _ := r.UIDs(ctx, in.ID)
		for j := 1; j < len(uids); j++ {
			if uids[j] != uids[j-1]+1 {
				t.Errorf("restore %d: UIDs %d to %d missing", i, uids[j-1]+1, uids[j]-1)
			}
		}
		want := []int64{before1, before2}[i]
		if int64(len(uids)) < want {
			t.Errorf("restore %d: %d messages, %d appended before the backup", i, len(uids), want)
		}
		r.Close()
	}
}
