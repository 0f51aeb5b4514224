package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/store"
)

// TestMetadataRoundTrip: SETMETADATA stores private and shared mailbox
// entries (a literal, an empty string, a NUL byte), GETMETADATA returns
// them with names compared without case, NIL for one that is absent, and
// NIL in SETMETADATA removes.
func TestMetadataRoundTrip(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 CAPABILITY\r\n")
	if l := a.expect("a1", "OK"); !strings.Contains(l[0], " METADATA ") || !strings.Contains(l[0], " METADATA-SERVER") {
		t.Fatalf("capabilities: %q", l[0])
	}
	a.send("a2 SETMETADATA INBOX (/private/comment \"mine\" /shared/Comment {9}\r\n")
	if l := a.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	a.send("two\r\nline /shared/vendor/test/empty \"\" /private/vendor/test/bin ~{3+}\r\na\x00b)\r\n")
	a.expect("a2", "OK")
	a.send("a3 GETMETADATA inbox (/PRIVATE/comment /shared/comment /shared/vendor/test/empty /private/vendor/test/bin /private/nothing)\r\n")
	l := a.expect("a3", "OK")
	want := "* METADATA \"INBOX\" (/private/comment \"mine\" /shared/Comment {9}"
	if l[0] != want || l[1] != "two" || l[2] != "line /shared/vendor/test/empty \"\" /private/vendor/test/bin ~{3}" || l[3] != "a\x00b /private/nothing NIL)" {
		t.Fatalf("GETMETADATA: %q", l)
	}
	a.send("a4 SETMETADATA INBOX (/private/comment NIL)\r\na5 GETMETADATA INBOX /private/comment\r\n")
	a.expect("a4", "OK")
	if l := a.expect("a5", "OK"); l[0] != `* METADATA "INBOX" (/private/comment NIL)` {
		t.Fatalf("after removal: %q", l)
	}
}

// TestMetadataOptions: DEPTH 1 and infinity, MAXSIZE with LONGENTRIES,
// options before or after the mailbox.
func TestMetadataOptions(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 SETMETADATA INBOX (/private/f/values \"v\" /private/f/values/small \"SMALLER 5000\" /private/f/values/boss/x \"deep\" /private/f/values/big \"" + strings.Repeat("b", 2000) + "\")\r\n")
	a.expect("a1", "OK")
	a.send("a2 GETMETADATA INBOX (DEPTH 1) (/private/f/values)\r\n")
	if l := strings.Join(a.expect("a2", "OK GETMETADATA"), "\n"); !strings.Contains(l, "/private/f/values/small \"SMALLER 5000\"") || !strings.Contains(l, "/private/f/values \"v\"") || strings.Contains(l, "/boss/x") {
		t.Fatalf("DEPTH 1: %q", l)
	}
	a.send("a3 GETMETADATA (DEPTH infinity MAXSIZE 1024) INBOX /private/f\r\n")
	l := a.expect("a3", "OK [METADATA LONGENTRIES 2000]")
	if !strings.Contains(l[0], "/private/f/values/boss/x \"deep\"") || strings.Contains(l[0], "/big") || strings.Contains(l[0], "/private/f NIL") {
		t.Fatalf("DEPTH infinity with MAXSIZE: %q", l)
	}
	for i, bad := range []string{"(DEPTH 2) INBOX /private/x", "INBOX (FOO 1) /private/x", "INBOX /private//x", "INBOX /private/x/", "INBOX /other/x", "INBOX /private/a*"} {
		tag := fmt.Sprintf("b%d", i)
		a.send(tag + " GETMETADATA " + bad + "\r\n")
		a.expect(tag, "BAD")
	}
	for i, bad := range []string{"(/private \"x\")", "(/shared/vendor/x \"y\")", "(/private/x)", "(/private/x FOO)"} {
		tag := fmt.Sprintf("c%d", i)
		a.send(tag + " SETMETADATA INBOX " + bad + "\r\n")
		a.expect(tag, "BAD")
	}
}

