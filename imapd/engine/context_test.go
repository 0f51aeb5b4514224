package engine

import (
	"strings"
	"testing"
)

// TestSearchContextUpdate: SEARCH RETURN (UPDATE) keeps the result current
// with ADDTO and REMOVEFROM, for this session's changes and another's,
// with removals before the EXPUNGE whose numbers they use, until
// CANCELUPDATE or the mailbox is closed.
func TestSearchContextUpdate(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: 1\r\n\r\nx\r\n", "Subject: 2\r\n\r\nx\r\n", "Subject: 3\r\n\r\nx\r\n", "Subject: 4\r\n\r\nx\r\n", "Subject: 5\r\n\r\nx\r\n")
	a.send("s SELECT INBOX\r\nu1 SEARCH RETURN (UPDATE) SEEN\r\n")
	a.expect("s", "OK")
	if l := a.expect("u1", "OK"); l[0] != `* ESEARCH (TAG "u1")` {
		t.Fatalf("initial: %q", l)
	}
	a.send("a1 STORE 1,2,4 +FLAGS.SILENT (\\Seen)\r\n")
	if l := a.expect("a1", "OK"); !has(l, `* ESEARCH (TAG "u1") ADDTO (0 1:2,4)`) {
		t.Errorf("own STORE: %q", l)
	}
	// Another session's change arrives with the next command.
	o := login(t, ts, "alice@example.test")
	o.send("o1 SELECT INBOX\r\no2 STORE 2 -FLAGS (\\Seen)\r\no3 STORE 3:5 +FLAGS (\\Deleted)\r\no4 EXPUNGE\r\n")
	o.expect("o4", "OK")
	a.send("a2 NOOP\r\n")
	l := a.expect("a2", "OK")
	removeAt, expungeAt, removeSeen := -1, -1, -1
	for i, s := range l {
		switch {
		case s == `* ESEARCH (TAG "u1") REMOVEFROM (0 4)`:
			removeAt = i
		case s == `* ESEARCH (TAG "u1") REMOVEFROM (0 2)`:
			removeSeen = i
		case strings.HasSuffix(s, " EXPUNGE") && expungeAt < 0:
			expungeAt = i
		}
	}
	if removeAt < 0 || expungeAt < 0 || removeAt > expungeAt || removeSeen < 0 {
		t.Errorf("others' changes: %q", l)
	}
	// UID contexts report UIDs; a new message that matches is added.
	a.send("u2 UID SEARCH RETURN (UPDATE COUNT) UNSEEN\r\n")
	if l := a.expect("u2", "OK"); l[0] != `* ESEARCH (TAG "u2") UID COUNT 1` {
		t.Errorf("UID context: %q", l)
	}
	appendMsgs(t, o, "Subject: 6\r\n\r\nx\r\n")
	a.send("a3 NOOP\r\n")
	if l := a.expect("a3", "OK"); !has(l, `* ESEARCH (TAG "u2") UID ADDTO (0 6)`) {
		t.Errorf("new message: %q", l)
	}
	a.send("c1 CANCELUPDATE \"u1\" \"u2\"\r\nc2 CANCELUPDATE \"u1\"\r\n")
	a.expect("c1", "OK")
	a.expect("c2", "NO")
	a.send("a4 STORE 1:* +FLAGS (\\Seen)\r\n")
	for _, s := range a.expect("a4", "OK") {
		if strings.Contains(s, "ESEARCH") {
			t.Errorf("update after CANCELUPDATE: %q", s)
		}
	}
	// Contexts end with the mailbox; there is a bound on them.
	for i := range maxContexts {
		a.send("k" + itoa(i) + " SEARCH RETURN (UPDATE) ALL\r\n")
		a.expect("k"+itoa(i), "OK")
	}
	a.send("k99 SEARCH RETURN (UPDATE) ALL\r\n")
	a.expect("k99", `OK [NOUPDATE "k99"]`)
	a.send("r SELECT INBOX\r\nr2 STORE 1 -FLAGS (\\Seen)\r\n")
	a.expect("r", "OK")
	for _, s := range a.expect("r2", "OK") {
		if strings.Contains(s, "ESEARCH") {
			t.Errorf("update after reselect: %q", s)
		}
	}
}

