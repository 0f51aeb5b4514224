package store

import (
	"context"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestPrivateSeen: a user's private \Seen is kept apart from the record
// (the owner's), other flags of the same STORE go to the record, each
// change gives a new mod-sequence, expunges drop the UIDs, and the state
// goes with the mailbox or the user's account; Check stays clean and
// finds damage, Repair fixes it.
func TestPrivateSeen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var changes []Change
	s := openTest(t, Options{OnChange: func(c Change) { changes = append(changes, c) }})
	s.EnsureAccount(ctx, "alice@example.test", true)
	in := mustMailbox(t, s, "alice@example.test", "INBOX")
	const n = blockUIDs + 5
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = []byte("Subject: x\r\n\r\nx\r\n")
	}
	if err := s.AppendBatch(ctx, in.ID, bodies, make([]NewMessage, n)); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Mailbox(ctx, in.ID)
	changes = nil
	seen := ParseFlags([]string{`\Seen`})
	got, _, err := s.StoreFlagsAs(ctx, in.ID, "Bob@example.test", []UID{1, 2, blockUIDs + 1}, FlagsAdd, ParseFlags([]string{`\Seen`, `\Flagged`}), nil, nil)
	if err != nil || len(got) != 3 || got[0].Flags.Sys != FlagSeen|FlagFlagged {
		t.Fatalf("StoreFlagsAs: %v %+v", err, got)
	}
	if len(changes) != 2 || changes[0].Kind != ChangeFlags || changes[0].Messages[0].Flags.Sys != FlagFlagged ||
		changes[1].Kind != ChangeSeen || changes[1].User != "bob@example.test" || len(changes[1].Messages) != 3 {
		t.Fatalf("changes: %+v", changes)
	}
	after, _ := s.Mailbox(ctx, in.ID)
	if after.Unseen != before.Unseen || after.HighestModSeq != before.HighestModSeq+3 {
		t.Fatalf("mailbox: unseen %d → %d, modseq %d → %d", before.Unseen, after.Unseen, before.HighestModSeq, after.HighestModSeq)
	}
	if m, _ := s.Message(ctx, in.ID, 1); m.Flags.Sys != FlagFlagged || m.ModSeq != before.HighestModSeq+1 {
		t.Fatalf("record: %+v", m)
	}
	// Only \Seen again: no change to the record's flags, a new modseq.
	changes = nil
	if got, _, _ := s.StoreFlagsAs(ctx, in.ID, "bob@example.test", []UID{3}, FlagsAdd, seen, nil, nil); len(got) != 1 || len(changes) != 1 || changes[0].Kind != ChangeSeen {
		t.Fatalf("seen only: %+v %+v", got, changes)
	}
	// Already seen: nothing.
	if got, _, _ := s.StoreFlagsAs(ctx, in.ID, "bob@example.test", []UID{3}, FlagsAdd, seen, nil, nil); len(got) != 0 {
		t.Fatalf("seen again: %+v", got)
	}
	// The owner's \Seen is the record's and does not touch bob's; its
	// change is told apart from others.
	changes = nil
	s.StoreFlags(ctx, in.ID, []UID{4, 5}, FlagsAdd, seen, nil)
	s.StoreFlags(ctx, in.ID, []UID{5, 6}, FlagsAdd, ParseFlags([]string{`\Flagged`}), nil)
	if len(changes) != 2 || !changes[0].SeenOnly || len(changes[0].Messages) != 2 || changes[1].SeenOnly {
		t.Fatalf("owner's changes: %+v", changes)
	}
	uids, _ := s.SeenUIDs(ctx, in.ID, "bob@example.test")
	if !slices.Equal(uids, []UID{1, 2, 3, blockUIDs + 1}) {
		t.Fatalf("bob's seen: %v", uids)
	}
	if u, _ := s.UnseenFor(ctx, in.ID, "bob@example.test"); u != n-4 {
		t.Fatalf("bob's unseen: %d", u)
	}
	if u, _ := s.UnseenFor(ctx, in.ID, "carol@example.test"); u != n {
		t.Fatalf("carol's unseen: %d", u)
	}
	// FLAGS (\Deleted) as bob: \Seen cleared for bob, \Flagged off.
	if got, _, _ := s.StoreFlagsAs(ctx, in.ID, "bob@example.test", []UID{2}, FlagsSet, ParseFlags([]string{`\Deleted`}), nil, nil); len(got) != 1 || got[0].Flags.Sys != FlagDeleted {
		t.Fatalf("set: %+v", got)
	}
	s.StoreFlagsAs(ctx, in.ID, "carol@example.test", []UID{1, 5}, FlagsAdd, seen, nil, nil)
	s.StoreFlags(ctx, in.ID, []UID{1}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	if _, err := s.Expunge(ctx, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	uids, _ = s.SeenUIDs(ctx, in.ID, "bob@example.test")
	if !slices.Equal(uids, []UID{3, blockUIDs + 1}) {
		t.Fatalf("bob's seen after expunge: %v", uids)
	}
	if uids, _ = s.SeenUIDs(ctx, in.ID, "carol@example.test"); !slices.Equal(uids, []UID{5}) {
		t.Fatalf("carol's seen after expunge: %v", uids)
	}
	check := func() {
		t.Helper()
		if p, err := s.Check(ctx); err != nil || len(p) > 0 {
			t.Fatalf("check: %v %v", p, err)
		}
	}
	check()

	// Damage: a bit of an expunged UID; a block of a mailbox that is gone.
	s.db.Update(func(tx *badger.Txn) error {
		tx.Set(seenKey(in.ID, "bob@example.test", 0), []byte{0xff})
		return tx.Set(seenKey(999, "bob@example.test", 0), []byte{1})
	})
	if p, _ := s.Check(ctx); len(p) != 2 {
		t.Fatalf("check of damage: %v", p)
	}
	if _, err := s.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	check()
	if uids, _ = s.SeenUIDs(ctx, in.ID, "bob@example.test"); !slices.Equal(uids, []UID{3, 4, 5, 6, 7, blockUIDs + 1}) {
		t.Fatalf("bob's seen after repair: %v", uids)
	}

	// The user's account goes: their state goes everywhere.
	if err := s.PurgeAccount(ctx, "bob@example.test"); err != nil {
		t.Fatal(err)
	}
	if uids, _ = s.SeenUIDs(ctx, in.ID, "bob@example.test"); len(uids) != 0 {
		t.Fatalf("bob's seen after purge: %v", uids)
	}
	// The mailbox goes: everyone's state goes.
	s.EnsureAccount(ctx, "alice@example.test", true)
	if _, err := s.CreateMailbox(ctx, "alice@example.test", "Team", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	team := mustMailbox(t, s, "alice@example.test", "Team")
	if _, err := s.Append(ctx, team.ID, []byte("Subject: y\r\n\r\ny\r\n"), NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
	s.StoreFlagsAs(ctx, team.ID, "carol@example.test", []UID{1}, FlagsAdd, seen, nil, nil)
	if err := s.DeleteMailbox(ctx, "alice@example.test", "Team"); err != nil {
		t.Fatal(err)
	}
	if uids, _ = s.SeenUIDs(ctx, team.ID, "carol@example.test"); len(uids) != 0 {
		t.Fatalf("carol's seen after delete: %v", uids)
	}
	check()
}