// TestMetadataServerEntries: mailbox "" names the server; a user may keep
// private server entries, shared ones are the operator's.
func TestMetadataServerEntries(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 SETMETADATA \"\" (/private/vendor/test/theme \"dark\")\r\n")
	a.expect("a1", "OK")
	a.send("a2 SETMETADATA \"\" (/shared/comment \"hello\")\r\n")
	a.expect("a2", "NO [NOPERM]")
	a.send("a3 GETMETADATA \"\" (/private/vendor/test/theme /shared/comment)\r\n")
	if l := a.expect("a3", "OK"); l[0] != `* METADATA "" (/private/vendor/test/theme "dark" /shared/comment NIL)` {
		t.Fatalf("server entries: %q", l)
	}
	b := login(t, ts, "bob@example.test")
	b.send("b1 GETMETADATA \"\" /private/vendor/test/theme\r\n")
	if l := b.expect("b1", "OK"); l[0] != `* METADATA "" (/private/vendor/test/theme NIL)` {
		t.Fatalf("another user sees a private server entry: %q", l)
	}
}

// TestMetadataLimits: a value over the limit is refused before its
// literal is sent, with [METADATA MAXSIZE n]; past the account's budget
// of entries, [METADATA TOOMANY], and nothing of the failed command is
// kept.
func TestMetadataLimits(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send(fmt.Sprintf("a1 SETMETADATA INBOX (/private/big {%d}\r\n", maxMetadataValue+1))
	if l := a.line(); l != fmt.Sprintf("a1 NO [METADATA MAXSIZE %d] Annotation value too large", maxMetadataValue) {
		t.Fatalf("oversized literal: %q", l)
	}
	a.send(fmt.Sprintf("a2 SETMETADATA INBOX (/private/big \"%s\")\r\n", strings.Repeat("x", maxMetadataValue+1)))
	a.expect("a2", fmt.Sprintf("NO [METADATA MAXSIZE %d]", maxMetadataValue))
	for batch := 0; batch < maxMetadataEntries/500; batch++ {
		var cmd strings.Builder
		fmt.Fprintf(&cmd, "s%d SETMETADATA INBOX (", batch)
		for i := range 500 {
			if i > 0 {
				cmd.WriteString(" ")
			}
			fmt.Fprintf(&cmd, "/private/e/%d/%d \"v\"", batch, i)
		}
		cmd.WriteString(")\r\n")
		a.send(cmd.String())
		a.expect(fmt.Sprintf("s%d", batch), "OK")
	}
	a.send("a3 SETMETADATA INBOX (/private/e/0/0 \"replaced\" /private/one/more \"v\")\r\n")
	a.expect("a3", "NO [METADATA TOOMANY]")
	a.send("a4 GETMETADATA INBOX (/private/e/0/0 /private/one/more)\r\n")
	if l := a.expect("a4", "OK"); l[0] != `* METADATA "INBOX" (/private/e/0/0 "v" /private/one/more NIL)` {
		t.Fatalf("after a refused SETMETADATA: %q", l)
	}
	// Removing one makes room again.
	a.send("a5 SETMETADATA INBOX (/private/e/0/0 NIL /private/one/more \"v\")\r\n")
	a.expect("a5", "OK")
}

