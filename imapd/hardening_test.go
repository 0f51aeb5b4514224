package imapd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"mailroom/acl"
	"mailroom/store"
)

// Regression tests for issue 10's session points (6, 7, 8, 9, 13, 14 and
// the enumeration part of 21), each driven over a socket.

// TestRevokeStopsUpdates: once a delegate's access is revoked (DELETEACL
// or SETACL by the owner, a reload that takes the delegate out of the
// group, or one that drops the operator's share of a team mailbox),
// nothing more of the mailbox reaches the delegate's open session, in IDLE
// or NOOP; commands on it answer NO, CLOSE leaves it.
func TestRevokeStopsUpdates(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"DELETEACL", "SETACL", "reload", "share"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			ts.dir.Store(teamDirectory(t))
			ctx := context.Background()
			ra := dialRaw(t, ts.plain)
			ra.ok("a1 LOGIN alice@example.test password")
			ra.ok("a2 SETACL INBOX bob@example.test lrs")
			// alice watches as the owner, or, for the team mailbox, as a
			// member who keeps her access.
			owner, aliceBox, shared := "alice@example.test", "INBOX", "Other Users/alice@example.test/INBOX"
			if how == "share" {
				ts.st.EnsureAccount(ctx, "info@example.test", false)
				owner, aliceBox, shared = "info@example.test", "Shared/info@example.test/INBOX", "Shared/info@example.test/INBOX"
			}
			wa, optsA := newWatcher()
			alice := ts.client(t, "alice@example.test", optsA)
			if _, err := alice.Select(aliceBox, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			wb, optsB := newWatcher()
			bob := ts.client(t, "bob@example.test", optsB)
			if _, err := bob.Select(shared, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			in, _ := ts.st.MailboxByName(ctx, owner, "INBOX")
			deliver := func() {
				t.Helper()
				if _, err := ts.st.Deliver(ctx, []byte("Subject: x\r\n\r\nx\r\n"), []store.Delivery{{Mailbox: in.ID}}); err != nil {
					t.Fatal(err)
				}
			}
			// While granted, bob's IDLE hears of new mail.
			idle, err := bob.Idle()
			if err != nil {
				t.Fatal(err)
			}
			deliver()
			wb.waitFor(t, "EXISTS 1")

			switch how {
			case "DELETEACL":
				ra.ok("a3 DELETEACL INBOX bob@example.test")
			case "SETACL":
				ra.ok("a3 SETACL INBOX bob@example.test l")
			case "reload":
				h, _ := acl.HashPassword("password")
				moved, err := acl.NewDirectory([]acl.AccountSpec{
					{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
					{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"other"}},
				}, []acl.Plan{{Name: "free"}, {Name: "pro", Share: true}}, []string{"staff", "other"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				ts.dir.Store(moved)
			case "share":
				h, _ := acl.HashPassword("password")
				d, err := acl.NewDirectory([]acl.AccountSpec{
					{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
					{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"staff"}},
					{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
				}, []acl.Plan{{Name: "free"}, {Name: "pro", Share: true}}, []string{"staff"},
					[]acl.Share{{Owner: "info@example.test", Grantee: "alice@example.test", Rights: "lrswipkxte"}})
				if err != nil {
					t.Fatal(err)
				}
				ts.dir.Store(d)
			}
			// New mail and a flag change after the revocation: the owner
			// sees both...
			deliver()
			if _, err := ts.st.StoreFlags(ctx, in.ID, []store.UID{1}, store.FlagsAdd, store.ParseFlags([]string{`\Flagged`}), nil); err != nil {
				t.Fatal(err)
			}
			alice.Noop().Wait()
			wa.waitForSet(t, "EXISTS 2", `FETCH 1 (\Flagged)`)
			// ...bob hears nothing: not in IDLE, not after it, not in NOOP.
			// The NOOP's tagged OK comes after any update the server would
			// have sent, so it is the barrier.
			if err := idle.Close(); err != nil {
				t.Fatal(err)
			}
			if err := idle.Wait(); err != nil {
				t.Fatal(err)
			}
			if err := bob.Noop().Wait(); err != nil {
				t.Fatal(err)
			}
			wb.mu.Lock()
			got := wb.events
			wb.mu.Unlock()
			if len(got) != 0 {
				t.Fatalf("after the revocation bob's session got %q", got)
			}
			// Commands on the mailbox are refused; CLOSE leaves it.
			if _, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect(); respCode(err) != imap.ResponseCodeNoPerm {
				t.Errorf("FETCH after revocation: %v", err)
			}
			if err := bob.UnselectAndExpunge().Wait(); err != nil {
				t.Errorf("CLOSE after revocation: %v", err)
			}
			// imapclient ends a command's Wait before it records the new
			// state; its reader has done so by the end of the next
			// command.
			if err := bob.Noop().Wait(); err != nil {
				t.Fatal(err)
			}
			if bob.State() != imap.ConnStateAuthenticated {
				t.Errorf("state after CLOSE: %v", bob.State())
			}
			wb.mu.Lock()
			defer wb.mu.Unlock()
			if len(wb.events) != 0 {
				t.Fatalf("after CLOSE bob's session got %q", wb.events)
			}
		})
	}
}

// TestListStatusNeedsRead: LIST RETURN (STATUS) gives a mailbox's counts
// only where STATUS would, that is with "r".
func TestListStatusNeedsRead(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	alice := ts.client(t, "alice@example.test", nil)
	for _, box := range []string{"Seen", "Listed"} {
		if err := alice.Create(box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		appendMsg(t, alice, box, "Subject: secret\r\n\r\nsecret\r\n", nil)
	}
	ra := dialRaw(t, ts.plain)
	ra.ok("a1 LOGIN alice@example.test password")
	ra.ok("a2 SETACL Listed bob@example.test l")
	ra.ok("a3 SETACL Seen bob@example.test lr")
	bob := ts.client(t, "bob@example.test", nil)
	if _, err := bob.Status("Other Users/alice@example.test/Listed", &imap.StatusOptions{NumMessages: true}).Wait(); respCode(err) != imap.ResponseCodeNoPerm {
		t.Fatalf("STATUS without r: %v", err)
	}
	items, err := bob.List("", "Other Users/alice@example.test/*", &imap.ListOptions{
		ReturnStatus: &imap.StatusOptions{NumMessages: true, Size: true, NumUnseen: true, UIDNext: true},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, it := range items {
		switch it.Mailbox {
		case "Other Users/alice@example.test/Listed":
			found++
			if it.Status != nil {
				t.Errorf("LIST-STATUS without r: %+v", it.Status)
			}
		case "Other Users/alice@example.test/Seen":
			found++
			if it.Status == nil || it.Status.NumMessages == nil || *it.Status.NumMessages != 1 {
				t.Errorf("LIST-STATUS with r: %+v", it.Status)
			}
		}
	}
	if found != 2 {
		t.Fatalf("LIST: %+v", items)
	}
}

// TestSelectReadOnlyAndClose: SELECT says READ-ONLY when the user can
// change nothing (RFC 4314 §4); CLOSE always succeeds and leaves the
// mailbox, expunging only when selected read-write with "e" (RFC 9051
// §6.4.2), never after EXAMINE.
func TestSelectReadOnlyAndClose(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	ctx := context.Background()
	alice := ts.client(t, "alice@example.test", nil)
	appendMsg(t, alice, "INBOX", "Subject: gone?\r\n\r\nx\r\n", []imap.Flag{imap.FlagDeleted})
	ra := dialRaw(t, ts.plain)
	ra.ok("a1 LOGIN alice@example.test password")
	count := func() uint32 {
		m, err := ts.st.MailboxByName(ctx, "alice@example.test", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return m.Messages
	}
	const shared = "\"Other Users/alice@example.test/INBOX\""
	for _, tc := range []struct {
		rights, want string
	}{
		{"lr", "[READ-ONLY]"},
		{"lrs", "[READ-WRITE]"},
		{"lrw", "[READ-WRITE]"},
		{"lrt", "[READ-WRITE]"},
		{"lri", "[READ-WRITE]"},
		{"lrst", "[READ-WRITE]"}, // no "e": CLOSE does not expunge
		{"lrkxpa", "[READ-ONLY]"},
	} {
		ra.ok("a2 SETACL INBOX bob@example.test " + tc.rights)
		rb := dialRaw(t, ts.plain)
		rb.ok("b1 LOGIN bob@example.test password")
		if got := rb.ok("b2 SELECT " + shared); !strings.Contains(got, "b2 OK "+tc.want) {
			t.Errorf("rights %s: SELECT answered %q, want %s", tc.rights, got, tc.want)
		}
		if got := rb.cmd("b3 CLOSE"); !strings.HasPrefix(got, "b3 OK") {
			t.Errorf("rights %s: CLOSE answered %q", tc.rights, got)
		}
		if got := rb.cmd("b4 FETCH 1 FLAGS"); !strings.Contains(got, "b4 BAD") {
			t.Errorf("rights %s: still selected after CLOSE: %q", tc.rights, got)
		}
		if n := count(); n != 1 {
			t.Fatalf("rights %s: CLOSE expunged (%d messages left)", tc.rights, n)
		}
		rb.c.Close()
	}
	// The owner: EXAMINE then CLOSE keeps the message; SELECT then CLOSE
	// expunges it.
	if got := ra.ok("a3 EXAMINE INBOX"); !strings.Contains(got, "a3 OK [READ-ONLY]") {
		t.Errorf("EXAMINE: %q", got)
	}
	ra.ok("a4 CLOSE")
	if n := count(); n != 1 {
		t.Fatalf("CLOSE after EXAMINE expunged (%d messages left)", n)
	}
	if got := ra.ok("a5 SELECT INBOX"); !strings.Contains(got, "a5 OK [READ-WRITE]") {
		t.Errorf("SELECT by the owner: %q", got)
	}
	ra.ok("a6 CLOSE")
	if n := count(); n != 0 {
		t.Fatalf("CLOSE after SELECT left %d messages", n)
	}
}

// logRecorder is a slog handler that hands each record's message to a
// channel.
type logRecorder struct{ ch chan string }

func (h logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecorder) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Message:
	default:
	}
	return nil
}
func (h logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logRecorder) WithGroup(string) slog.Handler      { return h }

// TestSearchStopsWhenClientLeaves: a SEARCH whose client closes the
// connection stops at the next message instead of running to its end.
func TestSearchStopsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	logs := make(chan string, 1000)
	var mu sync.Mutex
	visited := 0
	started := make(chan struct{}, 1)
	cancelled := make(chan bool, 1)
	ts := newTestServer(t, func(o *Options) {
		o.Logger = slog.New(logRecorder{logs})
		o.onSearchMessage = func(ctx context.Context) {
			mu.Lock()
			visited++
			first := visited == 1
			mu.Unlock()
			if !first {
				return
			}
			// Hold the first message until the command is cancelled.
			started <- struct{}{}
			select {
			case <-ctx.Done():
				cancelled <- true
			case <-time.After(10 * time.Second):
				cancelled <- false
			}
		}
	})
	ctx := context.Background()
	const user = "alice@example.test"
	ts.st.EnsureAccount(ctx, user, true)
	box, _ := ts.st.MailboxByName(ctx, user, "INBOX")
	const n = 50
	var bodies [][]byte
	for i := range n {
		bodies = append(bodies, fmt.Appendf(nil, "Subject: %d\r\n\r\nsome text\r\n", i))
	}
	if err := ts.st.AppendBatch(ctx, box.ID, bodies, make([]store.NewMessage, n)); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, ts.plain)
	r.ok("a LOGIN " + user + " password")
	r.ok("b SELECT INBOX")
	io.WriteString(r.c, "c SEARCH BODY needle\r\n")
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("SEARCH did not start")
	}
	r.c.Close()
	if !<-cancelled {
		t.Fatal("SEARCH's context was not cancelled when the client closed the connection")
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-logs:
			if strings.Contains(m, "command abandoned") {
				mu.Lock()
				defer mu.Unlock()
				if visited >= n {
					t.Fatalf("SEARCH looked at all %d messages", visited)
				}
				return
			}
		case <-deadline:
			t.Fatal("no log of the abandoned SEARCH")
		}
	}
}

