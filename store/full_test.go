package store

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"mailroom/internal/testutil"
)

// TestNoSpaceRefusesContent: below the free-space reserve nothing that
// adds content is written (a reserve larger than any disk stands in for a
// full one), while flags and expunges, which free space, still work.
func TestNoSpaceRefusesContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := openTest(t, Options{Dir: dir})
	in, _ := s.Inbox(ctx, "a@example.test")
	s.Append(ctx, in.ID, []byte("Subject: before\r\n\r\nx\r\n"), NewMessage{}, 0)
	s.Close()

	s, err := Open(ctx, Options{Dir: dir, MinFreeBytes: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, in.ID, []byte("Subject: after\r\n\r\nx\r\n"), NewMessage{}, 0); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("append when full: %v", err)
	}
	if _, err := s.Enqueue(ctx, "a@example.test", []string{"b@remote.test"}, []byte("x")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("enqueue when full: %v", err)
	}
	if _, err := s.StoreFlags(ctx, in.ID, []UID{1}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil); err != nil {
		t.Fatalf("flags when full: %v", err)
	}
	if gone, err := s.Expunge(ctx, in.ID, nil); err != nil || len(gone) != 1 {
		t.Fatalf("expunge when full: %v %v", gone, err)
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %v %v", p, err)
	}
}

// TestFullFilesystem fills a real small filesystem (a tmpfs, so root is
// needed; skipped otherwise): writes are refused before Badger could hit
// the end of the disk (where its memory-mapped writes would kill the
// process), the store stays consistent, and writes resume when space
// comes back.
func TestFullFilesystem(t *testing.T) {
	mnt := testutil.MountTmpfs(t, "160m")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: filepath.Join(mnt, "data"), MinFreeBytes: 48 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in, _ := s.Inbox(ctx, "a@example.test")
	body := make([]byte, 100<<10)
	stored := 0
	for ; stored < 2000; stored++ {
		rand.Read(body)
		_, err := s.Append(ctx, in.ID, body, NewMessage{}, 0)
		if errors.Is(err, ErrNoSpace) {
			break
		}
		if err != nil {
			t.Fatalf("append %d: %v", stored, err)
		}
	}
	if stored == 0 || stored == 2000 {
		t.Fatalf("%d messages stored before the guard", stored)
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check when full: %v %v", p, err)
	}
	// Space comes back: writes resume by themselves.
	os.Remove(filler)
	rand.Read(body)
	if _, err := s.Append(ctx, in.ID, body, NewMessage{}, 0); err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	t.Logf("%d messages of 100 KB stored, then refused; writes resumed after freeing space", stored)
}
