package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// diskUsage is the space a directory's files take on disk (allocated
// blocks, not apparent sizes: Badger preallocates its value log).
func diskUsage(t testing.TB, dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total
}

// BenchmarkListPostsOnDisk delivers 100 list posts of 100 KB to 50 local
// members and reports the data directory's size on disk, after compaction,
// against one copy of the posts (target ≤ 1.05) and against fifty.
func BenchmarkListPostsOnDisk(b *testing.B) {
	for _, mode := range []string{"one_transaction", "50_transactions"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				dir := b.TempDir()
				s, err := Open(context.Background(), Options{Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				var inboxes []MailboxID
				for i := range 50 {
					in, err := s.Inbox(ctx, fmt.Sprintf("member%d@example.test", i))
					if err != nil {
						b.Fatal(err)
					}
					inboxes = append(inboxes, in.ID)
				}
				var oneCopy int64
				for p := range 100 {
					random := make([]byte, 75<<10) // ~100 KB once base64-encoded
					rand.Read(random)
					post := fmt.Appendf(nil, "From: list@lists.test\r\nSubject: post %d\r\nList-Id: <team.lists.test>\r\n\r\n%s\r\n", p, base64.StdEncoding.EncodeToString(random))
					oneCopy += int64(len(post))
					var ds []Delivery
					for i, id := range inboxes {
						ds = append(ds, Delivery{Mailbox: id, NewMessage: NewMessage{Prefix: fmt.Appendf(nil, "Delivered-To: member%d@example.test\r\n", i)}})
					}
					if mode == "one_transaction" {
						if _, err := s.Deliver(ctx, post, ds); err != nil {
							b.Fatal(err)
						}
						continue
					}
					for _, d := range ds {
						if _, err := s.Deliver(ctx, post, []Delivery{d}); err != nil {
							b.Fatal(err)
						}
					}
				}
				// Closing flushes the memtable to a table; compaction then
				// drops the superseded versions of counters and records.
				s.Close()
				if s, err = Open(context.Background(), Options{Dir: dir}); err != nil {
					b.Fatal(err)
				}
				if err := s.Compact(); err != nil {
					b.Fatal(err)
				}
				s.Close()
				used := diskUsage(b, dir)
				b.ReportMetric(float64(used)/float64(oneCopy), "x_one_copy")
				b.ReportMetric(float64(used)/float64(50*oneCopy), "x_fifty_copies")
				b.ReportMetric(float64(used)/(1<<20), "MiB_on_disk")
			}
		})
	}
}
