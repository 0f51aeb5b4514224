package smtpd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/inbound"
	"mailroom/internal/testutil"
	"mailroom/store"
)

// trustEnv is a server with the inbound checks on, asking a fake DNS.
type trustEnv struct {
	*testEnv
	dns     *testutil.DNS
	logs    *testutil.LogBuffer
	checker *inbound.Checker
}

func newTrustEnv(t testing.TB, tweak func(*inbound.Options)) *trustEnv {
	t.Helper()
	d := testutil.NewDNS(t)
	logs := &testutil.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	opts := inbound.Options{Resolver: inbound.NewResolver(d.Addr), AuthservID: "mx.example.test", Logger: log}
	if tweak != nil {
		tweak(&opts)
	}
	c := inbound.New(opts)
	c.SetLocalDomains(map[string]inbound.FromPolicy{"example.test": inbound.FromReject, "other.test": inbound.FromReject})
	env := newEnv(t, 0, func(o *Options) { o.Inbound = c; o.Logger = log })
	return &trustEnv{testEnv: env, dns: d, logs: logs, checker: c}
}

// signWith publishes an Ed25519 key for domain (selector "sel") and
// returns a signer for it.
func (e *trustEnv) signWith(t testing.TB, domain string) *DKIMKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &DKIMKey{Domain: domain, Selector: "sel", Signer: priv}
	rec, err := DKIMRecord(priv)
	if err != nil {
		t.Fatal(err)
	}
	e.dns.TXT("sel._domainkey."+domain, rec)
	return k
}

// mailboxContents is every message of an account's mailbox ("" when it
// does not exist).
func mailboxContents(t testing.TB, st *store.Store, account, name string) []string {
	t.Helper()
	ctx := context.Background()
	mb, err := st.MailboxByName(ctx, account, name)
	if errors.Is(err, store.ErrNoMailbox) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	st.Messages(ctx, mb.ID, 1, 0, func(m *store.Message) error {
		c, err := st.Content(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(c))
		return nil
	})
	return out
}

// ourAuthResults parses the Authentication-Results fields of msg with
// go-msgauth's authres and returns the results of the one by
// mx.example.test; it fails unless there is exactly one.
func ourAuthResults(t testing.TB, msg string) map[string]authres.ResultValue {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]authres.ResultValue
	for _, v := range m.Header["Authentication-Results"] {
		id, results, err := authres.Parse(v)
		if err != nil {
			t.Fatalf("authres.Parse(%q): %v", v, err)
		}
		if id != "mx.example.test" {
			continue
		}
		if got != nil {
			t.Fatalf("two Authentication-Results fields of mx.example.test in\n%s", msg)
		}
		got = map[string]authres.ResultValue{}
		for _, r := range results {
			switch r := r.(type) {
			case *authres.SPFResult:
				got["spf"] = r.Value
			case *authres.DKIMResult:
				if got["dkim"] != authres.ResultPass { // any pass counts
					got["dkim"] = r.Value
				}
			case *authres.DMARCResult:
				got["dmarc"] = r.Value
			}
		}
	}
	if got == nil {
		t.Fatalf("no Authentication-Results of mx.example.test in\n%s", msg)
	}
	return got
}