// TestPartial: RETURN (PARTIAL) for SEARCH and SORT, first and last
// pages, and the ranges refused.
func TestPartial(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: e\r\n\r\nx\r\n", "Subject: d\r\n\r\nx\r\n", "Subject: c\r\n\r\nx\r\n", "Subject: b\r\n\r\nx\r\n", "Subject: a\r\n\r\nx\r\n")
	a.send("s SELECT INBOX\r\n")
	a.expect("s", "OK")
	for cmd, want := range map[string]string{
		"SEARCH RETURN (PARTIAL 2:3) ALL":                         `PARTIAL (2:3 2:3)`,
		"SEARCH RETURN (PARTIAL 4:2) 1:2,4:5":                     `PARTIAL (2:4 2,4:5)`,
		"SEARCH RETURN (PARTIAL 6:9) ALL":                         `PARTIAL (6:9 NIL)`,
		"SEARCH RETURN (PARTIAL -1:-2) ALL":                       `PARTIAL (-1:-2 4:5)`,
		"SEARCH RETURN (COUNT PARTIAL 1:1) ALL":                   `COUNT 5 PARTIAL (1:1 1)`,
		"SORT RETURN (PARTIAL 1:3) (SUBJECT) UTF-8 ALL":           `PARTIAL (1:3 5,4,3)`,
		"SORT RETURN (PARTIAL 2:4) (SUBJECT) UTF-8 ALL":           `PARTIAL (2:4 4,3,2)`,
		"SORT RETURN (PARTIAL -2:-1) (REVERSE SUBJECT) UTF-8 ALL": `PARTIAL (-1:-2 4:5)`,
	} {
		a.send("p " + cmd + "\r\n")
		if l := a.expect("p", "OK"); len(l) != 2 || !strings.HasSuffix(l[0], ") "+want) {
			t.Errorf("%s: %q, want …%s", cmd, l, want)
		}
	}
	for _, cmd := range []string{"SEARCH RETURN (PARTIAL 1) ALL", "SEARCH RETURN (PARTIAL 1:*) ALL", "SEARCH RETURN (PARTIAL 0:3) ALL", "SEARCH RETURN (PARTIAL -1:3) ALL", "SEARCH RETURN (PARTIAL 1:2 ALL) ALL"} {
		a.send("b " + cmd + "\r\n")
		a.expect("b", "BAD")
	}
}

// TestSortContextUpdate: a SORT context tells where messages leave and
// enter the sort order.
func TestSortContextUpdate(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: c\r\n\r\nx\r\n", "Subject: a\r\n\r\nx\r\n", "Subject: d\r\n\r\nx\r\n", "Subject: b\r\n\r\nx\r\n")
	a.send("s SELECT INBOX\r\na0 STORE 1:4 +FLAGS.SILENT (\\Flagged)\r\n")
	a.expect("s", "OK")
	a.expect("a0", "OK")
	a.send("u SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 FLAGGED\r\n")
	if l := a.expect("u", "OK"); l[0] != `* ESEARCH (TAG "u") ALL 2,4,1,3` {
		t.Fatalf("initial: %q", l)
	}
	// b (4) and c (1) leave: removed last first, at their positions.
	a.send("a1 STORE 1,4 -FLAGS.SILENT (\\Flagged)\r\n")
	if l := a.expect("a1", "OK"); !has(l, `* ESEARCH (TAG "u") REMOVEFROM (3 1) REMOVEFROM (2 4)`) {
		t.Errorf("removal: %q", l)
	}
	// c comes back at position 2 (after a).
	a.send("a2 STORE 1 +FLAGS.SILENT (\\Flagged)\r\n")
	if l := a.expect("a2", "OK"); !has(l, `* ESEARCH (TAG "u") ADDTO (2 1)`) {
		t.Errorf("addition: %q", l)
	}
}
