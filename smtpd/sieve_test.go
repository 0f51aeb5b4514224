package smtpd

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
	"mailroom/store"
)

// mailboxMessages returns the contents and flags of every message in an
// account's mailbox.
func mailboxMessages(t *testing.T, st *store.Store, account, name string) (contents []string, flags []store.Flags) {
	t.Helper()
	ctx := context.Background()
	m, err := st.MailboxByName(ctx, account, name)
	if err != nil {
		return nil, nil
	}
	st.Messages(ctx, m.ID, 1, 0, func(msg *store.Message) error {
		c, err := st.Content(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, string(c))
		flags = append(flags, msg.Flags)
		return nil
	})
	return contents, flags
}

func (q *memQueue) sent() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queued(nil), q.msgs...)
}

const teamScript = `require ["fileinto", "mailbox", "imap4flags", "vacation"];
if header :contains "subject" "Order" {
  fileinto :create :flags "$Order" "Orders";
}
vacation :days 7 :subject "We got your message" "Thanks for writing to info@. We answer within a day.";
`

// TestSieveTeamScriptEndToEnd: a team script on info@ files "Order" mail
// into Orders with a flag and answers every customer once, a list post
// gets no reply, and a broken script on bob's account keeps his mail in
// INBOX and tells him why.
func TestSieveTeamScriptEndToEnd(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	ctx := context.Background()
	st := env.st
	if err := st.PutSieveScript(ctx, "info@example.test", "desk", teamScript); err != nil {
		t.Fatal(err)
	}
	if err := st.SetActiveSieveScript(ctx, "info@example.test", "desk"); err != nil {
		t.Fatal(err)
	}
	send := func(from, rcpt, msg string) error {
		return testutil.SendMail(dial(t, env.mx), from, []string{rcpt}, msg)
	}
	order := "From: Customer <customer@remote.test>\r\nTo: info@example.test\r\nSubject: Order 1234\r\nMessage-ID: <o1@remote.test>\r\n\r\nTwo boxes please.\r\n"
	for range 2 {
		if err := send("customer@remote.test", "info@example.test", order); err != nil {
			t.Fatal(err)
		}
	}
	question := "From: customer@remote.test\r\nTo: info@example.test\r\nSubject: A question\r\n\r\nAre you open?\r\n"
	if err := send("customer@remote.test", "info@example.test", question); err != nil {
		t.Fatal(err)
	}
	list := "From: someone@lists.test\r\nTo: info@example.test\r\nList-Id: <announce.lists.test>\r\nSubject: Order news\r\n\r\nNews.\r\n"
	if err := send("bounces@lists.test", "info@example.test", list); err != nil {
		t.Fatal(err)
	}

	orders, flags := mailboxMessages(t, st, "info@example.test", "Orders")
	if len(orders) != 3 { // two orders and the list post, whose subject has "Order"
		t.Fatalf("Orders holds %d messages", len(orders))
	}
	for i, f := range flags {
		if !f.Has("$Order") {
			t.Errorf("Orders message %d flags = %+v", i, f)
		}
	}
	inbox, _ := mailboxMessages(t, st, "info@example.test", "INBOX")
	if len(inbox) != 1 || !strings.Contains(inbox[0], "Are you open?") {
		t.Fatalf("info@ INBOX = %q", inbox)
	}
	replies := env.queue.sent()
	if len(replies) != 1 {
		t.Fatalf("%d replies queued, want one: %+v", len(replies), replies)
	}
	r := replies[0]
	body := string(r.msg)
	if r.from != "info@example.test" || len(r.rcpts) != 1 || r.rcpts[0] != "customer@remote.test" ||
		!strings.Contains(body, "Auto-Submitted: auto-replied") || !strings.Contains(body, "From: info@example.test\r\n") ||
		!strings.Contains(body, "In-Reply-To: <o1@remote.test>") || !strings.Contains(body, "Subject: We got your message") ||
		!strings.Contains(body, "We answer within a day.") {
		t.Errorf("vacation reply from %q to %v:\n%s", r.from, r.rcpts, body)
	}

	// bob's script fails at run time: his mail stays in INBOX, with one
	// notice saying why, however many messages come.
	if err := st.PutSieveScript(ctx, "bob@example.test", "broken", `require "include"; include "missing-script";`); err != nil {
		t.Fatal(err)
	}
	if err := st.SetActiveSieveScript(ctx, "bob@example.test", "broken"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := send("customer@remote.test", "bob@example.test", "From: customer@remote.test\r\nTo: bob@example.test\r\nSubject: hi bob\r\n\r\nhello\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	bob, _ := mailboxMessages(t, st, "bob@example.test", "INBOX")
	var mail, notices int
	for _, m := range bob {
		switch {
		case strings.Contains(m, "Subject: hi bob"):
			mail++
		case strings.Contains(m, "Your mail filter failed") && strings.Contains(m, `"broken"`) && strings.Contains(m, "missing-script"):
			notices++
		default:
			t.Errorf("unexpected message in bob's INBOX:\n%s", m)
		}
	}
	if mail != 2 || notices != 1 {
		t.Errorf("bob's INBOX: %d messages, %d notices; want 2 and 1", mail, notices)
	}
}

// TestSieveRejectAndRedirect: over LMTP a rejecting recipient gets 550
// 5.7.1 and the others 250; over SMTP a message every recipient rejects is
// refused at DATA; redirect goes to the queue as the account, once.
func TestSieveRejectAndRedirect(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	ctx := context.Background()
	put := func(acct, src string) {
		t.Helper()
		if err := env.st.PutSieveScript(ctx, acct, "s", src); err != nil {
			t.Fatal(err)
		}
		if err := env.st.SetActiveSieveScript(ctx, acct, "s"); err != nil {
			t.Fatal(err)
		}
	}
	put("bob@example.test", `require "reject"; if header :contains "subject" "spam" { reject "No spam, thanks."; }`)
	put("alice@example.test", `redirect "alice@elsewhere.test"; keep;`)
	msg := "From: x@remote.test\r\nTo: bob@example.test\r\nSubject: spam offer\r\n\r\nbuy\r\n"

	c := dial(t, env.mx)
	err := testutil.SendMail(c, "x@remote.test", []string{"bob@example.test"}, msg)
	if code(err) != "550 5.7.1" || !strings.Contains(err.Error(), "No spam") {
		t.Errorf("SMTP reject: %v", err)
	}

	conn, err := net.Dial("tcp", env.lmtp)
	if err != nil {
		t.Fatal(err)
	}
	lc := smtp.NewClientLMTP(conn)
	defer lc.Close()
	if err := lc.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := lc.Mail("x@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"bob@example.test", "alice@example.test"} {
		if err := lc.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(msg))
	resp, err := w.CloseWithLMTPResponse()
	got := map[string]string{}
	for r := range resp {
		got[r] = "250"
	}
	var lerr smtp.LMTPDataError
	if errors.As(err, &lerr) {
		for r, e := range lerr {
			got[r] = code(e)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	if got["bob@example.test"] != "550 5.7.1" || got["alice@example.test"] != "250" {
		t.Errorf("LMTP statuses = %v", got)
	}
	if in, _ := mailboxMessages(t, env.st, "bob@example.test", "INBOX"); len(in) != 0 {
		t.Errorf("bob's INBOX has the rejected message")
	}
	if in, _ := mailboxMessages(t, env.st, "alice@example.test", "INBOX"); len(in) != 1 {
		t.Errorf("alice's INBOX has %d messages", len(in))
	}
	q := env.queue.sent()
	if len(q) != 1 || !strings.HasPrefix(q[0].from, "SRS0=") || !strings.HasSuffix(q[0].from, "=remote.test=x@example.test") ||
		q[0].rcpts[0] != "alice@elsewhere.test" || !strings.Contains(string(q[0].msg), "Subject: spam offer") {
		t.Fatalf("queue = %+v", q)
	}
	// The redirect bounces: the bounce to the SRS address goes back to
	// the original sender; a forged SRS address is unknown.
	bounce := "From: MAILER-DAEMON@elsewhere.test\r\nSubject: Undelivered\r\n\r\nsorry\r\n"
	if err := testutil.SendMail(dial(t, env.mx), "", []string{q[0].from}, bounce); err != nil {
		t.Fatalf("bounce to %s: %v", q[0].from, err)
	}
	q = env.queue.sent()
	if len(q) != 2 || q[1].from != "" || len(q[1].rcpts) != 1 || q[1].rcpts[0] != "x@remote.test" {
		t.Fatalf("bounce forwarded as %+v", q[1:])
	}
	forged := "SRS0=abcd=AA=remote.test=x@example.test"
	if err := testutil.SendMail(dial(t, env.mx), "", []string{forged}, bounce); code(err) != "550 5.1.1" {
		t.Errorf("forged SRS address: %v", err)
	}
}

// TestSieveGlobalScript: the global script runs first; its fileinto
// cancels the implicit keep for the user's script too, and editheader
// changes are stored.
func TestSieveGlobalScript(t *testing.T) {
	t.Parallel()
	global := filepath.Join(t.TempDir(), "global.sieve")
	os.WriteFile(global, []byte(`require ["fileinto", "mailbox", "editheader"];
if header :contains "X-Spam" "yes" { fileinto :create "Junk"; stop; }
addheader "X-Filtered" "by mailroom";`), 0o600)
	env := newEnv(t, 1<<20, func(o *Options) { o.Sieve.Global = global })
	ctx := context.Background()
	env.st.PutSieveScript(ctx, "alice@example.test", "s", `require "imap4flags"; addflag "\\Flagged";`)
	env.st.SetActiveSieveScript(ctx, "alice@example.test", "s")
	send := func(msg string) {
		t.Helper()
		if err := testutil.SendMail(dial(t, env.mx), "x@remote.test", []string{"alice@example.test", "bob@example.test"}, msg); err != nil {
			t.Fatal(err)
		}
	}
	send("From: x@remote.test\r\nSubject: junk\r\nX-Spam: yes\r\n\r\nbuy\r\n")
	send("From: x@remote.test\r\nSubject: hello\r\n\r\nhi\r\n")
	for _, acct := range []string{"alice@example.test", "bob@example.test"} {
		junk, _ := mailboxMessages(t, env.st, acct, "Junk")
		if len(junk) != 1 || !strings.Contains(junk[0], "Subject: junk") {
			t.Errorf("%s Junk = %q", acct, junk)
		}
		inbox, flags := mailboxMessages(t, env.st, acct, "INBOX")
		if len(inbox) != 1 || !strings.HasPrefix(inbox[0], "X-Filtered: by mailroom\r\n") || !strings.Contains(inbox[0], "\r\n\r\nhi\r\n") {
			t.Fatalf("%s INBOX = %q", acct, inbox)
		}
		if want := acct == "alice@example.test"; flags[0].Has(`\Flagged`) != want {
			t.Errorf("%s flags = %+v", acct, flags[0])
		}
	}
}

// TestSieveLocalTargets: a vacation reply and a redirect to local
// addresses are delivered straight into those INBOXes, not queued.
func TestSieveLocalTargets(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	ctx := context.Background()
	env.st.PutSieveScript(ctx, "alice@example.test", "s", `require "vacation"; redirect "user1@example.test"; vacation "Away.";`)
	env.st.SetActiveSieveScript(ctx, "alice@example.test", "s")
	if err := testutil.SendMail(dial(t, env.mx), "bob@example.test", []string{"alice@example.test"}, "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: lunch?\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	if q := env.queue.sent(); len(q) != 0 {
		t.Errorf("queued: %+v", q)
	}
	bob := inboxContents(t, env.st, "bob@example.test")
	if len(bob) != 1 || !strings.Contains(bob[0], "Auto-Submitted: auto-replied") || !strings.HasPrefix(bob[0], "Return-Path: <alice@example.test>\r\nDelivered-To: bob@example.test\r\n") {
		t.Errorf("bob's INBOX = %q", bob)
	}
	u1 := inboxContents(t, env.st, "user1@example.test")
	if len(u1) != 1 || !strings.Contains(u1[0], "Subject: lunch?") || strings.Count(u1[0], "Return-Path:") != 1 || !strings.Contains(u1[0], "Delivered-To: alice@example.test") {
		t.Errorf("user1's INBOX = %q", u1)
	}
	if in := inboxContents(t, env.st, "alice@example.test"); len(in) != 0 {
		t.Errorf("alice kept a redirected message: %d", len(in))
	}
}
