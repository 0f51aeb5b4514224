package engine

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"mailroom/acl"
	"mailroom/store"
)

// These tests pin the behaviour Dovecot's imaptest checks and the old
// go-imap-based server got wrong (imaptest groups select, copy, subscribe,
// fetch-envelope, nil, atoms, move, search-flags), so the repository
// keeps them without imaptest.

// login dials the plain listener and logs alice in.
func login(t *testing.T, ts *testServer, user string) *raw {
	t.Helper()
	r := dialRaw(t, ts.plain)
	r.send("l1 LOGIN " + user + " password\r\n")
	r.expect("l1", "OK")
	return r
}

// appendMsgs APPENDs each message to INBOX.
func appendMsgs(t *testing.T, r *raw, msgs ...string) {
	t.Helper()
	for i, m := range msgs {
		tag := "ap" + itoa(i)
		r.send(tag + " APPEND INBOX {" + itoa(len(m)) + "+}\r\n" + m + "\r\n")
		r.expect(tag, "OK")
	}
}

func has(lines []string, want string) bool {
	for _, l := range lines {
		if strings.EqualFold(l, want) {
			return true
		}
	}
	return false
}

// TestRecent: IMAP4rev1's \Recent belongs to the first session that
// selects the mailbox after the mail arrived; EXAMINE shows it without
// taking it; IMAP4rev2 sessions never see it.
func TestRecent(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12}\r\n")
	a.line()
	a.send("Subject: x\r\n\r\n")
	a.expect("a1", "OK")
	a.send("a2 APPEND INBOX {12+}\r\nSubject: y\r\n\r\n")
	a.expect("a2", "OK")
	a.send("a3 STATUS INBOX (RECENT)\r\n")
	if l := a.expect("a3", "OK"); !has(l, `* STATUS "INBOX" (RECENT 2)`) {
		t.Errorf("STATUS RECENT before any SELECT: %q", l)
	}
	a.send("a4 EXAMINE INBOX\r\n")
	if l := a.expect("a4", "OK [READ-ONLY]"); !has(l, "* 2 RECENT") {
		t.Errorf("EXAMINE: %q", l)
	}
	a.send("a5 SELECT INBOX\r\n")
	if l := a.expect("a5", "OK [READ-WRITE]"); !has(l, "* 2 RECENT") || !has(l, "* OK [UNSEEN 1] First unseen") {
		t.Errorf("SELECT: %q", l)
	}
	a.send("a6 FETCH 1 FLAGS\r\n")
	if l := a.expect("a6", "OK"); !has(l, `* 1 FETCH (FLAGS (\Recent))`) {
		t.Errorf("FETCH FLAGS: %q", l)
	}
	b := login(t, ts, "alice@example.test")
	b.send("b1 SELECT INBOX\r\n")
	if l := b.expect("b1", "OK"); !has(l, "* 0 RECENT") {
		t.Errorf("second session: %q", l)
	}
	c := login(t, ts, "alice@example.test")
	c.send("c1 ENABLE IMAP4rev2\r\nc2 SELECT INBOX\r\n")
	c.expect("c1", "OK")
	if l := strings.Join(c.expect("c2", "OK"), "\n"); strings.Contains(l, "RECENT") {
		t.Errorf("IMAP4rev2 SELECT mentions RECENT: %q", l)
	}
	c.send("c3 SEARCH ALL\r\n")
	if l := c.expect("c3", "OK"); !has(l, `* ESEARCH (TAG "c3") ALL 1:2`) {
		t.Errorf("IMAP4rev2 SEARCH: %q", l)
	}
}

// TestKeywordsAnnounced: a keyword set for the first time is added to
// FLAGS (and PERMANENTFLAGS) before any FETCH shows it, in this session
// and in others; NIL is a keyword like any atom.
func TestKeywordsAnnounced(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na2 SELECT INBOX\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	b := login(t, ts, "alice@example.test")
	b.send("b1 SELECT INBOX\r\n")
	b.expect("b1", "OK")
	a.send("a3 STORE 1 +FLAGS ($Hello NIL)\r\n")
	l := a.expect("a3", "OK")
	flags := -1
	for i, s := range l {
		if strings.HasPrefix(s, "* FLAGS (") && strings.Contains(s, "$Hello") && strings.Contains(s, " NIL") {
			flags = i
		}
	}
	if flags < 0 || !strings.Contains(strings.Join(l[flags:], "\n"), "FETCH (FLAGS ($Hello NIL") {
		t.Errorf("STORE of a new keyword: %q", l)
	}
	b.send("b2 NOOP\r\n")
	l = b.expect("b2", "OK")
	if !regexp.MustCompile(`\* FLAGS \(.*\$Hello.*\)`).MatchString(strings.Join(l, "\n")) {
		t.Errorf("other session: %q", l)
	}
}

