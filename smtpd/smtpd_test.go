package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/internal/testutil"
	"mailroom/store"
)

// testEnv is a store, a directory and an SMTP server with one listener of
// each kind on 127.0.0.1.
type testEnv struct {
	st                             *store.Store
	dir                            *acl.Live
	mx, sub, subTLS, lmtp, subTLS2 string
	queue                          *memQueue
}

// memQueue records what submission hands to the outbound queue.
type memQueue struct {
	mu   sync.Mutex
	msgs []queued
}

type queued struct {
	from  string
	rcpts []string
	msg   []byte
}

func (q *memQueue) Enqueue(_ context.Context, from string, rcpts []string, head, msg []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, queued{from, rcpts, append(append([]byte(nil), head...), msg...)})
	return nil
}

func newEnv(t testing.TB, maxBytes int64, tweak ...func(*Options)) *testEnv {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, _ := acl.HashPassword("password")
	specs := []acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}, Aliases: []string{"a.liddell@example.test"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"staff"}},
		{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
		{Address: "full@example.test", Plan: "tiny"},
		{Address: "carol@other.test", PasswordHash: h, Plan: "pro", Groups: []string{"other"}},
	}
	for i := range 16 { // for the benchmarks
		specs = append(specs, acl.AccountSpec{Address: fmt.Sprintf("user%d@example.test", i), Plan: "pro"})
	}
	dir, err := acl.NewDirectory(specs, []acl.Plan{{Name: "free"}, {Name: "pro", Share: true}, {Name: "tiny", Quota: 10}}, []string{"staff", "other"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{st: st, queue: &memQueue{}, dir: acl.NewLive(dir)}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	opts := Options{
		Store: st, Directory: env.dir, Hostname: "mx.example.test", Logger: slog.New(slog.DiscardHandler),
		Domains: []string{"example.test", "Other.Test"}, TLSConfig: testutil.TLSConfig(t),
		MaxMessageBytes: maxBytes, MaxRecipients: 5, Timeout: 10 * time.Second,
		Queue: env.queue, Now: func() time.Time { return now },
	}
	for _, f := range tweak {
		f(&opts)
	}
	srv := New(opts)
	serve := func(lopts ListenerOptions, implicitTLS bool) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lopts.ImplicitTLS = implicitTLS
		go srv.Serve(ln, lopts)
		return ln.Addr().String()
	}
	env.mx = serve(ListenerOptions{Mode: ModeMX}, false)
	env.sub = serve(ListenerOptions{Mode: ModeSubmission, InsecureAuth: true}, false)
	env.subTLS = serve(ListenerOptions{Mode: ModeSubmission}, false)
	env.subTLS2 = serve(ListenerOptions{Mode: ModeSubmission}, true)
	env.lmtp = serve(ListenerOptions{Mode: ModeLMTP}, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return env
}

func dial(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// code returns the SMTP reply code and enhanced code of err, "250" for nil.
func code(err error) string {
	if err == nil {
		return "250"
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return strings.TrimSpace(strconv.Itoa(se.Code) + " " + enh(se.EnhancedCode))
	}
	return "error: " + err.Error()
}

func enh(e smtp.EnhancedCode) string {
	if e == smtp.NoEnhancedCode || e == (smtp.EnhancedCode{}) {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
}

func inboxContents(t *testing.T, st *store.Store, account string) []string {
	t.Helper()
	ctx := context.Background()
	in, err := st.MailboxByName(ctx, account, "INBOX")
	if errors.Is(err, store.ErrNoMailbox) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	st.Messages(ctx, in.ID, 1, 0, func(m *store.Message) error {
		c, err := st.Content(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(c))
		return nil
	})
	return out
}

const testMsg = "From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: hello\r\n\r\nHi there.\r\n"

func TestMXDelivery(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	c := dial(t, env.mx)
	// alice twice (address and alias): delivered once.
	if err := testutil.SendMail(c, "sender@remote.test", []string{"alice@example.test", "bob@example.test", "A.Liddell@Example.Test", "info@example.test"}, testMsg); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.test", "bob@example.test", "info@example.test"} {
		got := inboxContents(t, env.st, a)
		if len(got) != 1 {
			t.Fatalf("%s has %d messages", a, len(got))
		}
		if !strings.HasPrefix(got[0], "Return-Path: <sender@remote.test>\r\nDelivered-To: "+a+"\r\nReceived: from client.test ([127.0.0.1])\r\n\tby mx.example.test (Mailroom) with ESMTP id ") {
			t.Errorf("%s: delivery headers wrong:\n%s", a, got[0])
		}
		if !strings.HasSuffix(got[0], "\r\n"+testMsg) {
			t.Errorf("%s: body not byte-exact:\n%q", a, got[0])
		}
	}
	st, _ := env.st.Stats(context.Background())
	if st.Bodies != 1 || st.Messages != 3 {
		t.Fatalf("stats = %+v, want one body for three messages", st)
	}
	// The null sender (bounces) is accepted on MX.
	if err := testutil.SendMail(c, "", []string{"bob@example.test"}, testMsg); err != nil {
		t.Fatalf("null sender: %v", err)
	}
}

// TestRelayMatrix checks what an unauthenticated client may send where.
func TestRelayMatrix(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	for _, tc := range []struct{ rcpt, want string }{
		{"alice@example.test", "250"},
		{"ALICE@EXAMPLE.TEST", "250"},
		{"alice@example.test.", "250"},
		{"carol@other.test", "250"},
		{"nobody@example.test", "550 5.1.1"},
		{"someone@remote.test", "554 5.7.1"},
		{"someone@remote.test.", "554 5.7.1"},
		{"someone@REMOTE.test", "554 5.7.1"},
		{"alice%remote.test@example.test", "550 5.1.1"},
		{"someone%example.test@remote.test", "554 5.7.1"},
		{`"someone@remote.test"@example.test`, "550 5.1.1"},
		{"@example.test:someone@remote.test", "554 5.7.1"},
		{"@remote.test:alice@example.test", "250"},
		{"alice@[127.0.0.1]", "554 5.7.1"},
		{"example.test", "501 5.5.2"}, // go-smtp's own syntax check
		{"alice@", "501 5.5.2"},
		{"alice@bad..test", "501 5.1.3"},
	} {
		t.Run(tc.rcpt, func(t *testing.T) {
			c := dial(t, env.mx)
			if err := c.Mail("sender@remote.test", nil); err != nil {
				t.Fatal(err)
			}
			if got := code(c.Rcpt(tc.rcpt, nil)); got != tc.want {
				t.Errorf("RCPT TO:<%s> = %s, want %s", tc.rcpt, got, tc.want)
			}
		})
	}
	// Authenticated users cannot relay through MX either: it offers no AUTH.
	c := dial(t, env.mx)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("MX advertises AUTH")
	}
}

func TestSubmissionAuth(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)

	c := dial(t, env.sub)
	if got := code(c.Mail("alice@example.test", nil)); got != "530 5.7.0" {
		t.Errorf("MAIL without AUTH = %s", got)
	}
	if got := code(c.Auth(sasl.NewPlainClient("", "alice@example.test", "wrong"))); got != "535 5.7.8" {
		t.Errorf("AUTH with a wrong password = %s", got)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	if err := testutil.SendMail(c, "alice@example.test", []string{"bob@example.test"}, "From: Alice <alice@example.test>\r\nSubject: hi\r\n\r\nhello\r\n"); err != nil {
		t.Fatalf("send: %v", err)
	}

	c = dial(t, env.sub)
	if err := c.Auth(sasl.NewLoginClient("bob@example.test", "password")); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}

	// A listener without allow_insecure_auth refuses AUTH before TLS...
	c = dial(t, env.subTLS)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH advertised before STARTTLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err == nil {
		t.Error("AUTH accepted before STARTTLS")
	}
	// ...and accepts it after STARTTLS.
	c, err := smtp.DialStartTLS(env.subTLS, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatalf("AUTH after STARTTLS: %v", err)
	}
	// Implicit TLS.
	var tc *smtp.Client
	tc, err = smtp.DialTLS(env.subTLS2, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Auth(sasl.NewPlainClient("", "carol@other.test", "password")); err != nil {
		t.Fatalf("AUTH over implicit TLS: %v", err)
	}
	// An account without a password cannot log in.
	c = dial(t, env.sub)
	if got := code(c.Auth(sasl.NewPlainClient("", "info@example.test", ""))); got != "535 5.7.8" {
		t.Errorf("AUTH as info@ = %s", got)
	}
}

func TestSubmissionSendAs(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	login := func() *smtp.Client {
		c := dial(t, env.sub)
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name, from, header, want, mention string
	}{
		{"own", "alice@example.test", "From: alice@example.test\r\n", "250", ""},
		{"alias", "a.liddell@example.test", "From: A <a.liddell@example.test>\r\n", "250", ""},
		{"case", "ALICE@example.test", "From: <Alice@Example.Test>\r\n", "250", ""},
		{"other envelope", "bob@example.test", "From: alice@example.test\r\n", "550 5.7.1", "bob@example.test"},
		{"team without rights", "info@example.test", "From: info@example.test\r\n", "550 5.7.1", "info@example.test"},
		{"other header", "alice@example.test", "From: Bob <bob@example.test>\r\n", "550 5.7.1", "bob@example.test"},
		{"second from", "alice@example.test", "From: alice@example.test, carol@other.test\r\nSender: alice@example.test\r\n", "550 5.7.1", "carol@other.test"},
		{"sender", "alice@example.test", "From: alice@example.test\r\nSender: bob@example.test\r\n", "550 5.7.1", "bob@example.test"},
		{"no from", "alice@example.test", "Subject: x\r\n", "550 5.6.0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := login()
			err := testutil.SendMail(c, tc.from, []string{"bob@example.test"}, tc.header+"Subject: t\r\n\r\nbody\r\n")
			if got := code(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
			if tc.mention != "" && !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("refusal %q does not name %s", err, tc.mention)
			}
		})
	}
	// Date, Message-ID and Received are added; the client's bytes follow.
	got := inboxContents(t, env.st, "bob@example.test")
	if len(got) != 3 {
		t.Fatalf("bob has %d messages", len(got))
	}
	m := got[0]
	for _, want := range []string{"Received: from client.test ([127.0.0.1])\r\n\tby mx.example.test (Mailroom) with ESMTPA id ", "\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n", "\r\nMessage-ID: <"} {
		if !strings.Contains(m, want) {
			t.Errorf("submitted message lacks %q:\n%s", want, m)
		}
	}
	if !strings.HasSuffix(m, "From: alice@example.test\r\nSubject: t\r\n\r\nbody\r\n") {
		t.Errorf("client bytes changed:\n%q", m)
	}
}

