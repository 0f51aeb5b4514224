package acl

import (
	"context"
	"errors"
	"testing"

	"mailroom/store"
)

// TestNamespaces: names resolve to owners and rights in one place, for
// IMAP, send-as and the commands alike; an account one cannot reach
// answers as one that does not exist.
func TestNamespaces(t *testing.T) {
	d := testDirectory(t)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, a := range []string{"alice@example.test", "bob@example.test", "info@example.test", "carol@other.test"} {
		st.EnsureAccount(ctx, a, true)
	}
	alice, _ := d.Lookup("alice@example.test")
	bob, _ := d.Lookup("bob@example.test")
	info, _ := d.Lookup("info@example.test")
	carol, _ := d.Lookup("carol@other.test")

	if got := DisplayName(bob, alice, "INBOX"); got != "Other Users/Alice@example.test/INBOX" {
		t.Errorf("DisplayName: %q", got)
	}
	if got := DisplayName(bob, info, "INBOX"); got != "Shared/info@example.test/INBOX" {
		t.Errorf("DisplayName of a team: %q", got)
	}
	for name, wantErr := range map[string]bool{
		"INBOX":                                false,
		"Other Users/alice@example.test/INBOX": false,
		"Shared/alice@example.test/INBOX":      true, // a person is not under Shared/
		"Other Users/info@example.test/INBOX":  true, // a team is not under Other Users/
		"Other Users/carol@other.test/INBOX":   true, // no group in common
		"Other Users/alice@example.test":       true, // the account's node
		"Other Users/nobody@example.test/x":    true,
	} {
		_, _, err := d.SplitName(bob, name)
		if (err != nil) != wantErr {
			t.Errorf("SplitName(%q): %v", name, err)
		}
	}
	// Without a grant, alice's INBOX is invisible to bob; with "lr" bob
	// sees it with those rights; send-as needs "p".
	if _, err := d.Locate(ctx, st, bob, "Other Users/alice@example.test/INBOX"); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("Locate without a grant: %v", err)
	}
	inbox, _ := st.MailboxByName(ctx, "alice@example.test", "INBOX")
	if _, err := d.SetRights(ctx, st, alice, inbox.ID, "bob@example.test", "lr"); err != nil {
		t.Fatal(err)
	}
	p, err := d.Locate(ctx, st, bob, "Other Users/alice@example.test/INBOX")
	if err != nil || p.Owner != alice || p.Rights.String() != "lr" || p.Display != "Other Users/Alice@example.test/INBOX" {
		t.Fatalf("Locate: %+v %v", p, err)
	}
	if _, err := d.SendAs(ctx, st, bob, "alice@example.test"); !errors.Is(err, ErrNotPermitted) {
		t.Errorf("send-as without p: %v", err)
	}
	d.SetRights(ctx, st, alice, inbox.ID, "bob@example.test", "+p")
	if owner, err := d.SendAs(ctx, st, bob, "alice@example.test"); err != nil || owner != alice {
		t.Errorf("send-as with p: %v %v", owner, err)
	}
	if owner, err := d.SendAs(ctx, st, alice, "sales@example.test"); err != nil || owner != alice {
		t.Errorf("send-as an alias: %v %v", owner, err)
	}
	if _, err := d.SendAs(ctx, st, carol, "alice@example.test"); !errors.Is(err, ErrNotPermitted) {
		t.Errorf("send-as a stranger: %v", err)
	}
}

// TestSeenMode: a mailbox's own setting, then a share of that mailbox,
// then one of the whole account, then shared for teams and private for
// people; the owner never keeps a private \Seen.
func TestSeenMode(t *testing.T) {
	h, err := HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectory([]AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
		{Address: "sales@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
		{Address: "desk@example.test", Plan: "pro", Groups: []string{"staff"}},
	}, []Plan{{Name: "pro", Share: true}}, []string{"staff"}, []Share{
		{Owner: "alice@example.test", Mailbox: "Boss", Grantee: "bob@example.test", Rights: "lrs", Seen: SeenShared},
		{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrs", Seen: SeenPrivate},
		{Owner: "info@example.test", Mailbox: "Orders", Grantee: "group:staff", Rights: "lrs", Seen: SeenShared},
	})
	if err != nil {
		t.Fatal(err)
	}
	acct := func(a string) *Account { x, _ := d.Lookup(a); return x }
	for _, tc := range []struct{ owner, mailbox, explicit, want string }{
		{"alice@example.test", "INBOX", "", SeenPrivate},
		{"alice@example.test", "Boss", "", SeenShared},
		{"alice@example.test", "Boss", SeenPrivate, SeenPrivate},
		{"alice@example.test", "INBOX", "nonsense", SeenPrivate},
		{"info@example.test", "INBOX", "", SeenPrivate},
		{"info@example.test", "Orders", "", SeenShared},
		{"sales@example.test", "INBOX", "", SeenShared},
		{"sales@example.test", "INBOX", SeenPrivate, SeenPrivate},
		{"desk@example.test", "INBOX", "", SeenShared}, // no password: nobody's own
	} {
		if got := d.SeenMode(acct(tc.owner), tc.mailbox, tc.explicit); got != tc.want {
			t.Errorf("SeenMode(%s, %s, %q) = %s, want %s", tc.owner, tc.mailbox, tc.explicit, got, tc.want)
		}
	}
	alice, bob := acct("alice@example.test"), acct("bob@example.test")
	if PrivateSeen(alice, alice, SeenPrivate) || !PrivateSeen(alice, bob, SeenPrivate) || PrivateSeen(alice, bob, SeenShared) {
		t.Error("PrivateSeen")
	}
}