// TestSearchBodyFolding: BODY and TEXT match case-insensitively, by
// Unicode simple folding, in large texts and across encodings.
func TestSearchBodyFolding(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	const user = "alice@example.test"
	ts.st.EnsureAccount(ctx, user, true)
	box, _ := ts.st.MailboxByName(ctx, user, "INBOX")
	line := "lorem ipsum dolor sit amet, tempor incididunt ut labore.\r\n"
	msgs := []string{
		"Subject: big\r\n\r\n" + strings.Repeat(line, 4000) + "The TEMPEST came.\r\n",
		"Subject: =?utf-8?q?=C3=89t=C3=A9?=\r\n\r\nnothing\r\n",
		"Subject: qp\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nDer Stra=C3=9Fenk=C3=B6nig, 5 \xe2\x84\xaaelvin\r\n",
	}
	for _, m := range msgs {
		if _, err := ts.st.Append(ctx, box.ID, []byte(m), store.NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	r := dialRaw(t, ts.plain)
	r.ok("a LOGIN " + user + " password")
	r.ok("b SELECT INBOX")
	for q, want := range map[string]string{
		"BODY tempest":                  "* SEARCH 1\r\n",
		"BODY \"the Tempest\"":          "* SEARCH 1\r\n",
		"BODY tempests":                 "* SEARCH\r\n",
		"TEXT \"\xc3\xa9t\xc3\xa9\"":    "* SEARCH 2\r\n",
		"SUBJECT \"\xc3\x89T\xc3\x89\"": "* SEARCH 2\r\n",
		"BODY \"K\xc3\x96NIG\"":         "* SEARCH 3\r\n",
		"BODY \"5 kelvin\"":             "* SEARCH 3\r\n",
	} {
		if out := r.ok("s SEARCH CHARSET UTF-8 " + q); !strings.Contains(out, want) {
			t.Errorf("SEARCH %s: %q, want %q", q, out, want)
		}
	}
}

// TestMoveQuota: a MOVE within one account never fails on quota (the
// usage does not change); COPY is charged; a MOVE into another account's
// mailbox is charged to that account only.
func TestMoveQuota(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	h, _ := acl.HashPassword("password")
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "tight", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "tight", Groups: []string{"staff"}},
	}, []acl.Plan{{Name: "tight", Share: true, Quota: 300}}, []string{"staff"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts.dir.Store(dir)
	alice := ts.client(t, "alice@example.test", nil)
	msg := "Subject: m\r\n\r\n" + strings.Repeat("x", 180) + "\r\n" // ~200 bytes: over half the quota
	appendMsg(t, alice, "INBOX", msg, nil)
	if _, err := alice.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Copy(imap.SeqSetNum(1), "Trash").Wait(); respCode(err) != imap.ResponseCodeOverQuota {
		t.Errorf("COPY over quota: %v", err)
	}
	if _, err := alice.Move(imap.SeqSetNum(1), "Trash").Wait(); err != nil {
		t.Fatalf("MOVE within the account: %v", err)
	}
	if u, _ := ts.st.Usage(context.Background(), "alice@example.test"); u != int64(len(msg)) {
		t.Errorf("usage after MOVE = %d, want %d", u, len(msg))
	}
	// bob lets alice put messages into his INBOX: her MOVE there is
	// charged to bob, not to her.
	rb := dialRaw(t, ts.plain)
	rb.ok("b1 LOGIN bob@example.test password")
	rb.ok("b2 SETACL INBOX alice@example.test lri")
	bob := ts.client(t, "bob@example.test", nil)
	appendMsg(t, bob, "INBOX", msg, nil)
	if _, err := alice.Select("Trash", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Move(imap.SeqSetNum(1), "Other Users/bob@example.test/INBOX").Wait(); respCode(err) != imap.ResponseCodeOverQuota {
		t.Errorf("MOVE into bob's full INBOX: %v", err)
	}
	bob.Select("INBOX", nil).Wait()
	if err := bob.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Move(imap.SeqSetNum(1), "Other Users/bob@example.test/INBOX").Wait(); err != nil {
		t.Fatalf("MOVE into bob's INBOX with room: %v", err)
	}
}

// TestFetchReadsOnlyRequested: FETCH of a sparse set reads the bodies of
// the messages asked for, not of every message in the UID span.
func TestFetchReadsOnlyRequested(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	const user = "alice@example.test"
	ts.st.EnsureAccount(ctx, user, true)
	box, _ := ts.st.MailboxByName(ctx, user, "INBOX")
	const n = 200
	var bodies [][]byte
	for i := range n {
		bodies = append(bodies, fmt.Appendf(nil, "Subject: %d\r\n\r\nbody %d\r\n", i+1, i+1))
	}
	if err := ts.st.AppendBatch(ctx, box.ID, bodies, make([]store.NewMessage, n)); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, ts.plain)
	r.ok("a LOGIN " + user + " password")
	r.ok("b SELECT INBOX")
	before := ts.st.BodyReads()
	out := r.ok("c FETCH 1,100,200 (BODY.PEEK[] ENVELOPE)")
	if got := ts.st.BodyReads() - before; got != 3 {
		t.Errorf("FETCH 1,100,200 read %d bodies, want 3", got)
	}
	for _, want := range []string{"Subject: 1\r\n", "Subject: 100\r\n", "Subject: 200\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in %q", want, out)
		}
	}
	if strings.Count(out, "* ") != 3 {
		t.Errorf("FETCH answered %q", out)
	}
	// Dense sets still answer every message.
	if out := r.ok("d UID FETCH 1:* (UID FLAGS)"); strings.Count(out, "* ") != n {
		t.Errorf("UID FETCH 1:* answered %d messages", strings.Count(out, "* "))
	}
}

