package store

import (
	"context"
	"slices"
	"testing"
)

func TestSharedMailboxes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{Dir: t.TempDir()})
	a, b := "alice@example.test", "bob@example.test"
	for _, acct := range []string{a, b} {
		if err := s.EnsureAccount(ctx, acct, true); err != nil {
			t.Fatal(err)
		}
	}
	orders, err := s.CreateMailbox(ctx, a, "Orders", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.CreateMailbox(ctx, b, "Gone", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMailbox(ctx, b, "Private", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		id     MailboxID
		who, r string
	}{{orders.ID, "bob@example.test", "lr"}, {orders.ID, "carol@example.test", "lrs"}, {gone.ID, "alice@example.test", "lr"}} {
		if err := s.SetACL(ctx, e.id, e.who, e.r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMailbox(ctx, b, "Gone"); err != nil {
		t.Fatal(err)
	}
	got, err := s.SharedMailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Mailbox.ID != orders.ID || got[0].Mailbox.Account != a || len(got[0].ACL) != 2 {
		t.Fatalf("shared mailboxes: %+v", got)
	}
}

// TestInboxSubscribed: an INBOX created before the first login (mail came
// first, or the server's start) is subscribed at that login with the
// special folders, and stays unsubscribed once the user unsubscribes it.
func TestInboxSubscribed(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{Dir: t.TempDir()})
	const a = "alice@example.test"
	if _, err := s.Inbox(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureAccount(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	subs, _ := s.Subscriptions(ctx, a)
	if !slices.Contains(subs, Inbox) || !slices.Contains(subs, "Sent") {
		t.Fatalf("after the first login: %q", subs)
	}
	if err := s.Unsubscribe(ctx, a, Inbox); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureAccount(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	if subs, _ := s.Subscriptions(ctx, a); slices.Contains(subs, Inbox) {
		t.Fatalf("unsubscribed INBOX came back: %q", subs)
	}
}

// TestPurgeDropsGrants: purging an account takes away the ACL entries
// naming it on other accounts' mailboxes, and only those.
func TestPurgeDropsGrants(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{Dir: t.TempDir()})
	a, b := "alice@example.test", "bob@example.test"
	for _, acct := range []string{a, b} {
		if err := s.EnsureAccount(ctx, acct, true); err != nil {
			t.Fatal(err)
		}
	}
	in, _ := s.Inbox(ctx, a)
	for who, r := range map[string]string{"Bob@example.test": "lr", "-bob@example.test": "w", "carol@example.test": "lrs"} {
		if err := s.SetACL(ctx, in.ID, who, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PurgeAccount(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, _ := s.ACL(ctx, in.ID)
	if len(got) != 1 || got[0].Identifier != "carol@example.test" {
		t.Fatalf("ACL after purging bob: %+v", got)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("check: %q %v", p, err)
	}
}