// TestInboundTrust sends one message per case over a real SMTP session to
// the MX, with SPF, DKIM and DMARC records in the fake DNS, and checks the
// reply, where the message lands and the Authentication-Results field.
func TestInboundTrust(t *testing.T) {
	e := newTrustEnv(t, nil)
	d := e.dns
	const us = "ip4:127.0.0.1"
	signed := e.signWith(t, "signed.test")
	d.TXT("_dmarc.signed.test", "v=DMARC1; p=reject")
	d.TXT("spf.test", "v=spf1 "+us+" -all")
	d.TXT("_dmarc.spf.test", "v=DMARC1; p=reject; aspf=s")
	spfFail := e.signWith(t, "spffail.test")
	d.TXT("spffail.test", "v=spf1 ip4:192.0.2.1 -all")
	d.TXT("_dmarc.spffail.test", "v=DMARC1; p=reject")
	d.TXT("outside.test", "v=spf1 "+us+" -all")
	d.TXT("_dmarc.paypal.test", "v=DMARC1; p=reject")
	d.TXT("_dmarc.quar.test", "v=DMARC1; p=quarantine")
	d.ServFail("_dmarc.tempfail.test")
	subSigned := e.signWith(t, "news.signed.test") // relaxed alignment with signed.test

	msg := func(from, extra string) string {
		return "From: " + from + "\r\nTo: bob@example.test\r\nSubject: trust\r\nMessage-ID: <1@x>\r\n" + extra + "\r\nHello.\r\n"
	}
	sign := func(k *DKIMKey, m string) string {
		out, err := k.Sign([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	const forged = "Authentication-Results: mx.example.test; dkim=pass header.d=paypal.test\r\nAuthentication-Results: other.test; spf=pass\r\n"
	for _, tc := range []struct {
		name, mailFrom, data string
		code                 int // 250, or the refusal
		box                  string
		spf, dkim, dmarc     authres.ResultValue
	}{
		{"aligned DKIM pass", "bounce@elsewhere.test", sign(signed, msg("a@signed.test", forged)), 250, "INBOX", "none", "pass", "pass"},
		{"relaxed DKIM alignment", "bounce@elsewhere.test", sign(subSigned, msg("a@signed.test", "")), 250, "INBOX", "none", "pass", "pass"},
		{"SPF pass", "a@spf.test", msg("a@spf.test", ""), 250, "INBOX", "pass", "none", "pass"},
		{"SPF fail with DKIM pass", "a@spffail.test", sign(spfFail, msg("a@spffail.test", "")), 250, "INBOX", "fail", "pass", "pass"},
		{"forged local From", "x@outside.test", msg("CEO <ceo@example.test>", ""), 550, "", "", "", ""},
		{"DMARC reject", "x@outside.test", msg("PayPal <service@paypal.test>", ""), 550, "", "", "", ""},
		{"DMARC reject, broken signature", "x@outside.test", strings.Replace(sign(signed, msg("a@signed.test", "")), "Hello.", "Hallo.", 1), 550, "", "", "", ""},
		{"DMARC quarantine", "x@outside.test", msg("a@quar.test", ""), 250, "Junk", "pass", "none", "fail"},
		{"no DMARC record", "x@outside.test", msg("a@nodmarc.test", ""), 250, "INBOX", "pass", "none", "none"},
		{"temporary DNS failure", "x@outside.test", msg("a@tempfail.test", ""), 451, "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acct := "bob@example.test"
			before := map[string]int{"INBOX": len(mailboxContents(t, e.st, acct, "INBOX")), "Junk": len(mailboxContents(t, e.st, acct, "Junk"))}
			c := dial(t, e.mx)
			err := testutil.SendMail(c, tc.mailFrom, []string{acct}, tc.data)
			if tc.code != 250 {
				var se *smtp.SMTPError
				if !errors.As(err, &se) || se.Code != tc.code {
					t.Fatalf("reply %v, want %d", err, tc.code)
				}
				wantEnh := map[int]smtp.EnhancedCode{550: {5, 7, 1}, 451: {4, 4, 3}}[tc.code]
				if se.EnhancedCode != wantEnh {
					t.Errorf("enhanced code %v, want %v", se.EnhancedCode, wantEnh)
				}
				for box, n := range before {
					if got := len(mailboxContents(t, e.st, acct, box)); got != n {
						t.Errorf("%s has %d messages, had %d: a refused message was stored", box, got, n)
					}
				}
				e.logs.WaitLine(t, 5*time.Second, "refused", "from="+tc.mailFrom, "code="+string(rune('0'+tc.code/100)))
				return
			}
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			got := mailboxContents(t, e.st, acct, tc.box)
			if len(got) != before[tc.box]+1 {
				t.Fatalf("%s has %d messages, want %d", tc.box, len(got), before[tc.box]+1)
			}
			last := got[len(got)-1]
			res := ourAuthResults(t, last)
			want := map[string]authres.ResultValue{"spf": tc.spf, "dkim": tc.dkim, "dmarc": tc.dmarc}
			for k, v := range want {
				if res[k] != v {
					t.Errorf("%s=%s, want %s\n%s", k, res[k], v, last)
				}
			}
			if tc.name == "aligned DKIM pass" && !strings.Contains(last, "Authentication-Results: other.test; spf=pass") {
				t.Errorf("another host's Authentication-Results was removed:\n%s", last)
			}
			e.logs.WaitLine(t, 5*time.Second, "delivered", "from="+tc.mailFrom, "dmarc="+string(tc.dmarc))
		})
	}
	// A message from outside whose From is local passes when it comes
	// from the domain's own servers (SPF) or is signed by it.
	d.TXT("other.test", "v=spf1 "+us+" -all")
	c := dial(t, e.mx)
	if err := testutil.SendMail(c, "carol@other.test", []string{"bob@example.test"}, msg("carol@other.test", "")); err != nil {
		t.Fatalf("local From passing SPF: %v", err)
	}
}

// TestInboundTrustLMTP: LMTP gets the checks too, and a refusal is each
// recipient's reply.
func TestInboundTrustLMTP(t *testing.T) {
	e := newTrustEnv(t, nil)
	e.dns.TXT("_dmarc.paypal.test", "v=DMARC1; p=reject")
	conn, err := net.Dial("tcp", e.lmtp)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("front.test"); err != nil {
		t.Fatal(err)
	}
	err = testutil.SendMail(c, "x@outside.test", []string{"bob@example.test"}, "From: service@paypal.test\r\nSubject: x\r\n\r\nx\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("LMTP reply %v, want 550", err)
	}
}

// TestInboundNoChecksOnSubmission: an authenticated user's mail is not
// checked, and has no Authentication-Results added.
func TestInboundNoChecksOnSubmission(t *testing.T) {
	e := newTrustEnv(t, nil)
	e.dns.TXT("_dmarc.example.test", "v=DMARC1; p=reject")
	c := dial(t, e.sub)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	if err := testutil.SendMail(c, "alice@example.test", []string{"bob@example.test"}, "From: alice@example.test\r\nSubject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatalf("submission: %v", err)
	}
	got := mailboxContents(t, e.st, "bob@example.test", "INBOX")
	if len(got) != 1 || strings.Contains(got[0], "Authentication-Results") {
		t.Fatalf("INBOX: %q", got)
	}
}

// TestDKIMPySignatureVerifies: a message signed by Debian's dkimpy, with
// an RSA key, verifies as pass.
func TestDKIMPySignatureVerifies(t *testing.T) {
	python := testutil.NeedPython(t, "dkim")
	e := newTrustEnv(t, nil)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := DKIMRecord(key)
	if err != nil {
		t.Fatal(err)
	}
	e.dns.TXT("py._domainkey.dkimpy.test", rec)
	e.dns.TXT("_dmarc.dkimpy.test", "v=DMARC1; p=reject")
	msg := "From: Someone <someone@dkimpy.test>\r\nTo: bob@example.test\r\nSubject: signed by dkimpy\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <py@dkimpy.test>\r\n\r\nSigned elsewhere.\r\n"
	script := `import sys, dkim
msg = sys.stdin.buffer.read()
key = open(sys.argv[1], 'rb').read()
sig = dkim.sign(msg, b'py', b'dkimpy.test', key, canonicalize=(b'relaxed', b'relaxed'), include_headers=[b'from', b'to', b'subject', b'date', b'message-id'])
sys.stdout.buffer.write(sig + msg)
`
	cmd := exec.Command(python, "-c", script, keyPath)
	cmd.Stdin = strings.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy: %v: %s", err, stderr.String())
	}
	c := dial(t, e.mx)
	if err := testutil.SendMail(c, "bounce@elsewhere.test", []string{"bob@example.test"}, string(out)); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := mailboxContents(t, e.st, "bob@example.test", "INBOX")
	if len(got) != 1 {
		t.Fatalf("INBOX has %d messages", len(got))
	}
	res := ourAuthResults(t, got[0])
	if res["dkim"] != authres.ResultPass || res["dmarc"] != authres.ResultPass {
		t.Fatalf("dkim=%s dmarc=%s, want pass\n%s", res["dkim"], res["dmarc"], got[0])
	}
}

// TestUnauthenticatedFromPolicy: [[domains]] unauthenticated_from junk
// and accept instead of the default reject.
func TestUnauthenticatedFromPolicy(t *testing.T) {
	e := newTrustEnv(t, nil)
	send := func() error {
		return testutil.SendMail(dial(t, e.mx), "x@outside.test", []string{"bob@example.test"}, "From: ceo@example.test\r\nSubject: x\r\n\r\nx\r\n")
	}
	e.checker.SetLocalDomains(map[string]inbound.FromPolicy{"example.test": inbound.FromJunk})
	if err := send(); err != nil {
		t.Fatalf("junk: %v", err)
	}
	if got := mailboxContents(t, e.st, "bob@example.test", "Junk"); len(got) != 1 {
		t.Fatalf("Junk has %d messages", len(got))
	}
	e.checker.SetLocalDomains(map[string]inbound.FromPolicy{"example.test": inbound.FromAccept})
	if err := send(); err != nil {
		t.Fatalf("accept: %v", err)
	}
	if got := mailboxContents(t, e.st, "bob@example.test", "INBOX"); len(got) != 1 {
		t.Fatalf("INBOX has %d messages", len(got))
	}
}

// TestInboundEnvelopeChecksPerTransaction: SPF and DNSBL start at the
// first recipient; a later transaction on the same connection, after
// RSET or a delivered message, is judged by its own envelope.
func TestInboundEnvelopeChecksPerTransaction(t *testing.T) {
	e := newTrustEnv(t, nil)
	d := e.dns
	d.TXT("spf.test", "v=spf1 ip4:127.0.0.1 -all")
	d.TXT("_dmarc.spf.test", "v=DMARC1; p=reject")
	d.TXT("bad.test", "v=spf1 ip4:192.0.2.1 -all")
	d.TXT("_dmarc.bad.test", "v=DMARC1; p=reject")
	msg := func(from string) string {
		return "From: " + from + "\r\nTo: bob@example.test\r\nSubject: tx\r\n\r\nHello.\r\n"
	}
	c := dial(t, e.mx)
	// A transaction from bad.test reaches RCPT, then is abandoned.
	if err := c.Mail("a@bad.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := testutil.SendMail(c, "a@spf.test", []string{"bob@example.test"}, msg("a@spf.test")); err != nil {
		t.Fatalf("after RSET, a passing sender: %v", err)
	}
	got := mailboxContents(t, e.st, "bob@example.test", "INBOX")
	if res := ourAuthResults(t, got[len(got)-1]); res["spf"] != authres.ResultPass {
		t.Errorf("spf=%s, want pass (the abandoned transaction's result was used)", res["spf"])
	}
	// And the other way round, right after a delivered message.
	err := testutil.SendMail(c, "a@bad.test", []string{"bob@example.test"}, msg("a@bad.test"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("a failing sender after a passing one: %v, want 550", err)
	}
	// A message with no local recipient accepted runs no check at all.
	if err := c.Mail("a@spf.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@example.test", nil); err == nil {
		t.Fatal("unknown recipient accepted")
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
}
