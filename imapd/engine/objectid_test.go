package engine

import (
	"regexp"
	"strings"
	"testing"
)

// TestObjectID: RFC 8474's MAILBOXID stays with a mailbox across RENAME
// and is told by CREATE, SELECT and STATUS; a message's EMAILID is the
// same for its copies and after MOVE, and SEARCH EMAILID finds them.
func TestObjectID(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("c1 CREATE Projects\r\n")
	l := a.expect("c1", "OK [MAILBOXID (")
	id := regexp.MustCompile(`MAILBOXID \(([A-Za-z0-9_-]+)\)`).FindStringSubmatch(l[len(l)-1])[1]
	a.send("c2 RENAME Projects Work\r\nc3 STATUS Work (MAILBOXID)\r\nc4 SELECT Work\r\n")
	a.expect("c2", "OK")
	if l := a.expect("c3", "OK"); l[0] != `* STATUS "Work" (MAILBOXID (`+id+`))` {
		t.Errorf("STATUS after RENAME: %q, want %s", l, id)
	}
	if l := a.expect("c4", "OK"); !has(l, "* OK [MAILBOXID ("+id+")] Mailbox ID") {
		t.Errorf("SELECT: %q", l)
	}
	a.send("c5 STATUS INBOX (MAILBOXID)\r\n")
	if l := a.expect("c5", "OK"); strings.Contains(l[0], id) {
		t.Errorf("two mailboxes, one id: %q", l)
	}

	a.send("a1 APPEND Work {14+}\r\nSubject: x\r\n\r\n\r\n")
	a.expect("a1", "OK")
	a.send("f1 FETCH 1 (EMAILID THREADID)\r\n")
	l = a.expect("f1", "OK")
	m := regexp.MustCompile(`^\* 1 FETCH \(EMAILID \(([A-Za-z0-9_-]+)\) THREADID NIL\)$`).FindStringSubmatch(l[0])
	if m == nil {
		t.Fatalf("FETCH: %q", l)
	}
	email := m[1]
	a.send("m1 COPY 1 INBOX\r\nm2 MOVE 1 Archive\r\n")
	a.expect("m1", "OK")
	a.expect("m2", "OK")
	for _, box := range []string{"INBOX", "Archive"} {
		a.send("s SELECT " + box + "\r\nf FETCH 1 (EMAILID)\r\nq SEARCH EMAILID " + email + "\r\n")
		a.expect("s", "OK")
		if l := a.expect("f", "OK"); l[0] != "* 1 FETCH (EMAILID ("+email+"))" {
			t.Errorf("%s: %q, want %s", box, l, email)
		}
		if l := a.expect("q", "OK"); l[0] != "* SEARCH 1" {
			t.Errorf("SEARCH EMAILID in %s: %q", box, l)
		}
	}
}