func TestSubmissionRemoteGoesToQueue(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	c := dial(t, env.sub)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	if err := testutil.SendMail(c, "alice@example.test", []string{"friend@remote.test", "bob@example.test"}, "From: alice@example.test\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	env.queue.mu.Lock()
	defer env.queue.mu.Unlock()
	if len(env.queue.msgs) != 1 || env.queue.msgs[0].from != "alice@example.test" || env.queue.msgs[0].rcpts[0] != "friend@remote.test" {
		t.Fatalf("queue = %+v", env.queue.msgs)
	}
	if len(inboxContents(t, env.st, "bob@example.test")) != 1 {
		t.Fatal("local recipient not delivered")
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1000)
	c := dial(t, env.mx)
	big := "Subject: big\r\n\r\n" + strings.Repeat("xxxxxxxxxxxxxxxxxxx\r\n", 100)
	if got := code(testutil.SendMail(c, "s@remote.test", []string{"alice@example.test"}, big)); got != "552 5.3.4" {
		t.Errorf("oversized message = %s", got)
	}
	if n := len(inboxContents(t, env.st, "alice@example.test")); n != 0 {
		t.Errorf("oversized message stored (%d)", n)
	}
	c = dial(t, env.mx)
	long := "Subject: long\r\n\r\n" + strings.Repeat("x", 3000) + "\r\n"
	if got := code(testutil.SendMail(c, "s@remote.test", []string{"alice@example.test"}, long)); got != "500 5.5.2" {
		t.Errorf("overlong line = %s", got)
	}
	c = dial(t, env.mx)
	c.Mail("s@remote.test", nil)
	var last error
	for range 6 {
		last = c.Rcpt("alice@example.test", nil)
	}
	if got := code(last); got != "452 4.5.3" {
		t.Errorf("sixth recipient = %s", got)
	}
	// A full mailbox is refused at RCPT, temporarily.
	c = dial(t, env.mx)
	if err := testutil.SendMail(c, "s@remote.test", []string{"full@example.test"}, "Subject: fill\r\n\r\n0123456789\r\n"); err != nil {
		t.Fatal(err)
	}
	c.Mail("s@remote.test", nil)
	if got := code(c.Rcpt("full@example.test", nil)); got != "452 4.2.2" {
		t.Errorf("RCPT to a full mailbox = %s", got)
	}
}

func TestLMTP(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	conn, err := net.Dial("tcp", env.lmtp)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.example.test"); err != nil {
		t.Fatal(err)
	}
	c.Mail("sender@remote.test", nil)
	if got := code(c.Rcpt("nobody@example.test", nil)); got != "550 5.1.1" {
		t.Errorf("unknown rcpt = %s", got)
	}
	c.Rcpt("alice@example.test", nil)
	c.Rcpt("bob@example.test", nil)
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(testMsg))
	resp, err := w.CloseWithLMTPResponse()
	if err != nil || len(resp) != 2 || resp["alice@example.test"] == nil || resp["bob@example.test"] == nil {
		t.Fatalf("LMTP statuses = %v, %v", resp, err)
	}
	got := inboxContents(t, env.st, "alice@example.test")
	if len(got) != 1 || !strings.Contains(got[0], "with LMTP id") {
		t.Fatalf("alice = %q", got)
	}
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]string{
		"a@b.test":               "a@b.test",
		"A@B.TEST.":              "A@b.test",
		"@r1,@r2:user@x.test":    "user@x.test",
		`"q@r"@x.test`:           `"q@r"@x.test`,
		"user%other@x.test":      "user%other@x.test",
		"a@[10.0.0.1]":           "a@[10.0.0.1]",
		"a@bad_domain.test":      "a@bad_domain.test",
		"a@b..test":              "",
		"ab.test":                "",
		"a@":                     "",
		"@x":                     "",
		"@r:":                    "",
		"a@[10.0.0.1":            "",
		"a\x00b@x.test":          "",
		strings.Repeat("a", 400): "",
	} {
		got, err := parseAddress(in)
		s := ""
		if err == nil {
			s = got.String()
		}
		if s != want {
			t.Errorf("parseAddress(%q) = %q, %v; want %q", in, s, err, want)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@b.test", "@r1,@r2:u@x.test", `"q@r"@x.test`, "u%o@x.test", "a@[1.2.3.4]", "A@B.TEST."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAddress(s)
		if err != nil {
			return
		}
		// A parsed address re-parses to itself: no path can change its
		// domain on a second look (the relay decision rests on it).
		b, err := parseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("%q -> %q -> %q, %v", s, a, b, err)
		}
	})
}

