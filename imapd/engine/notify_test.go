package engine

import (
	"regexp"
	"strings"
	"testing"
)

// TestNotify: a session watching its own folders and a colleague's shared
// INBOX learns of new mail there while no command is in progress, only
// while it may read the mailbox; NOTIFY SET STATUS tells the state first;
// unsupported events are refused with BADEVENT; NOTIFY NONE ends it.
func TestNotify(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	b := login(t, ts, "bob@example.test")
	b.send("b1 SETACL INBOX alice@example.test lr\r\n")
	b.expect("b1", "OK")
	a.send("a1 CREATE Projects\r\n")
	a.expect("a1", "OK")
	a.send("a2 APPEND Projects {14+}\r\nSubject: p\r\n\r\n\r\n")
	a.expect("a2", "OK")

	a.send("n0 NOTIFY SET (PERSONAL (MailboxName))\r\n")
	a.expect("n0", "NO [BADEVENT (MessageNew MessageExpunge FlagChange)]")
	a.send(`n1 NOTIFY SET STATUS (MAILBOXES Projects (MessageNew MessageExpunge)) (SUBTREE "Other Users/bob@example.test" (MessageNew MessageExpunge))` + "\r\n")
	l := a.expect("n1", "OK")
	if !has(l, `* STATUS "Projects" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `+uidValidityOf(t, a, "Projects")+")") {
		t.Errorf("initial STATUS: %q", l)
	}

	// New mail in Projects, from another session, and in bob's INBOX:
	// told while alice is not running any command.
	o := login(t, ts, "alice@example.test")
	o.send("o1 APPEND Projects {14+}\r\nSubject: q\r\n\r\n\r\n")
	o.expect("o1", "OK")
	if got := a.line(); got != `* STATUS "Projects" (MESSAGES 2 UIDNEXT 3 UNSEEN 2)` {
		t.Errorf("unsolicited STATUS: %q", got)
	}
	appendMsgs(t, b, "Subject: for bob\r\n\r\nx\r\n")
	if got := a.line(); got != `* STATUS "Other Users/bob@example.test/INBOX" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)` {
		t.Errorf("shared mailbox: %q", got)
	}

	// Once bob takes the right away, nothing more of his INBOX.
	b.send("b2 DELETEACL INBOX alice@example.test\r\n")
	b.expect("b2", "OK")
	appendMsgs(t, b, "Subject: private\r\n\r\nx\r\n")
	a.send("a3 NOOP\r\n")
	for _, s := range a.expect("a3", "OK") {
		if strings.Contains(s, "bob@example.test") {
			t.Errorf("told after revocation: %q", s)
		}
	}

	// The selected mailbox: without a SELECTED group its events wait;
	// with one, new mail comes with the fetch attributes asked for.
	a.send("s1 SELECT INBOX\r\n")
	a.expect("s1", "OK")
	o.send("o2 APPEND INBOX {18+}\r\nSubject: first\r\n\r\n\r\n")
	o.expect("o2", "OK")
	a.send("a4 NOOP\r\n")
	if l := a.expect("a4", "OK"); len(l) != 1 {
		t.Errorf("selected mailbox's event told without SELECTED: %q", l)
	}
	a.send("n2 NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge))\r\n")
	if l := a.expect("n2", "OK"); !has(l, "* 1 EXISTS") {
		t.Errorf("waiting events not told by NOTIFY SET: %q", l)
	}
	o.send("o3 APPEND INBOX {19+}\r\nSubject: second\r\n\r\n\r\n")
	o.expect("o3", "OK")
	if got := a.line(); got != "* 2 EXISTS" {
		t.Errorf("unsolicited EXISTS: %q", got)
	}
	a.line() // RECENT
	if got := a.line(); !regexp.MustCompile(`^\* 2 FETCH \(UID 2 BODY\[HEADER.FIELDS \(SUBJECT\)\] \{\d+\}$`).MatchString(got) {
		t.Errorf("MessageNew FETCH: %q", got)
	}

	a.send("n3 NOTIFY NONE\r\n")
	for {
		if l := a.line(); strings.HasPrefix(l, "n3 ") {
			break
		}
	}
	o.send("o4 APPEND Projects {14+}\r\nSubject: r\r\n\r\n\r\n")
	o.expect("o4", "OK")
	a.send("a5 NOOP\r\n")
	for _, s := range a.expect("a5", "OK") {
		if strings.HasPrefix(s, "* STATUS") {
			t.Errorf("told after NOTIFY NONE: %q", s)
		}
	}
}

// uidValidityOf asks STATUS for a mailbox's UIDVALIDITY.
func uidValidityOf(t *testing.T, r *raw, mailbox string) string {
	t.Helper()
	r.send("uv STATUS " + mailbox + " (UIDVALIDITY)\r\n")
	m := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(r.expect("uv", "OK")[0])
	if m == nil {
		t.Fatal("no UIDVALIDITY")
	}
	return m[1]
}
