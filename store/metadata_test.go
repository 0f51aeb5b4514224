package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func getMeta(t *testing.T, s *Store, sc MetadataScope, name string, depth int) []string {
	t.Helper()
	var out []string
	err := s.GetMetadata(context.Background(), sc, name, depth, func(e MetadataEntry) error {
		out = append(out, e.Name+"="+string(e.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMetadataLifecycle: entries are set and removed atomically, found by
// name without case and by depth, follow a renamed mailbox, are copied by
// a rename of INBOX and go with a deleted mailbox, giving back their cost.
func TestMetadataLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	const a = "alice@example.test"
	if err := s.EnsureAccount(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMailbox(ctx, a, "Work", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	work := mustMailbox(t, s, a, "Work")
	inbox := mustMailbox(t, s, a, Inbox)
	shared := MetadataScope{Mailbox: work.ID}
	private := MetadataScope{Mailbox: work.ID, User: "bob@example.test"}
	lim := MetadataLimits{Entries: 4, Bytes: 200}
	err := s.SetMetadata(ctx, []MetadataWrite{
		{Scope: shared, Name: "/shared/Comment", Value: []byte("team")},
		{Scope: shared, Name: "/shared/a/b", Value: []byte("1")},
		{Scope: shared, Name: "/shared/a/b/c", Value: []byte("2")},
		{Scope: private, Name: "/private/comment", Value: []byte("mine")},
	}, lim)
	if err != nil {
		t.Fatal(err)
	}
	if got := getMeta(t, s, shared, "/SHARED/comment", 0); !slices.Equal(got, []string{"/shared/Comment=team"}) {
		t.Errorf("case-insensitive get: %q", got)
	}
	if got := getMeta(t, s, shared, "/shared", 1); !slices.Equal(got, []string{"/shared/Comment=team"}) {
		t.Errorf("depth 1: %q", got)
	}
	if got := getMeta(t, s, shared, "/shared", -1); len(got) != 3 {
		t.Errorf("depth infinity: %q", got)
	}
	if got := getMeta(t, s, MetadataScope{Mailbox: work.ID, User: "carol@example.test"}, "/private/comment", 0); len(got) != 0 {
		t.Errorf("another user's private entry: %q", got)
	}

	// Limits: alice pays for the shared entries (3), bob for his own (1).
	err = s.SetMetadata(ctx, []MetadataWrite{
		{Scope: shared, Name: "/shared/x", Value: []byte("x")},
		{Scope: shared, Name: "/shared/y", Value: []byte("y")},
	}, lim)
	if !errors.Is(err, ErrMetadataTooMany) {
		t.Fatalf("fifth entry: %v", err)
	}
	if got := getMeta(t, s, shared, "/shared/x", 0); len(got) != 0 {
		t.Errorf("a failed SETMETADATA left %q", got)
	}
	err = s.SetMetadata(ctx, []MetadataWrite{{Scope: shared, Name: "/shared/comment", Value: make([]byte, 300)}}, lim)
	if !errors.Is(err, ErrMetadataFull) {
		t.Fatalf("over the byte budget: %v", err)
	}
	// Replacing and removing free room.
	err = s.SetMetadata(ctx, []MetadataWrite{
		{Scope: shared, Name: "/shared/a/b", Value: nil},
		{Scope: shared, Name: "/shared/x", Value: []byte("x")},
	}, lim)
	if err != nil {
		t.Fatal(err)
	}

	// RENAME keeps them (keyed by id); renaming INBOX copies INBOX's.
	if err := s.RenameMailbox(ctx, a, "Work", "Projects"); err != nil {
		t.Fatal(err)
	}
	if got := getMeta(t, s, shared, "/shared/comment", 0); len(got) != 1 {
		t.Errorf("after RENAME: %q", got)
	}
	err = s.SetMetadata(ctx, []MetadataWrite{{Scope: MetadataScope{Mailbox: inbox.ID}, Name: "/shared/comment", Value: []byte("in")}}, MetadataLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, a, Inbox, "Old"); err != nil {
		t.Fatal(err)
	}
	newInbox := mustMailbox(t, s, a, Inbox)
	for _, id := range []MailboxID{inbox.ID, newInbox.ID} {
		if got := getMeta(t, s, MetadataScope{Mailbox: id}, "/shared/comment", 0); !slices.Equal(got, []string{"/shared/comment=in"}) {
			t.Errorf("INBOX rename, mailbox %d: %q", id, got)
		}
	}

	// DELETE purges them, every user's, and gives the cost back.
	if err := s.DeleteMailbox(ctx, a, "Projects"); err != nil {
		t.Fatal(err)
	}
	if got := getMeta(t, s, shared, "/shared", -1); len(got) != 0 {
		t.Errorf("after DELETE: %q", got)
	}
	if got := getMeta(t, s, private, "/private", -1); len(got) != 0 {
		t.Errorf("private after DELETE: %q", got)
	}
	err = s.SetMetadata(ctx, []MetadataWrite{{Scope: shared, Name: "/shared/comment", Value: []byte("x")}}, lim)
	if !errors.Is(err, ErrNoMailbox) {
		t.Errorf("set on a deleted mailbox: %v", err)
	}
	for account, want := range map[string]metaUsage{a: {entries: 2, bytes: 2 * int64(len("/shared/comment")+2)}, "bob@example.test": {}} {
		var u metaUsage
		if err := s.view(func(tx *badger.Txn) error {
			var err error
			u, err = getMetaUsage(tx, account)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if u != want {
			t.Errorf("usage of %s: %+v, want %+v", account, u, want)
		}
	}
}