// TestShutdownFinishesTransactions: at shutdown an idle client is
// disconnected at once, and a client in the middle of DATA finishes and
// gets its reply before its connection closes.
func TestShutdownFinishesTransactions(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := New(Options{Store: st, Directory: acl.NewLive(testDirectory(t)), Hostname: "mx.example.test",
		Logger: slog.New(slog.DiscardHandler), Domains: []string{"example.test"}, Timeout: time.Minute})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln, ListenerOptions{Mode: ModeMX})

	idle := dial(t, ln.Addr().String())
	busy := dial(t, ln.Addr().String())
	busy.Mail("s@remote.test", nil)
	busy.Rcpt("alice@example.test", nil)
	w, err := busy.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: in flight\r\n\r\nfirst half"))

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	// The idle client is cut off (once the shutdown, in its goroutine,
	// has begun: NOOP until the connection is gone)...
	for deadline := time.Now().Add(10 * time.Second); idle.Noop() == nil; {
		if time.Now().After(deadline) {
			t.Fatal("idle connection still open during shutdown")
		}
	}
	select {
	case <-done:
		t.Fatal("shutdown returned with a transaction in flight")
	default:
	}
	// ...the busy one completes.
	w.Write([]byte(", second half\r\n"))
	if err := w.Close(); err != nil {
		t.Fatalf("DATA during shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if got := inboxContents(t, st, "alice@example.test"); len(got) != 1 || !strings.HasSuffix(got[0], "first half, second half\r\n") {
		t.Fatalf("delivered %q", got)
	}
}

