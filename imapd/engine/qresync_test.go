package engine

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailroom/store"
)

// selectState SELECTs INBOX with CONDSTORE and returns its UIDVALIDITY and
// HIGHESTMODSEQ as the client would keep them.
func selectState(t *testing.T, r *raw, tag string) (uidValidity, modseq string) {
	t.Helper()
	r.send(tag + " SELECT INBOX (CONDSTORE)\r\n")
	l := strings.Join(r.expect(tag, "OK"), "\n")
	uv := regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`).FindStringSubmatch(l)
	hm := regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`).FindStringSubmatch(l)
	if uv == nil || hm == nil {
		t.Fatalf("SELECT: %q", l)
	}
	return uv[1], hm[1]
}

// fill stores n small messages in the user's INBOX directly.
func fill(t *testing.T, ts *testServer, user string, n int) store.MailboxID {
	t.Helper()
	ctx := context.Background()
	inbox, err := ts.st.Inbox(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	bodies := make([][]byte, n)
	msgs := make([]store.NewMessage, n)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, "Subject: %d\r\n\r\nmessage %d\r\n", i, i)
		msgs[i] = store.NewMessage{InternalDate: time.Unix(1e9, 0)}
	}
	if err := ts.st.AppendBatch(ctx, inbox.ID, bodies, msgs); err != nil {
		t.Fatal(err)
	}
	return inbox.ID
}

// TestQresyncResync: the case. A client that knew a 2,000-message
// mailbox reconnects after one flag change and one expunge by another
// session, and SELECT (QRESYNC) tells it exactly one VANISHED (EARLIER)
// and one FETCH, whatever the mailbox's size.
func TestQresyncResync(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	fill(t, ts, "alice@example.test", 2000)
	uv, ms := selectState(t, a, "s1")
	a.send("s2 LOGOUT\r\n")
	a.expect("s2", "OK")

	o := login(t, ts, "alice@example.test")
	o.send("o1 SELECT INBOX\r\no2 UID STORE 1500 +FLAGS (\\Flagged)\r\no3 UID STORE 700 +FLAGS (\\Deleted)\r\no4 UID EXPUNGE 700\r\n")
	o.expect("o4", "OK")

	b := login(t, ts, "alice@example.test")
	b.send("q0 SELECT INBOX (QRESYNC (" + uv + " " + ms + "))\r\n")
	b.expect("q0", "BAD") // not enabled yet (RFC 7162 §3.2.5)
	b.send("q1 ENABLE QRESYNC\r\n")
	if l := b.expect("q1", "OK"); l[0] != "* ENABLED QRESYNC" {
		t.Fatalf("ENABLE: %q", l)
	}
	b.send("q2 SELECT INBOX (QRESYNC (" + uv + " " + ms + "))\r\n")
	l := b.expect("q2", "OK")
	var vanished, fetches []string
	for _, s := range l {
		switch {
		case strings.HasPrefix(s, "* VANISHED"):
			vanished = append(vanished, s)
		case strings.Contains(s, " FETCH "):
			fetches = append(fetches, s)
		}
	}
	if len(vanished) != 1 || vanished[0] != "* VANISHED (EARLIER) 700" {
		t.Errorf("VANISHED: %q", vanished)
	}
	if len(fetches) != 1 || !regexp.MustCompile(`^\* 1499 FETCH \(UID 1500 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$`).MatchString(fetches[0]) {
		t.Errorf("FETCH: %q", fetches)
	}
	if !has(l, "* 1999 EXISTS") {
		t.Errorf("EXISTS: %q", l)
	}

	// Known UIDs limit what is reported; a wrong UIDVALIDITY reports
	// nothing (the client starts over); reselecting says [CLOSED].
	b.send("q3 SELECT INBOX (QRESYNC (" + uv + " " + ms + " 1:600))\r\n")
	l = b.expect("q3", "OK")
	if l[0] != "* OK [CLOSED] Previous mailbox closed" {
		t.Errorf("no CLOSED first: %q", l)
	}
	for _, s := range l {
		if strings.HasPrefix(s, "* VANISHED") || strings.Contains(s, " FETCH ") {
			t.Errorf("outside the known UIDs: %q", s)
		}
	}
	b.send("q4 SELECT INBOX (QRESYNC (1 " + ms + "))\r\n")
	for _, s := range b.expect("q4", "OK") {
		if strings.HasPrefix(s, "* VANISHED") || strings.Contains(s, " FETCH ") {
			t.Errorf("wrong UIDVALIDITY answered: %q", s)
		}
	}

	// UID FETCH (CHANGEDSINCE m VANISHED) reports the same, from the index.
	b.send("q5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + ms + " VANISHED)\r\n")
	l = b.expect("q5", "OK")
	if len(l) != 3 || l[0] != "* VANISHED (EARLIER) 700" || !strings.HasPrefix(l[1], "* 1499 FETCH (UID 1500 FLAGS (\\Flagged) MODSEQ") {
		t.Errorf("UID FETCH VANISHED: %q", l)
	}
	b.send("q6 FETCH 1:* (FLAGS) (CHANGEDSINCE " + ms + " VANISHED)\r\n")
	b.expect("q6", "BAD") // VANISHED is for UID FETCH only

	// Live expunges are VANISHED, with UIDs, once QRESYNC is on.
	o.send("o5 UID STORE 1,2,3,10 +FLAGS (\\Deleted)\r\no6 EXPUNGE\r\n")
	o.expect("o6", "OK")
	b.send("q7 NOOP\r\n")
	l = b.expect("q7", "OK")
	if !has(l, "* VANISHED 1:3,10") {
		t.Errorf("live VANISHED: %q", l)
	}
	for _, s := range l {
		if strings.HasSuffix(s, " EXPUNGE") {
			t.Errorf("EXPUNGE after ENABLE QRESYNC: %q", l)
		}
	}
}

