package engine

import (
	"context"
	"strings"
	"testing"

	"mailroom/acl"
	"mailroom/store"
)

// TestTeamFolders: a grantee of a whole team account (a [[share]] naming
// no mailbox) with "k" creates top-level folders there and every member
// sees them; a folder created inside a shared mailbox inherits its ACL,
// so its creator and the others who see the parent see it too.
func TestTeamFolders(t *testing.T) {
	h, err := acl.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "team", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "carol@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "info@example.test", Plan: "team", Groups: []string{"staff"}, Team: true},
	}, []acl.Plan{{Name: "pro", Share: true}, {Name: "team", Share: true}}, []string{"staff"},
		[]acl.Share{{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *Options) { o.Directory = acl.NewLive(dir) })
	b := login(t, ts, "bob@example.test")
	a := login(t, ts, "alice@example.test")
	b.send(`b1 CREATE "Shared/info@example.test/Orders"` + "\r\n")
	b.expect("b1", "OK")
	a.send(`a1 LIST "" "Shared/info@example.test/*"` + "\r\n")
	if l := a.expect("a1", "OK"); !strings.Contains(strings.Join(l, "\n"), `"Shared/info@example.test/Orders"`) {
		t.Errorf("alice does not see the team's new folder: %q", l)
	}
	// Not in a person's account without an account-wide grant.
	b.send(`b2 CREATE "Other Users/alice@example.test/Mine"` + "\r\n")
	b.expect("b2", "NO")

	// Inheritance: alice lets bob and carol into her INBOX with "k"; bob
	// creates a folder inside; both see it.
	a.send("a2 SETACL INBOX bob@example.test lrk\r\na3 SETACL INBOX carol@example.test lr\r\n")
	a.expect("a2", "OK")
	a.expect("a3", "OK")
	b.send(`b3 CREATE "Other Users/alice@example.test/INBOX/ByBob"` + "\r\nb4 SELECT \"Other Users/alice@example.test/INBOX/ByBob\"\r\n")
	b.expect("b3", "OK")
	b.expect("b4", "OK")
	c := login(t, ts, "carol@example.test")
	c.send(`c1 MYRIGHTS "Other Users/alice@example.test/INBOX/ByBob"` + "\r\n")
	if l := c.expect("c1", "OK"); !strings.HasSuffix(l[0], ` "lr"`) {
		t.Errorf("carol's rights on the new folder: %q", l)
	}
	a.send("a4 GETACL INBOX/ByBob\r\n")
	if l := a.expect("a4", "OK"); !strings.Contains(l[0], `"bob@example.test" "lrk" "carol@example.test" "lr"`) {
		t.Errorf("inherited ACL: %q", l)
	}
}

// TestSentCopyNotDoubled: mail a member sent as a team address is filed
// in the team's Sent by the server, naming the member; the member's client
// then appending its own copy there (same Message-ID) gets the server's
// copy's APPENDUID and no second copy. Another message is stored.
func TestSentCopyNotDoubled(t *testing.T) {
	h, _ := acl.HashPassword("password")
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "bob@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "info@example.test", Plan: "team", Groups: []string{"staff"}, Team: true},
	}, []acl.Plan{{Name: "pro", Share: true}, {Name: "team", Share: true}}, []string{"staff"},
		[]acl.Share{{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *Options) { o.Directory = acl.NewLive(dir) })
	ctx := context.Background()
	ts.st.EnsureAccount(ctx, "info@example.test", true)
	sent, _ := ts.st.MailboxByName(ctx, "info@example.test", "Sent")
	msg := "From: info@example.test\r\nTo: customer@remote.test\r\nSubject: Re: order\r\nMessage-ID: <reply-1@example.test>\r\n\r\nShipped.\r\n"
	d, err := ts.st.Append(ctx, sent.ID, []byte(msg), store.NewMessage{Prefix: []byte("X-Mailroom-Sent-By: bob@example.test\r\n")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := login(t, ts, "bob@example.test")
	b.send(`a1 APPEND "Shared/info@example.test/Sent" (\Seen) {` + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	want := "a1 OK [APPENDUID " + itoa(int(d.UIDValidity)) + " " + itoa(int(d.UID)) + "]"
	if l := b.expect("a1", "OK"); !strings.HasPrefix(l[len(l)-1], want) {
		t.Errorf("APPEND of the same message: %q, want %s", l, want)
	}
	other := strings.Replace(msg, "reply-1", "reply-2", 1)
	b.send(`a2 APPEND "Shared/info@example.test/Sent" {` + itoa(len(other)) + "+}\r\n" + other + "\r\n")
	b.expect("a2", "OK [APPENDUID")
	if m, _ := ts.st.Mailbox(ctx, sent.ID); m.Messages != 2 {
		t.Errorf("the team's Sent holds %d messages, want 2", m.Messages)
	}
}

// TestMyRightsWithoutSharing: an owner whose plan cannot share is not
// told "a" by MYRIGHTS (nor LIST RETURN (MYRIGHTS)), so clients offer no
// sharing dialog where every grant would fail; one whose plan shares is.
func TestMyRightsWithoutSharing(t *testing.T) {
	h, _ := acl.HashPassword("password")
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "dave@example.test", PasswordHash: h, Plan: "free"},
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro"},
	}, []acl.Plan{{Name: "free"}, {Name: "pro", Share: true}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *Options) { o.Directory = acl.NewLive(dir) })
	for user, want := range map[string]string{"dave@example.test": `"lrswipkxte"`, "alice@example.test": `"lrswipkxtea"`} {
		r := login(t, ts, user)
		r.send("m MYRIGHTS INBOX\r\nl LIST \"\" INBOX RETURN (MYRIGHTS)\r\n")
		if l := r.expect("m", "OK"); !strings.HasSuffix(l[0], " "+want) {
			t.Errorf("%s MYRIGHTS: %q, want %s", user, l[0], want)
		}
		if l := r.expect("l", "OK"); !has(l, `* MYRIGHTS "INBOX" `+want) && !has(l, "* MYRIGHTS INBOX "+want) {
			t.Errorf("%s LIST MYRIGHTS: %q", user, l)
		}
	}
}

// TestSharedMailboxesSubscribed: a mailbox shared with a user is
// subscribed for them, so clients that show only subscribed folders show
// it, unless they unsubscribed it; that choice sticks.
func TestSharedMailboxesSubscribed(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	b := login(t, ts, "bob@example.test")
	a.send("a1 CREATE Projects\r\na2 SETACL INBOX bob@example.test lr\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	b.send("b1 LSUB \"\" \"Other Users/*\"\r\n")
	if l := b.expect("b1", "OK"); !has(l, `* LSUB () "/" "Other Users/alice@example.test/INBOX"`) {
		t.Fatalf("shared INBOX not subscribed: %q", l)
	}
	b.send("b2 UNSUBSCRIBE \"Other Users/alice@example.test/INBOX\"\r\n")
	b.expect("b2", "OK")
	a.send("a3 SETACL Projects bob@example.test lr\r\n")
	a.expect("a3", "OK")
	b.send("b3 LIST (SUBSCRIBED) \"\" \"Other Users/*\"\r\n")
	l := b.expect("b3", "OK")
	joined := strings.Join(l, "\n")
	if !strings.Contains(joined, `"Other Users/alice@example.test/Projects"`) || strings.Contains(joined, `"Other Users/alice@example.test/INBOX"`) {
		t.Errorf("after unsubscribing INBOX and a new share: %q", l)
	}
}