// TestSendAsTeamAddress: a staff member answers as info@ (the operator
// shares info@ with staff, "p" included); the answer is filed in info@'s
// Sent. Without "p" (a negative entry takes it away) it is refused.
func TestSendAsTeamAddress(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	h, _ := acl.HashPassword("password")
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"staff"}},
		{Address: "carol@other.test", PasswordHash: h, Plan: "pro", Groups: []string{"other"}},
		{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
	}, []acl.Plan{{Name: "free"}, {Name: "pro", Share: true}}, []string{"staff", "other"},
		[]acl.Share{{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte"}})
	if err != nil {
		t.Fatal(err)
	}
	env.dir.Store(dir)
	ctx := context.Background()
	env.st.EnsureAccount(ctx, "info@example.test", false)
	login := func(user string) *smtp.Client {
		c := dial(t, env.sub)
		if err := c.Auth(sasl.NewPlainClient("", user, "password")); err != nil {
			t.Fatal(err)
		}
		return c
	}
	reply := "From: Info Desk <info@example.test>\r\nTo: customer@remote.test\r\nSubject: Re: help\r\n\r\nHere is the answer.\r\n"
	if err := testutil.SendMail(login("bob@example.test"), "info@example.test", []string{"alice@example.test"}, reply); err != nil {
		t.Fatalf("bob as info@: %v", err)
	}
	sent, err := env.st.MailboxByName(ctx, "info@example.test", "Sent")
	if err != nil || sent.Messages != 1 || sent.SpecialUse != store.SpecialSent {
		t.Fatalf("info@'s Sent: %+v, %v", sent, err)
	}
	var copyText string
	env.st.Messages(ctx, sent.ID, 1, 0, func(m *store.Message) error {
		c, _ := env.st.Content(ctx, m)
		copyText = string(c)
		if !m.Flags.Has(`\Seen`) {
			t.Error("sent copy not marked read")
		}
		return nil
	})
	if !strings.HasSuffix(copyText, reply) || !strings.HasPrefix(copyText, "X-Mailroom-Sent-By: bob@example.test\r\n") {
		t.Errorf("sent copy (names bob first, then the message): %q", copyText)
	}
	// The copy alice received does not name bob.
	for _, m := range inboxContents(t, env.st, "alice@example.test") {
		if strings.Contains(m, "X-Mailroom-Sent-By") {
			t.Errorf("the recipient's copy names the member: %q", m)
		}
	}
	// carol is not in staff: refused, naming the address.
	err = testutil.SendMail(login("carol@other.test"), "info@example.test", []string{"alice@example.test"}, reply)
	if code(err) != "550 5.7.1" || !strings.Contains(err.Error(), "info@example.test") {
		t.Errorf("carol as info@: %v", err)
	}
	// Taking "p" away from bob ends his send-as at once.
	in, _ := env.st.MailboxByName(ctx, "info@example.test", "INBOX")
	env.st.SetACL(ctx, in.ID, "-bob@example.test", "p")
	err = testutil.SendMail(login("bob@example.test"), "info@example.test", []string{"alice@example.test"}, reply)
	if code(err) != "550 5.7.1" {
		t.Errorf("bob without p: %v", err)
	}
}

// TestSMTPAbuseLimits: connections over the per-address cap get 421, a
// failed AUTH slows the next attempt (doubling, per address and name), and
// a client that stalls is cut off by the timeout without holding up
// another.
func TestSMTPAbuseLimits(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sleeps []time.Duration
	env := newEnv(t, 1<<20, func(o *Options) {
		o.MaxConnectionsPerIP = 2
		o.Timeout = 500 * time.Millisecond
		o.Sleep = func(_ context.Context, d time.Duration) { mu.Lock(); sleeps = append(sleeps, d); mu.Unlock() }
	})
	a := dial(t, env.sub)
	for range 3 {
		a.Auth(sasl.NewPlainClient("", "alice@example.test", "wrong"))
	}
	mu.Lock()
	got := fmt.Sprint(sleeps)
	mu.Unlock()
	if got != "[0s 1s 2s]" {
		t.Errorf("AUTH delays %s, want [0s 1s 2s]", got)
	}
	// A second connection from the address is allowed, a third is refused.
	b, err := net.Dial("tcp", env.mx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := net.Dial("tcp", env.mx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	greeting, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(greeting), "421 4.7.0") {
		t.Errorf("third connection: %q", greeting)
	}
	// b stalls after half a command; the server drops it by itself.
	b.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(b)
	br.ReadString('\n') // greeting
	b.Write([]byte("EHLO sl"))
	if _, err := io.ReadAll(br); err != nil {
		t.Fatalf("stalled client not disconnected: %v", err)
	}
	// Meanwhile and after, others are served.
	a.Close()
	d := dial(t, env.mx)
	if err := testutil.SendMail(d, "s@remote.test", []string{"alice@example.test"}, "Subject: x\r\n\r\ny\r\n"); err != nil {
		t.Fatalf("after the slow client: %v", err)
	}
}

// TestSMTPSlowDrip: a client that drips a command a byte at a time is cut
// off when the line is not complete within the timeout (go-smtp sets the
// read deadline once per line), and others are served meanwhile.
func TestSMTPSlowDrip(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20, func(o *Options) { o.Timeout = 500 * time.Millisecond })
	raw, err := net.Dial("tcp", env.mx)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(raw)
	br.ReadString('\n') // greeting
	closed := make(chan struct{})
	go func() {
		io.ReadAll(br)
		close(closed)
	}()
	other := dial(t, env.mx) // served while the drip goes on
	if err := testutil.SendMail(other, "s@remote.test", []string{"alice@example.test"}, "Subject: x\r\n\r\ny\r\n"); err != nil {
		t.Fatal(err)
	}
	drip := time.NewTicker(50 * time.Millisecond) // the slow client's pace
	defer drip.Stop()
	line := []byte("EHLO a-very-slow-client.remote.test\r\n")
	for i := 0; ; i++ {
		select {
		case <-closed:
			if i >= len(line) {
				t.Fatalf("the server read the whole line (%d bytes) before cutting off", i)
			}
			return
		case <-drip.C:
			if i < len(line) {
				raw.Write(line[i : i+1])
			}
		case <-time.After(20 * time.Second):
			t.Fatal("dripping client not cut off")
		}
	}
}
