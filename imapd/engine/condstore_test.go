package engine

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mailroom/store"
)

// modseqOf returns the MODSEQ in a FETCH line, or -1.
func modseqOf(line string) int {
	m := regexp.MustCompile(`MODSEQ \((\d+)\)`).FindStringSubmatch(line)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestCondstore: RFC 7162 CONDSTORE as a resyncing client uses it.
func TestCondstore(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	for i := range 3 {
		a.send("a" + itoa(i) + " APPEND INBOX {12+}\r\nSubject: x\r\n\r\n")
		a.expect("a"+itoa(i), "OK")
	}
	a.send("b1 SELECT INBOX (CONDSTORE)\r\n")
	l := a.expect("b1", "OK")
	hm := regexp.MustCompile(`\* OK \[HIGHESTMODSEQ (\d+)\]`).FindStringSubmatch(strings.Join(l, "\n"))
	if hm == nil {
		t.Fatalf("SELECT (CONDSTORE): %q", l)
	}
	base := hm[1]
	// Another session changes message 2; this one asks what changed.
	o := login(t, ts, "alice@example.test")
	o.send("o1 SELECT INBOX\r\no2 STORE 2 +FLAGS (\\Flagged)\r\n")
	o.expect("o2", "OK")
	a.send("b2 FETCH 1:* (FLAGS) (CHANGEDSINCE " + base + ")\r\n")
	l = a.expect("b2", "OK")
	// Only message 2, from the FETCH (and again as the other session's
	// pending change, told after the command).
	for _, s := range l[:len(l)-1] {
		if !strings.HasPrefix(s, "* 2 FETCH") || modseqOf(s) < 0 || !strings.Contains(s, `\Flagged`) {
			t.Errorf("CHANGEDSINCE: %q", l)
		}
	}
	// A conditional STORE leaves the message changed since alone.
	a.send("b3 STORE 1:3 (UNCHANGEDSINCE " + base + ") +FLAGS (\\Seen)\r\n")
	l = a.expect("b3", "OK [MODIFIED 2]")
	for _, s := range l {
		if strings.HasPrefix(s, "* 2 FETCH") && strings.Contains(s, `\Seen`) {
			t.Errorf("message 2 changed: %q", l)
		}
	}
	a.send("b4 SEARCH MODSEQ " + base + "\r\nb5 STATUS INBOX (HIGHESTMODSEQ)\r\n")
	if l := a.expect("b4", "OK"); !regexp.MustCompile(`^\* SEARCH 1 2 3 \(MODSEQ \d+\)$`).MatchString(l[0]) {
		t.Errorf("SEARCH MODSEQ: %q", l)
	}
	if l := a.expect("b5", "OK"); !regexp.MustCompile(`^\* STATUS "INBOX" \(HIGHESTMODSEQ \d+\)$`).MatchString(l[0]) {
		t.Errorf("STATUS HIGHESTMODSEQ: %q", l)
	}
	// ESEARCH's MODSEQ is that of the messages it reports: with MIN
	// alone, the first one's (RFC 4731 §3.2).
	a.send("b8 FETCH 1 (MODSEQ)\r\nb9 SEARCH RETURN (MIN) MODSEQ 1\r\n")
	first := modseqOf(a.expect("b8", "OK")[0])
	if l := a.expect("b9", "OK"); l[0] != `* ESEARCH (TAG "b9") MIN 1 MODSEQ `+itoa(first) {
		t.Errorf("ESEARCH MIN MODSEQ: %q (message 1 has %d)", l, first)
	}
	// Others' changes come with MODSEQ once CONDSTORE is on.
	o.send("o3 STORE 3 -FLAGS (\\Seen)\r\n")
	o.expect("o3", "OK")
	a.send("b6 NOOP\r\n")
	if l := a.expect("b6", "OK"); !has(l, l[0]) || !strings.HasPrefix(l[0], "* 3 FETCH") || modseqOf(l[0]) < 0 {
		t.Errorf("unilateral FETCH: %q", l)
	}
	// .SILENT still tells the new mod-sequence.
	a.send("b7 STORE 1 +FLAGS.SILENT (\\Answered)\r\n")
	if l := a.expect("b7", "OK"); len(l) != 2 || !strings.HasPrefix(l[0], "* 1 FETCH (MODSEQ (") {
		t.Errorf("STORE .SILENT: %q", l)
	}
}

// TestCondstoreEnable: without CONDSTORE no MODSEQ is sent; the first
// FETCH MODSEQ enables it and tells the selected mailbox's HIGHESTMODSEQ;
// ENABLE CONDSTORE (authenticated state) makes SELECT tell it.
func TestCondstoreEnable(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na2 SELECT INBOX\r\na3 STORE 1 +FLAGS (\\Seen)\r\n")
	a.expect("a2", "OK")
	if l := a.expect("a3", "OK"); strings.Contains(strings.Join(l, ""), "MODSEQ") {
		t.Errorf("MODSEQ without CONDSTORE: %q", l)
	}
	a.send("a4 FETCH 1 (MODSEQ)\r\n")
	if l := a.expect("a4", "OK"); !strings.HasPrefix(l[0], "* OK [HIGHESTMODSEQ ") || modseqOf(l[1]) < 0 {
		t.Errorf("implicit CONDSTORE: %q", l)
	}
	b := login(t, ts, "alice@example.test")
	b.send("b1 ENABLE CONDSTORE\r\nb2 SELECT INBOX\r\n")
	if l := b.expect("b1", "OK"); l[0] != "* ENABLED CONDSTORE" {
		t.Errorf("ENABLE CONDSTORE: %q", l)
	}
	if l := strings.Join(b.expect("b2", "OK"), "\n"); !strings.Contains(l, "* OK [HIGHESTMODSEQ ") {
		t.Errorf("SELECT after ENABLE CONDSTORE: %q", l)
	}
}

// TestModseqNeverGoesBack: a flag change queued for a session is not sent
// after a FETCH already showed the message's newer state (imaptest's
// stress: "MODSEQ dropped").
func TestModseqNeverGoesBack(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	b := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na2 SELECT INBOX (CONDSTORE)\r\n")
	a.expect("a2", "OK")
	b.send("b1 SELECT INBOX\r\nb2 STORE 1 +FLAGS ($A)\r\n")
	b.expect("b2", "OK") // queued for a
	// The next change reaches the store but not yet a's queue.
	unpublished(t, ts, "alice@example.test", func(store.MailboxID) {
		b.send("b3 STORE 1 +FLAGS ($B)\r\n")
		b.expect("b3", "OK")
	})
	a.send("a3 FETCH 1 (FLAGS)\r\n")
	last := -1
	for _, s := range a.expect("a3", "OK") {
		if m := modseqOf(s); m >= 0 {
			if m < last {
				t.Fatalf("MODSEQ went back from %d: %q", last, s)
			}
			last = m
		}
	}
}
