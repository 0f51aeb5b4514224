package store

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

// TestChangedSince: the index answers "what changed after n" with the
// changed and the expunged UIDs, follows flag changes, copies, moves and
// expunges, and fsck checks it.
func TestChangedSince(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", true)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	arch := mustMailbox(t, s, "a@example.test", "Archive")
	for range 10 {
		if _, err := s.Append(ctx, in.ID, []byte("Subject: x\r\n\r\nx\r\n"), NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	base := mustMailbox(t, s, "a@example.test", "INBOX").HighestModSeq
	want := func(since uint64, changed, vanished []UID, complete bool) {
		t.Helper()
		ch, err := s.ChangedSince(ctx, in.ID, since)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ch.Changed, changed) || !slices.Equal(ch.Vanished, vanished) || ch.Complete != complete {
			t.Fatalf("ChangedSince(%d) = %+v, want changed %v vanished %v complete %v", since, ch, changed, vanished, complete)
		}
	}
	want(base, nil, nil, true)
	want(0, []UID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, nil, true)
	s.StoreFlags(ctx, in.ID, []UID{3}, FlagsAdd, ParseFlags([]string{`\Seen`}), nil)
	s.StoreFlags(ctx, in.ID, []UID{3, 4, 5}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	if _, err := s.Expunge(ctx, in.ID, []UID{4, 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, in.ID, []UID{7}, arch.ID, 0); err != nil {
		t.Fatal(err)
	}
	want(base, []UID{3}, []UID{4, 5, 7}, true)
	after := mustMailbox(t, s, "a@example.test", "INBOX").HighestModSeq
	want(after, nil, nil, true)
	if ch, _ := s.ChangedSince(ctx, arch.ID, 0); !slices.Equal(ch.Changed, []UID{1}) {
		t.Fatalf("archive: %+v", ch)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("check: %q %v", p, err)
	}

	// Records older than the retention go; the history before them is
	// then incomplete, after them complete.
	n, err := s.PruneExpunged(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	want(base, []UID{3}, nil, false)
	want(after, nil, nil, true)
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("check after prune: %q %v", p, err)
	}

	// Deleting a mailbox drops its index.
	if err := s.DeleteMailbox(ctx, "a@example.test", "Archive"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("check after delete: %q %v", p, err)
	}
}

// TestModSeqIndexBuiltForOldStores: a store written before the index
// existed gets it at its next open, with the expunge history marked
// incomplete; a damaged index is found by Check and fixed by Repair.
func TestModSeqIndexBuiltForOldStores(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	for range 5 {
		s.Append(ctx, in.ID, []byte("Subject: x\r\n\r\nx\r\n"), NewMessage{}, 0)
	}
	// Make it look like an old store: no index at all.
	s.update(ctx, nil, func(tx *txn) error {
		tx.Delete(metaModSeqIndex)
		return tx.dropIndex(in.ID)
	})
	if p, _ := s.Check(ctx); len(p) != 5 {
		t.Fatalf("check of a store without index: %q", p)
	}
	s.Close()
	s = openTest(t, Options{Dir: dir})
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("check after reopen: %q %v", p, err)
	}
	ch, err := s.ChangedSince(ctx, in.ID, 2)
	if err != nil || !slices.Equal(ch.Changed, []UID{2, 3, 4, 5}) || ch.Complete {
		t.Fatalf("ChangedSince after migration: %+v %v", ch, err)
	}
	top := mustMailbox(t, s, "a@example.test", "INBOX").HighestModSeq
	if ch, _ := s.ChangedSince(ctx, in.ID, top); !ch.Complete {
		t.Fatal("history from now on should be complete")
	}

	// Damage: an entry at a wrong mod-sequence and one for no message.
	s.update(ctx, nil, func(tx *txn) error {
		tx.Delete(modseqKey(in.ID, 3, 2))
		tx.Set(modseqKey(in.ID, 99, 2), nil)
		return tx.Set(modseqKey(in.ID, 100, 77), nil)
	})
	if p, _ := s.Check(ctx); len(p) != 3 {
		t.Fatalf("check found %q", p)
	}
	if _, err := s.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("after repair: %q %v", p, err)
	}
}

// TestDeriveAtDelivery: data derived from a new body is kept in the
// transaction that stores it, once per body (not for a body already
// stored, nor for MIME parts stored apart), and goes with the body.
func TestDeriveAtDelivery(t *testing.T) {
	t.Parallel()
	calls := 0
	s := openTest(t, Options{Derive: func(body []byte) []Derived {
		calls++
		return []Derived{{Tag: 'z', Value: []byte{byte(len(body))}}}
	}})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	body := []byte("Subject: x\r\n\r\nx\r\n")
	for range 2 {
		if _, err := s.Deliver(ctx, body, []Delivery{{Mailbox: in.ID}, {Mailbox: in.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := s.Message(ctx, in.ID, 1)
	if got, _ := s.BodyInfo(ctx, []BodyID{m.Body}, 'z'); calls != 1 || len(got[m.Body]) != 1 || got[m.Body][0] != byte(len(body)) {
		t.Fatalf("derived %d times: %v", calls, got)
	}
	s.StoreFlags(ctx, in.ID, []UID{1, 2, 3, 4}, FlagsAdd, Flags{Sys: FlagDeleted}, nil)
	if _, err := s.Expunge(ctx, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("check: %q %v", p, err)
	}
}

// TestSaveDateRecords: a message gets its save date when it enters a
// mailbox (a copy its own); records written before save dates existed
// (version 1) still read, with none.
func TestSaveDateRecords(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", true)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	arch := mustMailbox(t, s, "a@example.test", "Archive")
	s.Append(ctx, in.ID, []byte("Subject: x\r\n\r\nx\r\n"), NewMessage{InternalDate: time.Unix(1e9, 0)}, 0)
	now = now.Add(time.Hour)
	if _, err := s.Copy(ctx, in.ID, []UID{1}, arch.ID, 0); err != nil {
		t.Fatal(err)
	}
	m1, _ := s.Message(ctx, in.ID, 1)
	m2, _ := s.Message(ctx, arch.ID, 1)
	if !m1.SaveDate.Equal(now.Add(-time.Hour)) || !m2.SaveDate.Equal(now) || !m2.InternalDate.Equal(time.Unix(1e9, 0)) {
		t.Fatalf("save dates %v / %v, internal %v", m1.SaveDate, m2.SaveDate, m2.InternalDate)
	}
	// A version 1 record: the same fields without the save date.
	v2 := m1.encode()
	v1 := append([]byte{messageRecordV1}, v2[1:len(v2)-binary.PutVarint(make([]byte, 10), m1.SaveDate.Unix())]...)
	old, err := decodeMessage(1, v1)
	if err != nil || !old.SaveDate.IsZero() || old.ModSeq != m1.ModSeq || old.Body != m1.Body {
		t.Fatalf("version 1 record: %+v %v", old, err)
	}
}
