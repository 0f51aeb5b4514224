package smtpd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/internal/testutil"
	"mailroom/store"
)

// startDSNMX is a fake MX host that may offer DSN and REQUIRETLS.
func startDSNMX(t *testing.T, cfg *tls.Config, dsn, requireTLS bool) *fakeMX {
	t.Helper()
	m := &fakeMX{}
	srv := smtp.NewServer(m)
	srv.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	srv.Domain = "mx.dest.test"
	srv.TLSConfig = cfg
	srv.EnableDSN, srv.EnableREQUIRETLS = dsn, requireTLS
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

// TestDSN: RFC 3461 as the queue honours it. A failure is reported unless
// the recipient asked for no failure report; NOTIFY=SUCCESS to a host
// without DSN gets a "relayed" report; a host with DSN gets the
// parameters (and reports itself); RET=FULL returns the message; ENVID
// and ORCPT are quoted back.
func TestDSN(t *testing.T) {
	plain := startDSNMX(t, testutil.TLSConfig(t), false, false)
	withDSN := startDSNMX(t, testutil.TLSConfig(t), true, false)
	for _, tc := range []struct {
		name   string
		mx     *fakeMX
		notify store.Notify
		ret    string
		refuse bool
		report string // "" for none, else a text the report must hold
		passOn bool   // the host got NOTIFY, ORCPT, ENVID and RET
	}{
		{name: "failure reported by default", mx: plain, refuse: true, report: "Action: failed"},
		{name: "NOTIFY=NEVER: no bounce", mx: plain, notify: store.NotifyNever, refuse: true},
		{name: "NOTIFY=SUCCESS only: no bounce", mx: plain, notify: store.NotifySuccess, refuse: true},
		{name: "RET=FULL returns the message", mx: plain, refuse: true, ret: "FULL", report: "see you soon."},
		{name: "SUCCESS to a host without DSN: relayed", mx: plain, notify: store.NotifySuccess | store.NotifyFailure, report: "Action: relayed"},
		{name: "SUCCESS to a host with DSN: passed on", mx: withDSN, notify: store.NotifySuccess, ret: "HDRS", passOn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.mx.rcpt = func(string) error {
				if tc.refuse {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
				}
				return nil
			}
			dns := &fakeDNS{mx: map[string][]*net.MX{"dest.test": {{Host: "mx.dest.test.", Pref: 10}}}}
			env := newOutEnv(t, dns, map[string]string{"mx.dest.test": tc.mx.addr}, nil)
			before := len(tc.mx.messages())
			e := &store.QueueEntry{From: "alice@example.test", Ret: tc.ret, EnvID: "env-7",
				Rcpts: []store.QueueRcpt{{Addr: "friend@dest.test", Notify: tc.notify, ORcpt: "rfc822;orig@dest.test"}}}
			if err := env.out.EnqueueEntry(context.Background(), e, nil, []byte(outMsg)); err != nil {
				t.Fatal(err)
			}
			env.runOnce(t)
			reports := inboxContents(t, env.st, "alice@example.test")
			switch {
			case tc.report == "" && len(reports) != 0:
				t.Fatalf("unexpected report: %q", reports)
			case tc.report != "":
				if len(reports) != 1 || !strings.Contains(reports[0], tc.report) ||
					!strings.Contains(reports[0], "Original-Envelope-Id: env-7") || !strings.Contains(reports[0], "Original-Recipient: rfc822;orig@dest.test") {
					t.Fatalf("report: %q", reports)
				}
				if tc.ret == "FULL" && !strings.Contains(reports[0], "Content-Type: message/rfc822") {
					t.Errorf("RET=FULL without the message: %q", reports[0])
				}
			}
			if tc.passOn {
				got := tc.mx.messages()[before:]
				if len(got) != 1 || got[0].mailOpts.EnvelopeID != "env-7" || got[0].mailOpts.Return != smtp.DSNReturnHeaders ||
					!slices.Equal(got[0].rcptOpts[0].Notify, []smtp.DSNNotify{smtp.DSNNotifySuccess}) || got[0].rcptOpts[0].OriginalRecipient != "orig@dest.test" {
					t.Fatalf("host got %+v", got)
				}
			}
		})
	}
}

// TestRequireTLS: RFC 8689. REQUIRETLS mail goes only over TLS whose
// certificate verifies to a host that offers REQUIRETLS, and the flag
// goes with it; a host without REQUIRETLS gets nothing and the sender a
// 5.7.30 report; an unverifiable certificate makes the message wait.
func TestRequireTLS(t *testing.T) {
	pki := newTestPKI(t, "mx.dest.test")
	good := startDSNMX(t, pki.server, false, true)
	noExt := startDSNMX(t, pki.server, false, false)
	selfSigned := startDSNMX(t, testutil.TLSConfig(t), false, true)
	for _, tc := range []struct {
		name   string
		mx     *fakeMX
		sent   bool
		bounce bool
	}{
		{"verified, REQUIRETLS offered", good, true, false},
		{"REQUIRETLS not offered", noExt, false, true},
		{"certificate not verifiable", selfSigned, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := &fakeDNS{mx: map[string][]*net.MX{"dest.test": {{Host: "mx.dest.test.", Pref: 10}}}}
			env := newOutEnv(t, dns, map[string]string{"mx.dest.test": tc.mx.addr}, func(o *OutboundOptions) { o.MXRootCAs = pki.pool })
			before := len(tc.mx.messages())
			e := &store.QueueEntry{From: "alice@example.test", RequireTLS: true, Rcpts: []store.QueueRcpt{{Addr: "friend@dest.test"}}}
			if err := env.out.EnqueueEntry(context.Background(), e, nil, []byte(outMsg)); err != nil {
				t.Fatal(err)
			}
			env.runOnce(t)
			got := tc.mx.messages()[before:]
			if sent := len(got) == 1; sent != tc.sent || (sent && (!got[0].tls || !got[0].mailOpts.RequireTLS)) {
				t.Fatalf("host got %+v", got)
			}
			reports := inboxContents(t, env.st, "alice@example.test")
			if bounced := len(reports) == 1 && strings.Contains(reports[0], "Status: 5.7.30"); bounced != tc.bounce {
				t.Fatalf("reports %q", reports)
			}
			if q := env.queue(t); !tc.sent && !tc.bounce && (len(q) != 1 || len(q[0].Pending()) != 1) {
				t.Fatalf("should wait: %+v", q)
			}
		})
	}
}