// TestLsubNoselect: LSUB with "%" shows a parent whose child is
// subscribed, itself unsubscribed, as \Noselect (RFC 3501 §6.3.9).
func TestLsubNoselect(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 CREATE top/child\r\na2 SUBSCRIBE top/child\r\na3 LSUB \"\" %\r\na4 LSUB \"\" top/%\r\na5 LSUB \"\" *\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	if l := a.expect("a3", "OK"); !has(l, `* LSUB (\Noselect) "/" "top"`) {
		t.Errorf("LSUB %%: %q", l)
	}
	if l := a.expect("a4", "OK"); !has(l, `* LSUB () "/" "top/child"`) {
		t.Errorf("LSUB top/%%: %q", l)
	}
	// "*" reaches the child itself: the unsubscribed parent is not listed.
	if l := a.expect("a5", "OK"); !has(l, `* LSUB () "/" "top/child"`) || has(l, `* LSUB (\Noselect) "/" "top"`) {
		t.Errorf("LSUB *: %q", l)
	}
}

// TestMoveWithinMailbox: MOVE into the selected mailbox itself gives the
// messages new UIDs (RFC 6851): COPYUID, then EXPUNGE and EXISTS.
func TestMoveWithinMailbox(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na2 APPEND INBOX {12+}\r\nSubject: y\r\n\r\na3 SELECT INBOX\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	a.expect("a3", "OK")
	a.send("a4 MOVE 1 INBOX\r\n")
	l := a.expect("a4", "OK")
	joined := strings.Join(l, "\n")
	if !regexp.MustCompile(`\* OK \[COPYUID \d+ 1 3\]`).MatchString(joined) || !has(l, "* 1 EXPUNGE") || !has(l, "* 2 EXISTS") {
		t.Errorf("MOVE within INBOX: %q", l)
	}
}

