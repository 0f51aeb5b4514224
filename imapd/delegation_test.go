package imapd

import (
	"context"
	"encoding/base64"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/acl"
	"mailroom/store"
)

// teamDirectory is the development configuration's people: alice (pro)
// and bob (free) in staff, carol (pro) in other, and the team mailbox
// info@ shared with staff by the operator.
func teamDirectory(t testing.TB) *acl.Directory {
	t.Helper()
	h, err := acl.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	d, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"staff"}},
		{Address: "carol@other.test", PasswordHash: h, Plan: "pro", Groups: []string{"other"}},
		{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
	}, []acl.Plan{{Name: "free"}, {Name: "pro", Share: true, MaxGrantees: 10}}, []string{"staff", "other"},
		[]acl.Share{{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte"}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTeamMailboxScenario(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	ctx := context.Background()
	ts.st.EnsureAccount(ctx, "info@example.test", false)

	wa, optsA := newWatcher()
	wb, optsB := newWatcher()
	alice := ts.client(t, "alice@example.test", optsA)
	bob := ts.client(t, "bob@example.test", optsB)
	carol := ts.client(t, "carol@other.test", nil)

	// NAMESPACE announces the three namespaces.
	ns, err := bob.Namespace().Wait()
	if err != nil || len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" || len(ns.Shared) != 1 || ns.Shared[0].Prefix != "Shared/" {
		t.Fatalf("NAMESPACE = %+v, %v", ns, err)
	}
	// Both staff members see the team INBOX, bob on the free plan too.
	const teamInbox = "Shared/info@example.test/INBOX"
	for who, c := range map[string]*testClient{"alice": {alice}, "bob": {bob}} {
		names := list(t, c.Client, "", "*", nil)
		if !slices.Contains(names, teamInbox+` \HasNoChildren`) || !slices.Contains(names, `Shared \HasChildren \Noselect`) {
			t.Fatalf("%s's LIST lacks the team INBOX: %q", who, names)
		}
	}
	// Mail to info@ reaches both IDLE sessions.
	for _, c := range []*testClient{{alice}, {bob}} {
		if _, err := c.Select(teamInbox, nil).Wait(); err != nil {
			t.Fatalf("SELECT %s: %v", teamInbox, err)
		}
	}
	idleA, _ := alice.Idle()
	idleB, _ := bob.Idle()
	in, _ := ts.st.MailboxByName(ctx, "info@example.test", "INBOX")
	if _, err := ts.st.Deliver(ctx, []byte("From: customer@remote.test\r\nSubject: help\r\n\r\nplease\r\n"), []store.Delivery{{Mailbox: in.ID}}); err != nil {
		t.Fatal(err)
	}
	wa.waitFor(t, "EXISTS 1")
	wb.waitFor(t, "EXISTS 1")
	idleA.Close()
	idleB.Close()
	idleA.Wait()
	idleB.Wait()
	// \Seen is the team's: bob reads it, alice sees it read.
	fetchOne(t, bob, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}})
	alice.Noop().Wait()
	wa.waitFor(t, `FETCH 1 (\Seen)`)

	// alice grants bob lr on her own INBOX; bob reads it under Other Users/.
	appendMsg(t, alice, "INBOX", "Subject: for bob too\r\n\r\nx\r\n", nil)
	ra := dialRaw(t, ts.plain)
	ra.ok("a1 LOGIN alice@example.test password")
	ra.ok("a2 SETACL INBOX bob@example.test lr")
	if got := ra.ok("a3 GETACL INBOX"); !strings.Contains(got, `"bob@example.test" "lr"`) {
		t.Errorf("GETACL = %q", got)
	}
	const aliceInbox = "Other Users/alice@example.test/INBOX"
	if _, err := bob.Select(aliceInbox, nil).Wait(); err != nil {
		t.Fatalf("bob SELECT %s: %v", aliceInbox, err)
	}
	m := fetchOne(t, bob, imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true})
	if m.Envelope.Subject != "for bob too" {
		t.Fatalf("bob reads %q", m.Envelope.Subject)
	}
	rights, err := bob.MyRights(aliceInbox).Wait()
	if err != nil || string(rights.Rights) != "lr" {
		t.Errorf("MYRIGHTS = %+v, %v", rights, err)
	}
	// Without i, bob cannot add to it; without s, reading did not mark it.
	cmd := bob.Append(aliceInbox, 3, nil)
	cmd.Write([]byte("x\r\n"))
	cmd.Close()
	if _, err := cmd.Wait(); respCode(err) != imap.ResponseCodeNoPerm {
		t.Errorf("APPEND without i: %v", err)
	}
	st, _ := alice.Status("INBOX", &imap.StatusOptions{NumUnseen: true}).Wait()
	if *st.NumUnseen != 1 {
		t.Errorf("bob's read without s marked the message seen")
	}

	// Refused grants: carol is in another group, so for alice she does
	// not exist (TestNoEnumeration); bob's plan cannot share.
	if got := ra.cmd("a4 SETACL INBOX carol@other.test lr"); got != "a4 NO [NONEXISTENT] No such identifier: carol@other.test\r\n" {
		t.Errorf("grant to carol: %q", got)
	}
	rb := dialRaw(t, ts.plain)
	rb.ok("b1 LOGIN bob@example.test password")
	if got := rb.cmd("b2 SETACL INBOX alice@example.test lr"); !strings.Contains(got, "b2 NO [NOPERM]") || !strings.Contains(got, "does not allow sharing") {
		t.Errorf("grant by bob: %q", got)
	}
	// carol sees none of it.
	for _, n := range list(t, carol, "", "*", nil) {
		if strings.HasPrefix(n, "Shared") || strings.HasPrefix(n, "Other Users") {
			t.Errorf("carol sees %q", n)
		}
	}
	if _, err := carol.Select(teamInbox, nil).Wait(); respCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("carol SELECT team INBOX: %v", err)
	}

	// alice revokes; bob's open session loses access.
	ra.ok("a5 DELETEACL INBOX bob@example.test")
	if _, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect(); respCode(err) != imap.ResponseCodeNoPerm {
		t.Errorf("bob FETCH after revoke: %v", err)
	}
	if _, err := bob.Status(aliceInbox, &imap.StatusOptions{NumMessages: true}).Wait(); respCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("bob STATUS after revoke: %v", err)
	}
}