// envQueue records what submission queues with its envelope.
type envQueue struct {
	memQueue
	envs []store.QueueEntry
}

func (q *envQueue) EnqueueEntry(_ context.Context, env *store.QueueEntry, head, msg []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.envs = append(q.envs, *env)
	return nil
}

// TestDSNParametersAccepted: submission takes RET, ENVID, NOTIFY and ORCPT
// and queues them with the message; REQUIRETLS only over TLS; a local
// recipient that asked for NOTIFY=SUCCESS gets the sender a "delivered"
// report.
func TestDSNParametersAccepted(t *testing.T) {
	q := &envQueue{}
	env := newEnv(t, 0, func(o *Options) { o.Queue = q })
	c := dial(t, env.sub)
	if ok, _ := c.Extension("DSN"); !ok {
		t.Fatal("DSN not offered")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.test", &smtp.MailOptions{RequireTLS: true}); code(err) != "530 5.7.10" && !strings.Contains(code(err), "REQUIRETLS") {
		t.Errorf("REQUIRETLS without TLS: %s", code(err))
	}
	c.Reset()
	if err := c.Mail("alice@example.test", &smtp.MailOptions{Return: smtp.DSNReturnFull, EnvelopeID: "abc-1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("friend@remote.test", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure},
		OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "friend@remote.test"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.test", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess}}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: alice@example.test\r\nTo: friend@remote.test\r\nSubject: dsn\r\n\r\nhello\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	envs := q.envs
	q.mu.Unlock()
	if len(envs) != 1 || envs[0].Ret != "FULL" || envs[0].EnvID != "abc-1" || len(envs[0].Rcpts) != 1 ||
		envs[0].Rcpts[0].Notify != store.NotifySuccess|store.NotifyFailure || envs[0].Rcpts[0].ORcpt != "rfc822;friend@remote.test" {
		t.Fatalf("queued %+v", envs)
	}
	// The report is stored before the reply to the final dot.
	reports := inboxContents(t, env.st, "alice@example.test")
	if len(reports) != 1 || !strings.Contains(reports[0], "Action: delivered") || !strings.Contains(reports[0], "Final-Recipient: rfc822; bob@example.test") ||
		!strings.Contains(reports[0], "Original-Envelope-Id: abc-1") {
		t.Fatalf("no delivered report: %q", reports)
	}
}

// TestSendOnBehalf: a share with send = "on-behalf" makes mail a member
// sends as the team carry a Sender: field naming the member; with the
// default ("as") nothing outside names the member.
func TestSendOnBehalf(t *testing.T) {
	for _, mode := range []string{"as", "on-behalf"} {
		env := newEnv(t, 1<<20)
		h, _ := acl.HashPassword("password")
		dir, err := acl.NewDirectory([]acl.AccountSpec{
			{Address: "bob@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
			{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
		}, []acl.Plan{{Name: "pro", Share: true}}, []string{"staff"},
			[]acl.Share{{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte", Send: mode}})
		if err != nil {
			t.Fatal(err)
		}
		env.dir.Store(dir)
		env.st.EnsureAccount(context.Background(), "info@example.test", true)
		c := dial(t, env.sub)
		if err := c.Auth(sasl.NewPlainClient("", "bob@example.test", "password")); err != nil {
			t.Fatal(err)
		}
		msg := "From: Info <info@example.test>\r\nTo: customer@remote.test\r\nSubject: Re: x\r\n\r\nok\r\n"
		if err := testutil.SendMail(c, "info@example.test", []string{"customer@remote.test"}, msg); err != nil {
			t.Fatal(err)
		}
		env.queue.mu.Lock()
		out := string(env.queue.msgs[0].msg)
		env.queue.mu.Unlock()
		if named := strings.Contains(out, "Sender: <bob@example.test>\r\n"); named != (mode == "on-behalf") {
			t.Errorf("send = %q: outgoing %q", mode, out)
		}
	}
}

// TestMessageQuotaAtRcpt: an account at its plan's message limit is
// refused at RCPT with 452 4.2.2 (the sender retries).
func TestMessageQuotaAtRcpt(t *testing.T) {
	env := newEnv(t, 1<<20)
	dir, err := acl.NewDirectory([]acl.AccountSpec{{Address: "alice@example.test", Plan: "one"}},
		[]acl.Plan{{Name: "one", MaxMessages: 1}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	env.dir.Store(dir)
	msg := "From: x@remote.test\r\nSubject: q\r\n\r\nx\r\n"
	if err := testutil.SendMail(dial(t, env.mx), "x@remote.test", []string{"alice@example.test"}, msg); err != nil {
		t.Fatal(err)
	}
	err = testutil.SendMail(dial(t, env.mx), "x@remote.test", []string{"alice@example.test"}, msg)
	if code(err) != "452 4.2.2" {
		t.Errorf("over the message quota: %v", err)
	}
}