// TestQresyncPrunedHistory: when the expunge records back to the client's
// mod-sequence were pruned, every absent UID within what the client knew
// is reported, so nothing expunged is ever missed.
func TestQresyncPrunedHistory(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	fill(t, ts, "alice@example.test", 20)
	uv, ms := selectState(t, a, "s1")
	a.send("s2 UID STORE 5:6,12 +FLAGS (\\Deleted)\r\ns3 EXPUNGE\r\ns4 LOGOUT\r\n")
	a.expect("s4", "OK")
	if _, err := ts.st.PruneExpunged(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b := login(t, ts, "alice@example.test")
	b.send("q1 ENABLE QRESYNC\r\nq2 SELECT INBOX (QRESYNC (" + uv + " " + ms + " 1:10,15:20))\r\n")
	l := b.expect("q2", "OK")
	if !has(l, "* VANISHED (EARLIER) 5:6") {
		t.Errorf("pruned history: %q", l)
	}
	b.send("q3 SELECT INBOX (QRESYNC (" + uv + " " + ms + "))\r\n")
	if l := b.expect("q3", "OK"); !has(l, "* VANISHED (EARLIER) 5:6,12") {
		t.Errorf("pruned history, all UIDs: %q", l)
	}
}

// TestQresyncFetchHasUID: once QRESYNC is enabled every FETCH response
// carries the UID (RFC 7162 §3.2.4), that of a FETCH or STORE by sequence
// number too (imaptest's stress load with qresync found them without).
func TestQresyncFetchHasUID(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: 1\r\n\r\none\r\n", "Subject: 2\r\n\r\ntwo\r\n")
	a.send("e ENABLE QRESYNC\r\ns SELECT INBOX\r\nf FETCH 2 FLAGS\r\nst STORE 1 +FLAGS (\\Seen)\r\nsi STORE 2 +FLAGS.SILENT (\\Flagged)\r\nb FETCH 1 BODY[]\r\n")
	a.expect("e", "OK")
	a.expect("s", "OK")
	for _, c := range []struct{ tag, want string }{
		{"f", "* 2 FETCH (UID 2 FLAGS ("},
		{"st", "* 1 FETCH (UID 1 FLAGS ("},
		{"si", "* 2 FETCH (UID 2 MODSEQ ("},
		{"b", "* 1 FETCH (UID 1 BODY[] "},
	} {
		if l := a.expect(c.tag, "OK"); !strings.HasPrefix(l[0], c.want) {
			t.Errorf("%s: %q, want %q…", c.tag, l, c.want)
		}
	}
}
