package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// vlogResident is the resident bytes of dir's value-log mappings.
func vlogResident(t *testing.T, dir string) int64 {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	var n int64
	for _, m := range vlogMappings(smaps, dir) {
		n += m.rss
	}
	return n
}

// TestTrimMapped: the bodies a store wrote and read stay mapped in the
// process until trimMapped finds them over the budget and hands them back
// to the kernel; every body reads back byte for byte afterwards, and
// under the budget nothing is touched.
func TestTrimMapped(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, MappedBudget: -1}) // no background trimming here
	ctx := context.Background()
	if err := s.EnsureAccount(ctx, "alice@example.test", false); err != nil {
		t.Fatal(err)
	}
	in := mustMailbox(t, s, "alice@example.test", "INBOX")
	var bodies [][]byte
	for i := range 200 { // 200 × 40 KB: over the value threshold, into the value log
		// Distinct content: equal parts would be stored once.
		line := fmt.Sprintf("message %04d %s\r\n", i, bytes.Repeat([]byte{'a' + byte(i%26)}, 60))
		b := []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s", i, strings.Repeat(line, (40<<10)/len(line))))
		if _, err := s.Append(ctx, in.ID, b, NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	readAll := func() {
		t.Helper()
		i := 0
		err := s.Messages(ctx, in.ID, 1, 0, func(m *Message) error {
			c, err := s.Content(ctx, m)
			if err != nil {
				return err
			}
			if !bytes.Equal(c, bodies[i]) {
				t.Fatalf("message %d differs after trimming", i+1)
			}
			i++
			return nil
		})
		if err != nil || i != len(bodies) {
			t.Fatalf("read %d of %d messages: %v", i, len(bodies), err)
		}
	}
	readAll()
	before := vlogResident(t, dir)
	if before < 4<<20 {
		t.Fatalf("only %d bytes of the value log resident after writing and reading 8 MB", before)
	}
	// Under the budget: left alone.
	if rss, err := trimMapped(dir, before+1); err != nil || rss != before {
		t.Fatalf("trimMapped under budget = %d, %v; want %d", rss, err, before)
	}
	if got := vlogResident(t, dir); got < before/2 {
		t.Fatalf("resident %d → %d with the budget not exceeded", before, got)
	}
	// Over it: handed back.
	if _, err := trimMapped(dir, 1<<20); err != nil {
		t.Skipf("MADV_PAGEOUT not available: %v", err)
	}
	if after := vlogResident(t, dir); after > before/4 {
		t.Errorf("value log resident %d bytes after trimming, was %d", after, before)
	}
	readAll()
}

// TestVlogMappings reads the value-log entries, and only those, from
// smaps text.
func TestVlogMappings(t *testing.T) {
	smaps := `7f0000000000-7f0020000000 rw-s 00000000 00:2a 123 /data/000001.vlog
Size:             524288 kB
Rss:                2048 kB
Anonymous:             0 kB
7f0020000000-7f0021000000 rw-s 00000000 00:2a 124 /data/00002.mem
Rss:                 512 kB
7f0030000000-7f0031000000 r--p 00000000 00:2a 125 /data/000002.vlog
Rss:                 100 kB
7f0040000000-7f0041000000 rw-s 00000000 00:2a 126 /other/000003.vlog
Rss:                 100 kB
7f0050000000-7f0051000000 rw-p 00000000 00:00 0
Rss:                 300 kB
7f0060000000-7f0061000000 r--s 00000000 00:2a 127 /data/000004.vlog
VmFlags: rd sh mr mw me ms sd
Rss:                   4 kB
7f0070000000-7f0071000000 r--s 00000000 00:2a 128 /data/000005.sst
Rss:                 100 kB
`
	got := vlogMappings([]byte(smaps), "/data/")
	want := []mapping{{0x7f0000000000, 0x7f0020000000, 2048 << 10}, {0x7f0060000000, 0x7f0061000000, 4 << 10}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("vlogMappings = %v, want %v", got, want)
	}
}
