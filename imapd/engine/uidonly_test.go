package engine

import (
	"strings"
	"testing"
)

// TestUIDOnly: after ENABLE UIDONLY (RFC 9586) sequence numbers are
// refused with BAD [UIDREQUIRED] and none is sent: FETCH responses are
// UIDFETCH (UID only when asked for), expunges VANISHED, SELECT has no
// [UNSEEN n].
func TestUIDOnly(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: 1\r\n\r\none\r\n", "Subject: 2\r\n\r\ntwo\r\n", "Subject: 3\r\n\r\nthree\r\n")
	a.send("c CAPABILITY\r\n")
	if l := a.expect("c", "OK"); !strings.Contains(l[0], " UIDONLY") {
		t.Fatalf("capability: %q", l)
	}
	a.send("e ENABLE UIDONLY QRESYNC\r\n")
	if l := a.expect("e", "OK"); l[0] != "* ENABLED QRESYNC UIDONLY" && l[0] != "* ENABLED UIDONLY QRESYNC" {
		t.Fatalf("enable: %q", l)
	}
	a.send("q SELECT INBOX (QRESYNC (1 1 1:3 (1:3 1:3)))\r\n")
	if l := a.expect("q", "BAD"); !strings.Contains(l[len(l)-1], "[UIDREQUIRED]") {
		t.Errorf("QRESYNC sequence match data: %q", l)
	}
	a.send("s SELECT INBOX\r\n")
	for _, l := range a.expect("s", "OK") {
		if strings.Contains(l, "[UNSEEN") {
			t.Errorf("SELECT told a sequence number: %q", l)
		}
	}
	for _, cmd := range []string{"FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "COPY 1 INBOX", "MOVE 1 INBOX", "UID SEARCH 1:2", "UID SEARCH NOT 2"} {
		a.send("b " + cmd + "\r\n")
		if l := a.expect("b", "BAD"); !strings.HasPrefix(l[len(l)-1], "b BAD [UIDREQUIRED]") {
			t.Errorf("%s: %q", cmd, l)
		}
	}
	a.send("f1 UID FETCH 1:* (FLAGS)\r\nf2 UID FETCH 2 (UID RFC822.SIZE)\r\n")
	if l := a.expect("f1", "OK"); len(l) != 4 || !strings.HasPrefix(l[0], "* 1 UIDFETCH (FLAGS (") || !strings.HasPrefix(l[2], "* 3 UIDFETCH (FLAGS (") || strings.Contains(l[0], "UID 1") {
		t.Errorf("UID FETCH: %q", l)
	}
	if l := a.expect("f2", "OK"); !strings.HasPrefix(l[0], "* 2 UIDFETCH (UID 2 RFC822.SIZE ") {
		t.Errorf("UID FETCH with UID: %q", l)
	}
	a.send("u UID STORE 1,3 +FLAGS (\\Deleted)\r\nx UID SEARCH UID 2:3 DELETED\r\n")
	if l := a.expect("u", "OK"); len(l) != 3 || !strings.HasPrefix(l[0], `* 1 UIDFETCH (FLAGS (\Deleted`) || !strings.HasPrefix(l[1], `* 3 UIDFETCH (FLAGS (\Deleted`) {
		t.Errorf("UID STORE: %q", l)
	}
	if l := a.expect("x", "OK"); l[0] != "* SEARCH 3" && !strings.HasPrefix(l[0], "* ESEARCH") {
		t.Errorf("UID SEARCH: %q", l)
	}
	a.send("d UID EXPUNGE 3\r\nd2 EXPUNGE\r\n")
	if l := a.expect("d", "OK"); l[0] != "* VANISHED 3" {
		t.Errorf("UID EXPUNGE: %q", l)
	}
	if l := a.expect("d2", "OK"); l[0] != "* VANISHED 1" {
		t.Errorf("EXPUNGE: %q", l)
	}
	// Another session's change arrives as UIDFETCH too.
	b := login(t, ts, "alice@example.test")
	b.send("s SELECT INBOX\r\nst UID STORE 2 +FLAGS (\\Flagged)\r\n")
	b.expect("s", "OK")
	b.expect("st", "OK")
	a.send("n NOOP\r\n")
	if l := a.expect("n", "OK"); !strings.HasPrefix(l[0], `* 2 UIDFETCH (FLAGS (\Flagged`) {
		t.Errorf("NOOP: %q", l)
	}
}