// TestMetadataRights: RFC 5464 §3.3 with RFC 4314: "l" and one of
// "rswip" to read or set; "w" too for a mailbox's shared entries. A
// delegate's private entries are its own.
func TestMetadataRights(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 CREATE Team\r\na2 SETMETADATA Team (/shared/comment \"team box\" /private/comment \"alice's\")\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	b := login(t, ts, "bob@example.test")
	const team = `"Other Users/alice@example.test/Team"`
	b.send("b1 GETMETADATA " + team + " /shared/comment\r\n")
	b.expect("b1", "NO [NONEXISTENT]")

	a.send("a3 SETACL Team bob@example.test l\r\n")
	a.expect("a3", "OK")
	b.send("b2 GETMETADATA " + team + " /shared/comment\r\n")
	b.expect("b2", "NO [NOPERM]")

	a.send("a4 SETACL Team bob@example.test lr\r\n")
	a.expect("a4", "OK")
	b.send("b3 GETMETADATA " + team + " (/shared/comment /private/comment)\r\n")
	if l := b.expect("b3", "OK"); l[0] != `* METADATA "Other Users/alice@example.test/Team" (/shared/comment "team box" /private/comment NIL)` {
		t.Fatalf("delegate reads: %q", l)
	}
	b.send("b4 SETMETADATA " + team + " (/private/comment \"bob's\")\r\n")
	b.expect("b4", "OK")
	b.send("b5 SETMETADATA " + team + " (/shared/comment \"changed\")\r\n")
	b.expect("b5", "NO [NOPERM]")
	a.send("a5 GETMETADATA Team /private/comment\r\n")
	if l := a.expect("a5", "OK"); l[0] != `* METADATA "Team" (/private/comment "alice's")` {
		t.Fatalf("owner's private entry: %q", l)
	}

	a.send("a6 SETACL Team bob@example.test lrw\r\n")
	a.expect("a6", "OK")
	b.send("b6 SETMETADATA " + team + " (/shared/comment \"changed\")\r\n")
	b.expect("b6", "OK")
	a.send("a7 GETMETADATA Team /shared/comment\r\n")
	if l := a.expect("a7", "OK"); l[0] != `* METADATA "Team" (/shared/comment "changed")` {
		t.Fatalf("shared entry set by a delegate: %q", l)
	}
}

// TestMetadataReservedSeen: /shared/vendor/mailroom/seen takes "shared"
// or "private" from someone with "a"; the rest of Mailroom's vendor
// space is refused.
func TestMetadataReservedSeen(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 CREATE Team\r\na2 SETACL Team bob@example.test lrw\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	a.send("a3 SETMETADATA Team (/shared/vendor/mailroom/seen \"private\")\r\n")
	a.expect("a3", "OK")
	a.send("a4 SETMETADATA Team (/shared/vendor/mailroom/seen \"sometimes\")\r\n")
	a.expect("a4", "NO [CANNOT]")
	a.send("a5 SETMETADATA Team (/shared/vendor/mailroom/other \"x\")\r\n")
	a.expect("a5", "NO [CANNOT]")
	a.send("a6 SETMETADATA \"\" (/private/vendor/mailroom/seen \"shared\")\r\n")
	a.expect("a6", "NO [CANNOT]")
	a.send("a7 GETMETADATA Team /shared/vendor/mailroom/seen\r\n")
	if l := a.expect("a7", "OK"); l[0] != `* METADATA "Team" (/shared/vendor/mailroom/seen "private")` {
		t.Fatalf("seen: %q", l)
	}
	b := login(t, ts, "bob@example.test")
	b.send("b1 SETMETADATA \"Other Users/alice@example.test/Team\" (/shared/vendor/mailroom/seen \"shared\")\r\n")
	b.expect("b1", "NO [NOPERM]")
	a.send("a8 SETMETADATA Team (/shared/vendor/mailroom/seen NIL)\r\n")
	a.expect("a8", "OK")
}

// TestMetadataFollowsMailbox: RENAME keeps a mailbox's entries; DELETE
// takes them, so a new mailbox of the same name starts without any.
func TestMetadataFollowsMailbox(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 CREATE Old\r\na2 SETMETADATA Old (/shared/comment \"kept\" /private/comment \"mine\")\r\na3 RENAME Old New\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	a.expect("a3", "OK")
	a.send("a4 GETMETADATA New (/shared/comment /private/comment)\r\n")
	if l := a.expect("a4", "OK"); l[0] != `* METADATA "New" (/shared/comment "kept" /private/comment "mine")` {
		t.Fatalf("after RENAME: %q", l)
	}
	a.send("a5 DELETE New\r\na6 CREATE New\r\na7 GETMETADATA New (/shared/comment /private/comment)\r\n")
	a.expect("a5", "OK")
	a.expect("a6", "OK")
	if l := a.expect("a7", "OK"); l[0] != `* METADATA "New" (/shared/comment NIL /private/comment NIL)` {
		t.Fatalf("a new mailbox of a deleted one's name: %q", l)
	}
	a.send("a8 GETMETADATA Gone /shared/comment\r\n")
	a.expect("a8", "NO [NONEXISTENT]")
}

// TestMetadataImapclient drives METADATA with go-imap's client.
func TestMetadataImapclient(t *testing.T) {
	ts := newTestServer(t)
	c, err := imapclient.DialInsecure(ts.plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has("METADATA") {
		t.Fatalf("capabilities %v", c.Caps())
	}
	v := []byte("a comment")
	if err := c.SetMetadata("INBOX", map[string]*[]byte{"/private/comment": &v, "/shared/comment": &v}).Wait(); err != nil {
		t.Fatal(err)
	}
	size := uint32(100)
	got, err := c.GetMetadata("INBOX", []string{"/private", "/shared"}, &imapclient.GetMetadataOptions{MaxSize: &size, Depth: imapclient.GetMetadataDepthInfinity}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 2 || got.Entries["/private/comment"] == nil || string(*got.Entries["/shared/comment"]) != "a comment" {
		t.Fatalf("GetMetadata: %+v", got.Entries)
	}
	if err := c.SetMetadata("INBOX", map[string]*[]byte{"/private/comment": nil}).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetMetadata("INBOX", []string{"/private/comment"}, nil).Wait()
	if err != nil || got.Entries["/private/comment"] != nil {
		t.Fatalf("after removal: %+v %v", got.Entries, err)
	}
}

// TestMetadataSeenMode: the seen entry decides how \Seen is kept; a
// delegate holding "a" without "w" may set it, a bad value is refused
// with the values it takes. Shared: bob's read is alice's; private:
// it is bob's only, and bob starts from his own (empty) state.
func TestMetadataSeenMode(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	a := login(t, ts, "alice@example.test")
	a.send("a1 CREATE Team\r\na2 SETACL Team bob@example.test lrsa\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	team, _ := ts.st.MailboxByName(ctx, "alice@example.test", "Team")
	for range 2 {
		if _, err := ts.st.Append(ctx, team.ID, []byte("Subject: x\r\n\r\nx\r\n"), store.NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	b := login(t, ts, "bob@example.test")
	const box = `"Other Users/alice@example.test/Team"`
	b.send("b1 SETMETADATA " + box + " (/shared/vendor/mailroom/seen \"mine\")\r\n")
	if l := b.expect("b1", "NO [CANNOT]"); !strings.Contains(l[len(l)-1], `"shared"`) || !strings.Contains(l[len(l)-1], `"private"`) {
		t.Errorf("bad value: %q", l)
	}
	b.send("b2 SETMETADATA " + box + " (/shared/vendor/mailroom/seen \"shared\")\r\nb3 SELECT " + box + "\r\nb4 FETCH 1 BODY[]\r\n")
	b.expect("b2", "OK")
	b.expect("b3", "OK")
	b.expect("b4", "OK")
	a.send("a3 STATUS Team (UNSEEN)\r\n")
	if l := a.expect("a3", "OK"); l[0] != `* STATUS "Team" (UNSEEN 1)` {
		t.Errorf("shared: alice's STATUS after bob read one: %q", l)
	}
	b.send("b5 SETMETADATA " + box + " (/shared/vendor/mailroom/seen \"private\")\r\nb6 SELECT " + box + "\r\n")
	b.expect("b5", "OK")
	if l := b.expect("b6", "OK"); !has(l, "* OK [UNSEEN 1] First unseen") {
		t.Errorf("private: bob's SELECT: %q", l)
	}
	b.send("b7 FETCH 2 BODY[]\r\nb8 STATUS " + box + " (UNSEEN)\r\n")
	b.expect("b7", "OK")
	// Message 1, read while \Seen was shared, is alice's read, not bob's.
	if l := b.expect("b8", "OK"); !strings.HasSuffix(l[0], "(UNSEEN 1)") {
		t.Errorf("private: bob's STATUS: %q", l)
	}
	a.send("a4 STATUS Team (UNSEEN)\r\n")
	if l := a.expect("a4", "OK"); l[0] != `* STATUS "Team" (UNSEEN 1)` {
		t.Errorf("private: alice's STATUS after bob read another: %q", l)
	}
	if p, err := ts.st.Check(ctx); err != nil || len(p) > 0 {
		t.Errorf("store check: %v %v", p, err)
	}
}
