package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// TestOpenState: a mailbox's UIDs and keywords come from its blocks and
// keyword list, which follow appends (across block boundaries), flag
// changes, expunges and moves; an old store gets them at its next open;
// Check finds damage and Repair fixes it.
func TestOpenState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.EnsureAccount(ctx, "a@example.test", true)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	arch := mustMailbox(t, s, "a@example.test", "Archive")
	const n = 2*blockUIDs + 10
	bodies := make([][]byte, n)
	msgs := make([]NewMessage, n)
	for i := range bodies {
		bodies[i] = []byte("Subject: x\r\n\r\nx\r\n")
	}
	msgs[5].Flags = ParseFlags([]string{"$a"})
	if err := s.AppendBatch(ctx, in.ID, bodies, msgs); err != nil {
		t.Fatal(err)
	}
	s.StoreFlags(ctx, in.ID, []UID{7}, FlagsAdd, ParseFlags([]string{"$b", `\Deleted`}), nil)
	s.StoreFlags(ctx, in.ID, []UID{blockUIDs, blockUIDs + 1}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	if _, err := s.Expunge(ctx, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, in.ID, []UID{9}, arch.ID, 0); err != nil {
		t.Fatal(err)
	}
	// Adding then removing a keyword leaves it in the list (it was set).
	s.StoreFlags(ctx, in.ID, []UID{1}, FlagsAdd, ParseFlags([]string{"$c"}), nil)
	s.StoreFlags(ctx, in.ID, []UID{1}, FlagsRemove, ParseFlags([]string{"$c"}), nil)
	s.StoreFlags(ctx, in.ID, []UID{1}, FlagsAdd, ParseFlags([]string{`\Seen`}), nil)
	s.StoreFlags(ctx, in.ID, []UID{2, blockUIDs + 5}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	want := func(keywords ...string) {
		t.Helper()
		fs, err := s.FlagState(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(fs.UIDs) != n-4 || len(fs.Unseen) != n-5 || fs.Unseen[0] != 2 || !slices.Equal(fs.Deleted, []UID{2, blockUIDs + 5}) {
			t.Fatalf("FlagState: %d UIDs, %d unseen from %v, deleted %v", len(fs.UIDs), len(fs.Unseen), fs.Unseen[:1], fs.Deleted)
		}
		st, err := s.OpenState(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		uids, _ := s.UIDs(ctx, in.ID)
		if !slices.Equal(st.UIDs, uids) || len(uids) != n-4 {
			t.Fatalf("OpenState has %d UIDs, records %d", len(st.UIDs), len(uids))
		}
		if !slices.Equal(st.Keywords, keywords) {
			t.Fatalf("keywords %q", st.Keywords)
		}
		if a, _ := s.OpenState(ctx, arch.ID); !slices.Equal(a.UIDs, []UID{1}) {
			t.Fatalf("archive: %v", a.UIDs)
		}
		if p, err := s.Check(ctx); err != nil || len(p) != 0 {
			t.Fatalf("check: %q %v", p, err)
		}
	}
	want("$a", "$b", "$c")

	// An old store: no blocks, no lists.
	s.update(ctx, nil, func(tx *txn) error {
		tx.Delete(metaUIDBlocks)
		tx.dropUIDBlocks(arch.ID)
		return tx.dropUIDBlocks(in.ID)
	})
	if p, _ := s.Check(ctx); len(p) != 11 { // INBOX: 3 UID, 3 unseen and 2 deleted blocks, the list; Archive: 2 blocks
		t.Fatalf("check without blocks: %q", p)
	}
	s.Close()
	s = openTest(t, Options{Dir: dir})
	want("$a") // rebuilt from the records: the keywords in use

	// Damage is found and repaired.
	s.update(ctx, nil, func(tx *txn) error {
		tx.markUID(in.ID, 3, false)
		tx.markUID(in.ID, n+100, true)
		return tx.Set(keywordsKey(in.ID), encodeKeywords(nil))
	})
	if p, _ := s.Check(ctx); len(p) != 3 {
		t.Fatalf("check found %q", p)
	}
	if _, err := s.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	want("$a")

	// Deleting a mailbox removes its blocks.
	if err := s.DeleteMailbox(ctx, "a@example.test", "Archive"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("check after delete: %q %v", p, err)
	}
}

// TestConcurrentAppendsToManyMailboxes: writers to different mailboxes
// run at once (their locks differ); storing new bodies must not make them
// collide on a shared counter until they give up (body IDs come from a
// sequence outside the transactions), and IDs stay unique across a reopen.
func TestConcurrentAppendsToManyMailboxes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		account := fmt.Sprintf("u%d@example.test", w)
		s.EnsureAccount(ctx, account, false)
		in, _ := s.Inbox(ctx, account)
		wg.Go(func() {
			for i := range 60 {
				if _, err := s.Append(ctx, in.ID, fmt.Appendf(nil, "Subject: %d/%d\r\n\r\nx\r\n", w, i), NewMessage{}, 0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("append: %v", err)
	}
	s.Close()
	s = openTest(t, Options{Dir: dir})
	in, _ := s.Inbox(ctx, "u0@example.test")
	if _, err := s.Append(ctx, in.ID, []byte("Subject: after\r\n\r\nnew\r\n"), NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("check: %q %v", p, err)
	}
	seen := map[BodyID]bool{}
	for w := range 16 {
		in, _ := s.Inbox(ctx, fmt.Sprintf("u%d@example.test", w))
		s.Messages(ctx, in.ID, 1, 0, func(m *Message) error {
			if seen[m.Body] {
				t.Errorf("body %d used twice", m.Body)
			}
			seen[m.Body] = true
			return nil
		})
	}
}