// TestNoEnumeration: a user of another group gets for an existing
// address, a team account or a group exactly the answer a made-up one
// gets, in CREATE, SELECT and the ACL commands.
func TestNoEnumeration(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	ctx := context.Background()
	ts.st.EnsureAccount(ctx, "info@example.test", false)
	ts.client(t, "alice@example.test", nil) // creates her mailboxes
	rc := dialRaw(t, ts.plain)
	rc.ok("c1 LOGIN carol@other.test password")
	answer := func(cmd, ident string) string {
		out := rc.cmd("x " + strings.ReplaceAll(cmd, "ID", ident))
		return strings.ReplaceAll(out, ident, "ID")
	}
	for _, tc := range []struct {
		cmd   string
		real  []string
		bogus string
	}{
		{`CREATE "Other Users/ID/x"`, []string{"alice@example.test", "info@example.test", "bob@example.test"}, "nobody@example.test"},
		{`CREATE "Shared/ID/x"`, []string{"info@example.test", "alice@example.test"}, "nobody@example.test"},
		{`CREATE "Other Users/ID/INBOX/x"`, []string{"alice@example.test"}, "nobody@example.test"},
		{`SELECT "Other Users/ID/INBOX"`, []string{"alice@example.test", "info@example.test"}, "nobody@example.test"},
		{`SELECT "Shared/ID/INBOX"`, []string{"info@example.test"}, "nobody@example.test"},
		{`SETACL INBOX ID lr`, []string{"alice@example.test", "info@example.test", "bob@example.test"}, "nobody@example.test"},
		{`SETACL INBOX ID lr`, []string{"-alice@example.test"}, "-nobody@example.test"},
		{`SETACL INBOX ID lr`, []string{"group:staff"}, "group:nogroup"},
		{`DELETEACL INBOX ID`, []string{"alice@example.test", "group:staff"}, "nobody@example.test"},
		{`LISTRIGHTS INBOX ID`, []string{"alice@example.test", "group:staff"}, "nobody@example.test"},
	} {
		want := answer(tc.cmd, tc.bogus)
		if strings.HasPrefix(want, "x OK") {
			t.Fatalf("%s with a made-up identifier: %q", tc.cmd, want)
		}
		for _, id := range tc.real {
			if got := answer(tc.cmd, id); got != want {
				t.Errorf("%s with %s: %q; with a made-up one: %q", tc.cmd, id, got, want)
			}
		}
	}
	// Within the group, grants still work and say why they are refused.
	ra := dialRaw(t, ts.plain)
	ra.ok("a1 LOGIN alice@example.test password")
	ra.ok("a2 SETACL INBOX bob@example.test lr")
	ra.ok("a3 SETACL INBOX group:staff lr")
	if got := ra.cmd("a4 SETACL INBOX alice@example.test lr"); !strings.Contains(got, "a4 NO [NOPERM]") {
		t.Errorf("grant to the owner: %q", got)
	}
}