// TestEnvelopeGroups: ENVELOPE keeps group syntax, as imaptest's
// fetch-envelope expects.
func TestEnvelopeGroups(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	msg := "From: user@domain (Real Name)\r\nTo: group: g1@d1.org;\r\n\r\nbody\r\n"
	a.send("a1 APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\na2 SELECT INBOX\r\na3 FETCH 1 ENVELOPE\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	l := strings.Join(a.expect("a3", "OK"), "\n")
	if !strings.Contains(l, `(("Real Name" NIL "user" "domain"))`) || !strings.Contains(l, `((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL NIL NIL))`) {
		t.Errorf("ENVELOPE: %q", l)
	}
}

func itoa(n int) string {
	var b []byte
	for n >= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(append([]byte{byte('0' + n)}, b...))
}

// TestReselectSeesChanges: a mailbox nobody has selected is kept by the
// registry and kept current, so a SELECT after mail arrived, was flagged
// or expunged meanwhile shows the store as it is.
func TestReselectSeesChanges(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	b := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na2 APPEND INBOX {12+}\r\nSubject: y\r\n\r\na3 SELECT INBOX\r\na4 UNSELECT\r\n")
	a.expect("a4", "OK")
	// While nobody has INBOX selected: one more message, a new keyword,
	// one message expunged.
	b.send("b1 APPEND INBOX ($Later) {12+}\r\nSubject: z\r\n\r\nb2 STATUS INBOX (MESSAGES)\r\n")
	b.expect("b1", "OK")
	b.expect("b2", "OK")
	b.send("b3 SELECT INBOX\r\nb4 STORE 1 +FLAGS (\\Deleted)\r\nb5 CLOSE\r\n")
	b.expect("b5", "OK")
	a.send("a5 SELECT INBOX\r\na6 UID SEARCH ALL\r\n")
	l := a.expect("a5", "OK")
	if !has(l, "* 2 EXISTS") || !strings.Contains(strings.Join(l, "\n"), "$Later") {
		t.Errorf("SELECT after changes: %q", l)
	}
	if l := a.expect("a6", "OK"); !has(l, "* SEARCH 2 3") {
		t.Errorf("UIDs after changes: %q", l)
	}
}

// TestNothingAfterLogout: LOGOUT leaves the mailbox first, so no update
// of it follows BYE (imaptest's stress: "seq too high, state=LOGOUT").
func TestNothingAfterLogout(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	b := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na2 SELECT INBOX\r\n")
	a.expect("a2", "OK")
	b.send("b1 SELECT INBOX\r\nb2 STORE 1 +FLAGS (\\Flagged)\r\n")
	b.expect("b2", "OK")
	a.send("a3 LOGOUT\r\n")
	l := a.expect("a3", "OK")
	if l[len(l)-2] != "* BYE Logging out" {
		t.Errorf("LOGOUT: %q", l)
	}
}

// unpublished runs change with user's INBOX detached from its sessions'
// views, so what change does reaches the store but no session is told:
// the window between a change and its publication, held open.
func unpublished(t *testing.T, ts *testServer, user string, change func(inbox store.MailboxID)) {
	t.Helper()
	inbox, err := ts.st.Inbox(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.opts.Registry.mu.Lock()
	sh := ts.srv.opts.Registry.boxes[inbox.ID]
	ts.srv.opts.Registry.mu.Unlock()
	sh.mu.Lock()
	views := sh.views
	sh.views = map[*view]struct{}{}
	sh.mu.Unlock()
	defer func() {
		sh.mu.Lock()
		sh.views = views
		sh.mu.Unlock()
	}()
	change(inbox.ID)
}

// TestKeywordVisibleBeforePublished: a keyword the store has but this
// session was not told (its change not yet published) is put in FLAGS
// before the FETCH that shows it. The store here publishes nothing, which
// is the race widened to its limit.
func TestKeywordVisibleBeforePublished(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na2 SELECT INBOX\r\n")
	a.expect("a2", "OK")
	unpublished(t, ts, "alice@example.test", func(inbox store.MailboxID) {
		if _, err := ts.st.StoreFlags(context.Background(), inbox, []store.UID{1}, store.FlagsAdd, store.ParseFlags([]string{"$Fresh"}), nil); err != nil {
			t.Fatal(err)
		}
	})
	a.send("a3 FETCH 1 FLAGS\r\n")
	l := a.expect("a3", "OK")
	flags, fetch := -1, -1
	for i, s := range l {
		switch {
		case strings.HasPrefix(s, "* FLAGS (") && strings.Contains(s, "$Fresh"):
			flags = i
		case strings.Contains(s, "FETCH") && strings.Contains(s, "$Fresh"):
			fetch = i
		}
	}
	if flags < 0 || fetch < flags {
		t.Errorf("FETCH before FLAGS told the keyword: %q", l)
	}
}

// TestQuota: GETQUOTAROOT and GETQUOTA report the plan's storage quota
// and its use, for the user's own mailboxes and, to a delegate, for the
// owner's; accounts without a quota have no root; SETQUOTA is refused.
func TestQuota(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	msg := "Subject: x\r\n\r\n" + strings.Repeat("q", 3000) + "\r\n"
	a.send("a1 APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	a.expect("a1", "OK")
	a.send("a2 GETQUOTAROOT INBOX\r\n")
	if l := a.expect("a2", "OK"); !has(l, `* QUOTAROOT "INBOX" ""`) || !has(l, `* QUOTA "" (STORAGE 3 1024)`) {
		t.Errorf("GETQUOTAROOT: %q", l)
	}
	a.send("a3 GETQUOTA \"\"\r\na4 SETQUOTA \"\" (STORAGE 1)\r\na5 GETQUOTA nobody@example.test\r\n")
	if l := a.expect("a3", "OK"); !has(l, `* QUOTA "" (STORAGE 3 1024)`) {
		t.Errorf("GETQUOTA: %q", l)
	}
	a.expect("a4", "NO [NOPERM]")
	a.expect("a5", "NO [NONEXISTENT]")
	a.send("a6 SETACL INBOX bob@example.test lr\r\n")
	a.expect("a6", "OK")
	b := login(t, ts, "bob@example.test")
	b.send("b1 GETQUOTAROOT \"Other Users/alice@example.test/INBOX\"\r\nb2 GETQUOTAROOT INBOX\r\n")
	if l := b.expect("b1", "OK"); !has(l, `* QUOTA "alice@example.test" (STORAGE 3 1024)`) {
		t.Errorf("delegate GETQUOTAROOT: %q", l)
	}
	if l := b.expect("b2", "OK"); !has(l, `* QUOTAROOT "INBOX"`) {
		t.Errorf("no quota: %q", l)
	}
}

// TestFetchExpunged: FETCH of a message another session expunged, before
// this one is told, answers OK [EXPUNGEISSUED]; the EXPUNGE follows where
// it may.
func TestFetchExpunged(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	b := login(t, ts, "alice@example.test")
	a.send("a1 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na2 APPEND INBOX {12+}\r\nSubject: y\r\n\r\na3 SELECT INBOX\r\n")
	a.expect("a3", "OK")
	b.send("b1 SELECT INBOX\r\nb2 STORE 1 +FLAGS (\\Deleted)\r\nb3 EXPUNGE\r\n")
	b.expect("b3", "OK")
	a.send("a4 FETCH 1:2 (UID)\r\n")
	l := a.expect("a4", "OK [EXPUNGEISSUED]")
	if strings.Contains(strings.Join(l, "\n"), "EXPUNGE\n") || !has(l, "* 2 FETCH (UID 2)") {
		t.Errorf("FETCH of an expunged message: %q", l)
	}
	a.send("a5 NOOP\r\n")
	if l := a.expect("a5", "OK"); !has(l, "* 1 EXPUNGE") {
		t.Errorf("NOOP after: %q", l)
	}
}

// TestMultiappend: several messages in one APPEND land together with one
// APPENDUID, or none does (RFC 3502): here the second is over quota.
func TestMultiappend(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	x, y := "Subject: x\r\n\r\nx\r\n", "Subject: y\r\n\r\ny\r\n"
	a.send("a1 APPEND INBOX (\\Seen) {" + itoa(len(x)) + "+}\r\n" + x + " {" + itoa(len(y)) + "+}\r\n" + y + "\r\n")
	if l := a.expect("a1", "OK"); !regexp.MustCompile(`^a1 OK \[APPENDUID \d+ 1:2\]`).MatchString(l[len(l)-1]) {
		t.Errorf("MULTIAPPEND: %q", l)
	}
	big := strings.Repeat("b", 1<<20) // alice's plan holds 1 MiB
	a.send("a2 APPEND INBOX {" + itoa(len(x)) + "+}\r\n" + x + " {" + itoa(len(big)) + "+}\r\n" + big + "\r\n")
	a.expect("a2", "NO [OVERQUOTA]")
	a.send("a3 STATUS INBOX (MESSAGES)\r\na4 SELECT INBOX\r\na5 SORT RETURN (MIN MAX COUNT) (REVERSE SUBJECT) UTF-8 ALL\r\n")
	if l := a.expect("a3", "OK"); l[0] != `* STATUS "INBOX" (MESSAGES 2)` {
		t.Errorf("after a refused MULTIAPPEND: %q", l)
	}
	a.expect("a4", "OK")
	if l := a.expect("a5", "OK"); l[0] != `* ESEARCH (TAG "a5") MIN 2 MAX 1 COUNT 2` {
		t.Errorf("ESORT: %q", l)
	}
}

// TestCatenate: a message built from TEXT and URL parts (RFC 4469); a URL
// naming nothing is NO [BADURL], a missing destination NO [TRYCREATE].
func TestCatenate(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "From: a@example.test\r\n\r\nHello body\r\n")
	a.send("c0 SELECT INBOX\r\n")
	uv := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(strings.Join(a.expect("c0", "OK"), "\n"))[1]
	hdr := "Subject: new\r\n"
	a.send("c1 APPEND INBOX CATENATE (TEXT {" + itoa(len(hdr)) + "+}\r\n" + hdr + " URL \"/INBOX;UIDVALIDITY=" + uv + "/;UID=1/;SECTION=TEXT\")\r\n")
	a.expect("c1", "OK [APPENDUID")
	a.send("c2 FETCH 2 BODY.PEEK[]\r\n")
	if l := strings.Join(a.expect("c2", "OK"), "\n"); !strings.Contains(l, "Subject: new\nHello body") {
		t.Errorf("catenated message: %q", l)
	}
	a.send("c3 APPEND INBOX CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=1\")\r\n")
	a.expect("c3", "NO [BADURL")
	a.send("c4 APPEND Nowhere CATENATE (URL \"/INBOX/;UID=1\")\r\n")
	a.expect("c4", "NO [TRYCREATE]")
}

// TestEnvelopeKept: ENVELOPE is computed once per body and kept; a copy
// whose delivery prefix carries an envelope field gets its own.
func TestEnvelopeKept(t *testing.T) {
	kept := make(chan struct{}, 8)
	ts := newTestServer(t, func(o *Options) { o.OnKept = func() { kept <- struct{}{} } })
	ctx := context.Background()
	if err := ts.st.EnsureAccount(ctx, "alice@example.test", true); err != nil {
		t.Fatal(err)
	}
	inbox, _ := ts.st.Inbox(ctx, "alice@example.test")
	body := []byte("Subject: kept\r\nMessage-ID: <body@x>\r\n\r\nx\r\n")
	if _, err := ts.st.Deliver(ctx, body, []store.Delivery{
		{Mailbox: inbox.ID},
		{Mailbox: inbox.ID, NewMessage: store.NewMessage{Prefix: []byte("Message-ID: <own@x>\r\n")}},
	}); err != nil {
		t.Fatal(err)
	}
	a := login(t, ts, "alice@example.test")
	a.send("s SELECT INBOX\r\n")
	a.expect("s", "OK")
	for round := range 2 {
		before := ts.st.BodyReads()
		a.send("f FETCH 1:2 ENVELOPE\r\n")
		l := strings.Join(a.expect("f", "OK"), "\n")
		if !strings.Contains(l, `"<body@x>"`) || !strings.Contains(l, `"<own@x>"`) {
			t.Fatalf("round %d: %q", round, l)
		}
		// The copy with its own prefix is read each time; the other only
		// the first time.
		if reads, want := ts.st.BodyReads()-before, uint64(2-round); reads != want {
			t.Errorf("round %d: %d bodies read, want %d", round, reads, want)
		}
		if round == 0 {
			select {
			case <-kept:
			case <-time.After(10 * time.Second):
				t.Fatal("the envelope was not kept")
			}
		}
	}
}

// TestStatusDeleted: IMAP4rev2's STATUS DELETED counts \Deleted messages.
func TestStatusDeleted(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: a\r\n\r\nx\r\n", "Subject: b\r\n\r\nx\r\n", "Subject: c\r\n\r\nx\r\n")
	a.send("s1 SELECT INBOX\r\ns2 STORE 1,3 +FLAGS (\\Deleted)\r\ns3 STATUS INBOX (MESSAGES DELETED SIZE)\r\n")
	a.expect("s2", "OK")
	if l := a.expect("s3", "OK"); !regexp.MustCompile(`^\* STATUS "INBOX" \(MESSAGES 3 DELETED 2 SIZE \d+\)$`).MatchString(l[0]) {
		t.Errorf("STATUS DELETED: %q", l)
	}
}

// TestWithin: SEARCH OLDER and YOUNGER (RFC 5032) count seconds back from
// now against the internal date; an interval of 0 is a syntax error.
func TestWithin(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("w1 APPEND INBOX \"01-Jan-2020 10:00:00 +0000\" {12+}\r\nSubject: x\r\n\r\nw2 APPEND INBOX {12+}\r\nSubject: y\r\n\r\n")
	a.expect("w2", "OK")
	a.send("w3 SELECT INBOX\r\nw4 SEARCH OLDER 86400\r\nw5 SEARCH YOUNGER 86400\r\nw6 SEARCH OLDER 0\r\nw7 UID SEARCH NOT YOUNGER 3600 SUBJECT x\r\n")
	a.expect("w3", "OK")
	if l := a.expect("w4", "OK"); !has(l, "* SEARCH 1") {
		t.Errorf("OLDER: %q", l)
	}
	if l := a.expect("w5", "OK"); !has(l, "* SEARCH 2") {
		t.Errorf("YOUNGER: %q", l)
	}
	a.expect("w6", "BAD")
	if l := a.expect("w7", "OK"); !has(l, "* SEARCH 1") {
		t.Errorf("NOT YOUNGER: %q", l)
	}
	a.send("w8 CAPABILITY\r\n")
	if l := a.expect("w8", "OK"); !strings.Contains(l[0], " WITHIN") {
		t.Errorf("no WITHIN in %q", l[0])
	}
}

// TestListMyRights: LIST RETURN (MYRIGHTS) (RFC 8440) gives, after each
// mailbox's LIST line, the rights MYRIGHTS gives for it; none for a
// namespace node.
func TestListMyRights(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	a.send("a1 SETACL INBOX bob@example.test lr\r\n")
	a.expect("a1", "OK")
	b := login(t, ts, "bob@example.test")
	shared := `"Other Users/alice@example.test/INBOX"`
	b.send("b1 MYRIGHTS INBOX\r\nb2 MYRIGHTS " + shared + "\r\nb3 LIST \"\" \"*\" RETURN (MYRIGHTS)\r\n")
	own := b.expect("b1", "OK")[0]
	theirs := b.expect("b2", "OK")[0]
	l := b.expect("b3", "OK")
	for _, want := range []string{own, theirs} {
		i := slices.Index(l, want)
		if i < 1 || !strings.HasPrefix(l[i-1], "* LIST ") {
			t.Errorf("%q not right after its LIST line in %q", want, l)
		}
	}
	if strings.Contains(strings.Join(l, "\n"), `MYRIGHTS "Other Users/alice@example.test" `) {
		t.Errorf("MYRIGHTS for a namespace node: %q", l)
	}
	if own == theirs || !strings.HasSuffix(theirs, ` "lr"`) {
		t.Errorf("rights: own %q, delegated %q", own, theirs)
	}
}

// TestPreview: FETCH PREVIEW (RFC 8970) gives the start of the message's
// text, with or without the LAZY modifier, and does not set \Seen; an
// unknown modifier is a syntax error.
func TestPreview(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: x\r\nContent-Type: text/html\r\n\r\n<p>Lunch at <b>noon</b>?</p>\r\n")
	a.send("p1 SELECT INBOX\r\np2 FETCH 1 (PREVIEW)\r\np3 FETCH 1 (UID PREVIEW (LAZY) FLAGS)\r\np4 FETCH 1 (PREVIEW (EAGER))\r\n")
	a.expect("p1", "OK")
	if l := a.expect("p2", "OK"); !has(l, `* 1 FETCH (PREVIEW "Lunch at noon?")`) {
		t.Errorf("PREVIEW: %q", l)
	}
	if l := a.expect("p3", "OK"); !has(l, `* 1 FETCH (UID 1 PREVIEW "Lunch at noon?" FLAGS (\Recent))`) {
		t.Errorf("PREVIEW (LAZY): %q", l)
	}
	a.expect("p4", "BAD")
	a.send("p5 CAPABILITY\r\n")
	if l := a.expect("p5", "OK"); !strings.Contains(l[0], " PREVIEW") {
		t.Errorf("no PREVIEW in %q", l[0])
	}
}

// TestMessageQuota: a plan's message limit is QUOTA's MESSAGE resource,
// shown with STORAGE, and APPEND and COPY past it are refused with
// [OVERQUOTA].
func TestMessageQuota(t *testing.T) {
	h, _ := acl.HashPassword("password")
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "small"},
	}, []acl.Plan{{Name: "small", Quota: 1 << 20, MaxMessages: 2}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *Options) { o.Directory = acl.NewLive(dir) })
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: 1\r\n\r\nx\r\n", "Subject: 2\r\n\r\nx\r\n")
	a.send("q GETQUOTA \"\"\r\n")
	if l := a.expect("q", "OK"); !has(l, `* QUOTA "" (STORAGE 1 1024 MESSAGE 2 2)`) {
		t.Errorf("GETQUOTA: %q", l)
	}
	a.send("a APPEND INBOX {14+}\r\nSubject: 3\r\n\r\n\r\ns SELECT INBOX\r\nc COPY 1 Archive\r\n")
	a.expect("a", "NO [OVERQUOTA]")
	a.expect("s", "OK")
	a.expect("c", "NO [OVERQUOTA]")
	a.send("m MOVE 1 Archive\r\n") // a move within the account adds nothing
	a.expect("m", "OK")
}
