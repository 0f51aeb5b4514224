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

// TestSaveDate: SAVEDATE (RFC 8514) is when a message came into its
// mailbox: a COPY has its own, later than the original's internal date;
// SEARCH SAVEDSINCE and SAVEDATESUPPORTED use it.
func TestSaveDate(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX \"01-Jan-2020 10:00:00 +0000\" {14+}\r\nSubject: x\r\n\r\n\r\n")
	a.expect("a1", "OK")
	a.send("s SELECT INBOX\r\nf FETCH 1 (INTERNALDATE SAVEDATE)\r\n")
	a.expect("s", "OK")
	l := a.expect("f", "OK")
	m := regexp.MustCompile(`INTERNALDATE "01-Jan-2020 10:00:00 \+0000" SAVEDATE "(\d\d-\w{3}-(\d{4}) [^"]+)"`).FindStringSubmatch(l[0])
	if m == nil || m[2] == "2020" {
		t.Fatalf("FETCH: %q", l)
	}
	a.send("q1 SEARCH SAVEDSINCE 1-Jan-2021\r\nq2 SEARCH SINCE 1-Jan-2021\r\nq3 SEARCH SAVEDATESUPPORTED\r\nq4 SEARCH SAVEDBEFORE 1-Jan-2021\r\n")
	for i, want := range []string{"* SEARCH 1", "* SEARCH", "* SEARCH 1", "* SEARCH"} {
		tag := "q" + itoa(i+1)
		if l := a.expect(tag, "OK"); l[0] != want {
			t.Errorf("%s: %q, want %q", tag, l, want)
		}
	}
}
