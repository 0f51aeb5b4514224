package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
	"mailroom/store"
)

// The proof of issue 14 (team mailboxes a team can run) on the real binary
// and the development configuration: TestTeamProof with go-imap and
// go-smtp clients, TestTeamProofPython with imaplib and smtplib
// (testdata/e2e/team_e2e.py). Both use the dev config's fixed ports.

const (
	devConfig  = "../../testdata/dev.toml"
	teamRoot   = "Shared/info@example.test/"
	aliceDeleg = "Other Users/alice@example.test/INBOX"
)

// personalFolders are what a new account starts with, subscribed.
var personalFolders = []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}

// TestTeamProof, in one test:
//   - fresh accounts (alice, bob, carol) list INBOX and their five
//     special-use folders as subscribed (LIST RETURN (SUBSCRIBED)); for
//     bob every Shared/info@example.test/ folder is subscribed too;
//   - bob creates Shared/info@…/Orders, alice Shared/info@…/INBOX/Urgent:
//     both see, select and are subscribed to both;
//   - two customer mails reach info@ (one by the MX, one by submission
//     from carol); bob MOVEs one to Orders and deletes the other as a
//     client does, MOVE to the \Trash that SPECIAL-USE names in the team
//     account: it lands in the team's Trash, bob's own Trash stays empty;
//   - bob replies as info@ by submission and his client APPENDs the same
//     message to the team's Sent: one copy there, naming bob in
//     X-Mailroom-Sent-By, whose UID the APPENDUID gives; carol's copy
//     does not name bob;
//   - `mailroom audit -account info@example.test -json` names bob for his
//     creates, moves and send-as, alice for her create;
//   - the assistant: alice grants bob lrsw on her INBOX and the operator
//     sets private \Seen (`mailroom acl seen`); bob reads three of four
//     messages; alice's STATUS UNSEEN stays 4, bob's is 1.
func TestTeamProof(t *testing.T) {
	start := time.Now()
	data := t.TempDir()
	p := startServe(t, "-c", devConfig, "-data", data)
	p.waitFor(t, 0, "mailroom started")

	connect := func(user string) *imapclient.Client {
		t.Helper()
		c, err := imapclient.DialInsecure("127.0.0.1:1143", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(user, "password").Wait(); err != nil {
			t.Fatalf("LOGIN %s: %v", user, err)
		}
		return c
	}
	// list answers LIST "" pattern RETURN (SUBSCRIBED SPECIAL-USE):
	// selectable mailbox name -> its attributes.
	list := func(c *imapclient.Client, pattern string) map[string][]imap.MailboxAttr {
		t.Helper()
		items, err := c.List("", pattern, &imap.ListOptions{ReturnSubscribed: true, ReturnSpecialUse: true}).Collect()
		if err != nil {
			t.Fatalf("LIST %q RETURN (SUBSCRIBED SPECIAL-USE): %v", pattern, err)
		}
		out := map[string][]imap.MailboxAttr{}
		for _, it := range items {
			if slices.Contains(it.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(it.Attrs, imap.MailboxAttrNonExistent) {
				continue
			}
			out[it.Mailbox] = it.Attrs
		}
		return out
	}
	subscribed := func(attrs []imap.MailboxAttr) bool { return slices.Contains(attrs, imap.MailboxAttrSubscribed) }
	status := func(c *imapclient.Client, box string) *imap.StatusData {
		t.Helper()
		d, err := c.Status(box, &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", box, err)
		}
		return d
	}
	mx := func(from, rcpt, msg string) {
		t.Helper()
		c, err := smtp.Dial("127.0.0.1:2525")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := testutil.SendMail(c, from, []string{rcpt}, msg); err != nil {
			t.Fatalf("MX from %s to %s: %v", from, rcpt, err)
		}
		c.Quit()
	}
	submit := func(user, from, rcpt, msg string) {
		t.Helper()
		c, err := smtp.Dial("127.0.0.1:1587")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(plainAuth(user, "password")); err != nil {
			t.Fatal(err)
		}
		if err := testutil.SendMail(c, from, []string{rcpt}, msg); err != nil {
			t.Fatalf("submission by %s as %s: %v", user, from, err)
		}
		c.Quit()
	}
	all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}

	alice, bob, carol := connect("alice@example.test"), connect("bob@example.test"), connect("carol@other.test")

	// 1. Fresh accounts: INBOX and the special folders subscribed; bob
	// every team folder. (Fails on INBOX at 7ff5dd4: serve's
	// ensureInboxes creates every configured account's INBOX unsubscribed
	// at start, and store.EnsureAccount subscribes only the mailboxes it
	// creates at the first login.)
	for user, c := range map[string]*imapclient.Client{"alice": alice, "bob": bob, "carol": carol} {
		boxes := list(c, "*")
		for _, name := range personalFolders {
			if attrs, ok := boxes[name]; !ok || !subscribed(attrs) {
				t.Errorf("%s's fresh %s: listed %v, attributes %v; want it subscribed", user, name, ok, attrs)
			}
		}
	}
	bobBoxes := list(bob, "*")
	for _, name := range personalFolders {
		if attrs, ok := bobBoxes[teamRoot+name]; !ok || !subscribed(attrs) {
			t.Errorf("bob's %s%s: listed %v, attributes %v; want it subscribed", teamRoot, name, ok, attrs)
		}
	}
	for name, attrs := range bobBoxes {
		if strings.HasPrefix(name, teamRoot) && !subscribed(attrs) {
			t.Errorf("bob: team folder %s not subscribed: %v", name, attrs)
		}
	}
	for name := range list(carol, "*") {
		if strings.HasPrefix(name, "Shared/") || strings.HasPrefix(name, "Other Users/") {
			t.Errorf("carol (another group) lists %s", name)
		}
	}

	// 2. bob and alice shape the team's folders; both see both.
	if err := bob.Create(teamRoot+"Orders", nil).Wait(); err != nil {
		t.Fatalf("bob CREATE %sOrders: %v", teamRoot, err)
	}
	if err := alice.Create(teamRoot+"INBOX/Urgent", nil).Wait(); err != nil {
		t.Fatalf("alice CREATE %sINBOX/Urgent: %v", teamRoot, err)
	}
	for user, c := range map[string]*imapclient.Client{"alice": alice, "bob": bob} {
		boxes := list(c, teamRoot+"*")
		for _, name := range []string{teamRoot + "Orders", teamRoot + "INBOX/Urgent"} {
			attrs, ok := boxes[name]
			if !ok {
				t.Errorf("%s does not list %s: %v", user, name, boxes)
				continue
			}
			if !subscribed(attrs) {
				t.Errorf("%s: new team folder %s not subscribed: %v", user, name, attrs)
			}
			if _, err := c.Select(name, nil).Wait(); err != nil {
				t.Errorf("%s cannot SELECT %s (inherited rights): %v", user, name, err)
			}
		}
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
	}

	// 3. Two customer mails; bob files one and deletes the other.
	mx("customer@remote.test", "info@example.test", "From: customer@remote.test\r\nTo: info@example.test\r\nSubject: Order 1001\r\n\r\nTwo boxes, please.\r\n")
	submit("carol@other.test", "carol@other.test", "info@example.test", "From: Carol <carol@other.test>\r\nTo: info@example.test\r\nSubject: Broken item\r\nMessage-ID: <broken-1@other.test>\r\n\r\nIt arrived broken.\r\n")
	if _, err := bob.Select(teamRoot+"INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := bob.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("team INBOX as bob: %d messages, %v", len(msgs), err)
	}
	uidOf := map[string]imap.UID{}
	for _, m := range msgs {
		uidOf[m.Envelope.Subject] = m.UID
	}
	if uidOf["Order 1001"] == 0 || uidOf["Broken item"] == 0 {
		t.Fatalf("team INBOX subjects: %v", uidOf)
	}
	if md, err := bob.Move(imap.UIDSetNum(uidOf["Order 1001"]), teamRoot+"Orders").Wait(); err != nil || md == nil || len(md.DestUIDs.String()) == 0 {
		t.Fatalf("bob MOVE to Orders: %+v %v", md, err)
	}
	// A client deletes by moving to the \Trash of the account the message
	// is in, which SPECIAL-USE names.
	var teamTrash string
	for name, attrs := range list(bob, teamRoot+"*") {
		if slices.Contains(attrs, imap.MailboxAttrTrash) {
			teamTrash = name
		}
	}
	if teamTrash != teamRoot+"Trash" {
		t.Fatalf("the team's \\Trash as bob lists it: %q, want %sTrash", teamTrash, teamRoot)
	}
	if _, err := bob.Move(imap.UIDSetNum(uidOf["Broken item"]), teamTrash).Wait(); err != nil {
		t.Fatalf("bob MOVE to %s: %v", teamTrash, err)
	}
	for box, want := range map[string]uint32{teamRoot + "INBOX": 0, teamRoot + "Orders": 1, teamRoot + "Trash": 1} {
		if n := *status(alice, box).NumMessages; n != want {
			t.Errorf("alice's STATUS %s MESSAGES %d, want %d", box, n, want)
		}
	}
	if n := *status(bob, "Trash").NumMessages; n != 0 {
		t.Errorf("bob's personal Trash holds %d messages, want 0 (the deleted mail belongs in the team's Trash)", n)
	}
	if _, err := alice.Select(teamRoot+"Trash", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect(); err != nil || len(got) != 1 || got[0].Envelope.Subject != "Broken item" {
		t.Errorf("alice reads the team's Trash: %v %v", got, err)
	}

	// 4. bob answers as info@; his client files its own copy in the team's Sent.
	reply := "From: Info Desk <info@example.test>\r\nTo: carol@other.test\r\nSubject: Re: Broken item\r\n" +
		"Message-ID: <reply-14@example.test>\r\nIn-Reply-To: <broken-1@other.test>\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\nA new one is on its way.\r\n"
	submit("bob@example.test", "info@example.test", "carol@other.test", reply)
	ac := bob.Append(teamRoot+"Sent", int64(len(reply)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	ac.Write([]byte(reply))
	ac.Close()
	ad, err := ac.Wait()
	if err != nil {
		t.Fatalf("bob's client APPEND to the team's Sent: %v", err)
	}
	sel, err := bob.Select(teamRoot+"Sent", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	sent, err := bob.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{header}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 {
		t.Errorf("info@'s Sent holds %d copies of the reply, want 1 (APPEND answered %+v)", len(sent), ad)
	}
	if len(sent) > 0 {
		h := string(sent[0].FindBodySection(header))
		if !strings.Contains(h, "X-Mailroom-Sent-By: bob@example.test\r\n") || !strings.Contains(h, "<reply-14@example.test>") {
			t.Errorf("info@'s Sent copy does not name bob:\n%s", h)
		}
		if ad.UID != sent[0].UID || ad.UIDValidity != sel.UIDValidity {
			t.Errorf("APPENDUID %d %d, want the server's copy: %d %d", ad.UIDValidity, ad.UID, sel.UIDValidity, sent[0].UID)
		}
	}
	if n := *status(bob, "Sent").NumMessages; n != 0 {
		t.Errorf("bob's personal Sent: %d messages, want 0", n)
	}
	// Sent as info@ (send = "as"): what carol gets does not name bob.
	if _, err := carol.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := carol.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{header}}).Collect()
	if err != nil || len(got) != 1 {
		t.Fatalf("carol's INBOX: %d messages, %v", len(got), err)
	}
	if h := string(got[0].FindBodySection(header)); strings.Contains(strings.ToLower(h), "bob") || !strings.Contains(h, "From: Info Desk <info@example.test>") {
		t.Errorf("the reply carol got:\n%s", h)
	}

	// 5. The audit log names who did what in info@'s mailboxes.
	out, err := exec.Command(binary, "audit", "-c", devConfig, "-data", data, "-account", "info@example.test", "-json").Output()
	if err != nil {
		t.Fatalf("mailroom audit: %v", err)
	}
	var recs []store.AuditRecord
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r store.AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	has := func(actor, action, mailbox, detail string) bool {
		for _, r := range recs {
			if r.Account == "info@example.test" && r.Actor == actor && r.Action == action && r.Mailbox == mailbox && strings.Contains(r.Detail, detail) {
				return true
			}
		}
		return false
	}
	for _, w := range []struct{ actor, action, mailbox, detail string }{
		{"bob@example.test", "create", "Orders", ""},
		{"alice@example.test", "create", "INBOX/Urgent", ""},
		{"bob@example.test", "move-out", "INBOX", "Orders"},
		{"bob@example.test", "move-in", "Orders", "INBOX"},
		{"bob@example.test", "move-out", "INBOX", "Trash"},
		{"bob@example.test", "move-in", "Trash", "INBOX"},
		{"bob@example.test", "send-as", "", ""},
	} {
		if !has(w.actor, w.action, w.mailbox, w.detail) {
			t.Errorf("audit lacks %s %s %s (detail ~%q):\n%s", w.actor, w.action, w.mailbox, w.detail, out)
		}
	}
	for _, r := range recs {
		if r.Actor == "carol@other.test" || r.Actor == "info@example.test" {
			t.Errorf("audit record by %s: %+v", r.Actor, r)
		}
	}
	table, err := exec.Command(binary, "audit", "-c", devConfig, "-data", data, "-user", "bob@example.test").Output()
	if err != nil || !strings.Contains(string(table), "move-in") || strings.Contains(string(table), "alice@example.test") {
		t.Errorf("mailroom audit -user bob: %v\n%s", err, table)
	}

	// 6. The assistant: alice's INBOX delegated to bob with private \Seen.
	for i := range 4 {
		mx("someone@remote.test", "alice@example.test", "From: someone@remote.test\r\nSubject: Memo "+string(rune('1'+i))+"\r\n\r\nFor alice.\r\n")
	}
	if err := alice.SetACL("INBOX", "bob@example.test", imap.RightModificationReplace, imap.RightSet("lrsw")).Wait(); err != nil {
		t.Fatalf("alice SETACL: %v", err)
	}
	aclCmd := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"acl", "seen", "-c", devConfig, "-data", data}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mailroom acl seen %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := aclCmd("alice@example.test", "INBOX", "private"); out != "alice@example.test INBOX: private (mailbox)" {
		t.Errorf("acl seen private: %s", out)
	}
	if n := *status(alice, "INBOX").NumUnseen; n != 4 {
		t.Fatalf("alice's UNSEEN before: %d, want 4", n)
	}
	if _, err := bob.Select(aliceDeleg, nil).Wait(); err != nil {
		t.Fatalf("bob SELECT %s: %v", aliceDeleg, err)
	}
	read, err := bob.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(read) != 3 {
		t.Fatalf("bob reads three: %d %v", len(read), err)
	}
	if n := *status(alice, "INBOX").NumUnseen; n != 4 {
		t.Errorf("alice's STATUS UNSEEN after bob read three: %d, want 4 (unchanged)", n)
	}
	if n := *status(bob, aliceDeleg).NumUnseen; n != 1 {
		t.Errorf("bob's STATUS UNSEEN after reading three: %d, want 1", n)
	}
	if _, err := alice.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	flags, err := alice.Fetch(all, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(flags) != 4 {
		t.Fatalf("alice FETCH FLAGS: %v", err)
	}
	for _, m := range flags {
		if slices.Contains(m.Flags, imap.FlagSeen) {
			t.Errorf("alice sees message %d \\Seen after bob read it", m.SeqNum)
		}
	}

	for _, c := range []*imapclient.Client{alice, bob, carol} {
		c.Logout().Wait()
	}
	p.stop(t)
	if out, err := exec.Command(binary, "fsck", "-c", devConfig, "-data", data).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "clean" {
		t.Errorf("fsck: %v %s", err, out)
	}
	t.Logf("team and assistant scenarios in %v", time.Since(start).Round(time.Millisecond))
}

// TestTeamProofPython runs testdata/e2e/team_e2e.py: the same two
// scenarios with imaplib and smtplib, reading `mailroom audit -json`
// through the binary.
func TestTeamProofPython(t *testing.T) {
	python := testutil.NeedPython(t)
	data := t.TempDir()
	p := startServe(t, "-c", devConfig, "-data", data)
	p.waitFor(t, 0, "mailroom started")
	out, err := exec.Command(python, "../../testdata/e2e/team_e2e.py", "127.0.0.1", "1143", "2525", "1587", binary, devConfig, data).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("team scenario with imaplib: %v\n%s", err, out)
	}
	p.stop(t)
}