// testClient lets a map hold clients by value.
type testClient struct{ *imapclient.Client }

// TestReloadEndsAccess: a reload that takes the grantee out of the owner's
// group, or the owner's plan off sharing, ends access at once, also in a
// session that has the mailbox selected.
func TestReloadEndsAccess(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	ctx := context.Background()
	ts.st.EnsureAccount(ctx, "info@example.test", false)
	bob := ts.client(t, "bob@example.test", nil)
	const team = "Shared/info@example.test/INBOX"
	if _, err := bob.Select(team, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// The operator moves bob out of staff.
	h, _ := acl.HashPassword("password")
	moved, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"other"}},
		{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
	}, []acl.Plan{{Name: "free"}, {Name: "pro", Share: true}}, []string{"staff", "other"},
		[]acl.Share{{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte"}})
	if err != nil {
		t.Fatal(err)
	}
	ts.dir.Store(moved)
	if _, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect(); respCode(err) != imap.ResponseCodeNoPerm {
		t.Errorf("FETCH after leaving the group: %v", err)
	}
	if names := list(t, bob, "", "*", nil); slices.ContainsFunc(names, func(s string) bool { return strings.HasPrefix(s, "Shared") }) {
		t.Errorf("LIST after leaving the group: %q", names)
	}
}

// TestExtensionLayerFraming drives the ACL commands through what the
// extension layer must get right: pipelined commands mixing its own and
// go-imap's, arguments as literals (synchronizing and not), AUTHENTICATE
// continuation lines and IDLE's DONE, which are not commands, and the
// same after STARTTLS.
func TestExtensionLayerFraming(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	r := dialRaw(t, ts.plain)
	// AUTHENTICATE with a continuation line that looks like nothing.
	io.WriteString(r.c, "a1 AUTHENTICATE PLAIN\r\n")
	if l, _ := r.br.ReadString('\n'); !strings.HasPrefix(l, "+") {
		t.Fatalf("AUTHENTICATE: %q", l)
	}
	resp := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00password"))
	if got := r.cmdTag(resp, "a1"); !strings.Contains(got, "a1 OK") {
		t.Fatalf("AUTHENTICATE: %q", got)
	}
	// Pipelined: go-imap's, ours, go-imap's, ours with a literal of each kind.
	io.WriteString(r.c, "p1 NOOP\r\np2 MYRIGHTS INBOX\r\np3 SELECT INBOX\r\n"+
		"p4 SETACL {5+}\r\nINBOX {16+}\r\nbob@example.test lr\r\np5 GETACL \"INBOX\"\r\n")
	var got strings.Builder
	for !strings.Contains(got.String(), "p5 ") {
		l, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatalf("pipelined: %v after %q", err, got.String())
		}
		got.WriteString(l)
	}
	for _, want := range []string{"p1 OK", `* MYRIGHTS "INBOX" "lrswipkxtea"`, "p2 OK", "p3 OK", "p4 OK", `"bob@example.test" "lr"`, "p5 OK"} {
		if !strings.Contains(got.String(), want) {
			t.Errorf("pipelined: no %q in %q", want, got.String())
		}
	}
	// A synchronizing literal gets its "+" from the extension layer.
	io.WriteString(r.c, "s1 DELETEACL INBOX {16}\r\n")
	if l, _ := r.br.ReadString('\n'); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation for a synchronizing literal: %q", l)
	}
	if got := r.cmdTag("bob@example.test", "s1"); !strings.Contains(got, "s1 OK") {
		t.Fatalf("DELETEACL: %q", got)
	}
	// IDLE's DONE passes through; an ACL command after it works.
	io.WriteString(r.c, "i1 IDLE\r\n")
	if l, _ := r.br.ReadString('\n'); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	if got := r.cmdTag("DONE", "i1"); !strings.Contains(got, "i1 OK") {
		t.Fatalf("IDLE DONE: %q", got)
	}
	if got := r.cmd("i2 GETACL INBOX"); !strings.Contains(got, "i2 OK") || strings.Contains(got, "bob@") {
		t.Fatalf("GETACL after IDLE: %q", got)
	}
	// Syntax errors and the wrong state get BAD, and the connection goes on.
	for cmd, want := range map[string]string{
		"e1 SETACL INBOX":                     "e1 BAD",
		"e2 GETACL (INBOX)":                   "e2 BAD",
		"e3 SETACL INBOX bob@example.test lz": "e3 BAD",
	} {
		if got := r.cmd(cmd); !strings.Contains(got, want) {
			t.Errorf("%s: %q", cmd, got)
		}
	}
	pre := dialRaw(t, ts.plain)
	if got := pre.cmd("n1 GETACL INBOX"); !strings.Contains(got, "n1 BAD") {
		t.Errorf("GETACL before login: %q", got)
	}

	// After STARTTLS, on the strict listener.
	c, err := imapclient.DialStartTLS(ts.strict, insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetACL("INBOX", "group:staff", imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatalf("SETACL after STARTTLS: %v", err)
	}
	acls, err := c.GetACL("INBOX").Wait()
	if err != nil || string(acls.Rights["group:staff"]) != "lr" {
		t.Fatalf("GETACL after STARTTLS: %+v %v", acls, err)
	}
}
