package smtpd

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/internal/testutil"
	"mailroom/store"
)

// fakeMX is a remote SMTP server on loopback that records what it gets.
type fakeMX struct {
	addr string
	mu   sync.Mutex
	got  []fakeMsg
	// rcpt decides each RCPT TO; nil accepts.
	rcpt func(to string) error
	// auth, if set, is the only user:password accepted (a smarthost).
	auth string
	// authTries counts AUTH commands, accepted or not.
	authTries int
	// onData, if set, is called after each message is recorded.
	onData func()
}

type fakeMsg struct {
	from     string
	rcpts    []string
	data     string
	tls      bool
	user     string
	mailOpts smtp.MailOptions   // as received (DSN, REQUIRETLS)
	rcptOpts []smtp.RcptOptions // parallel to rcpts
}

type fakeSession struct {
	mx   *fakeMX
	conn *smtp.Conn
	msg  fakeMsg
}

func (m *fakeMX) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &fakeSession{mx: m, conn: c}, nil
}

func (s *fakeSession) AuthMechanisms() []string {
	if s.mx.auth == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *fakeSession) Auth(string) (sasl.Server, error) {
	s.mx.mu.Lock()
	s.mx.authTries++
	s.mx.mu.Unlock()
	return sasl.NewPlainServer(func(_, u, p string) error {
		if u+":"+p != s.mx.auth {
			return errors.New("bad credentials")
		}
		s.msg.user = u
		return nil
	}), nil
}

func (s *fakeSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.mx.auth != "" && s.msg.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "auth first"}
	}
	s.msg.from = from
	if opts != nil {
		s.msg.mailOpts = *opts
	}
	return nil
}

func (s *fakeSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.mx.rcpt != nil {
		if err := s.mx.rcpt(to); err != nil {
			return err
		}
	}
	s.msg.rcpts = append(s.msg.rcpts, to)
	if opts == nil {
		opts = &smtp.RcptOptions{}
	}
	s.msg.rcptOpts = append(s.msg.rcptOpts, *opts)
	return nil
}

func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = string(b)
	_, s.msg.tls = s.conn.TLSConnectionState()
	s.mx.mu.Lock()
	s.mx.got = append(s.mx.got, s.msg)
	s.mx.mu.Unlock()
	if s.mx.onData != nil {
		s.mx.onData()
	}
	return nil
}

func (s *fakeSession) Reset()        { s.msg = fakeMsg{user: s.msg.user} }
func (s *fakeSession) Logout() error { return nil }

func (m *fakeMX) messages() []fakeMsg {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]fakeMsg(nil), m.got...)
}

func startFakeMX(t *testing.T, withTLS bool) *fakeMX {
	t.Helper()
	m := &fakeMX{}
	srv := smtp.NewServer(m)
	srv.Domain = "mx.remote.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	if withTLS {
		srv.TLSConfig = testutil.TLSConfig(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

// fakeDNS answers MX and host queries from tables; unknown names do not
// exist.
type fakeDNS struct {
	mx    map[string][]*net.MX
	hosts map[string][]string
	fail  map[string]bool // temporary failures
}

func (d *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if d.fail[name] {
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	if mx, ok := d.mx[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (d *fakeDNS) LookupHost(_ context.Context, name string) ([]string, error) {
	if h, ok := d.hosts[name]; ok {
		return h, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// routeDialer sends host:25 to the fake listening for that host.
func routeDialer(routes map[string]string) Dialer {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		target, ok := routes[host]
		if !ok {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type outEnv struct {
	st    *store.Store
	dir   *acl.Live
	clock *clock
	out   *Outbound
	key   *DKIMKey
}

func newOutEnv(t *testing.T, dns *fakeDNS, routes map[string]string, tweak func(*OutboundOptions)) *outEnv {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Options{Dir: dir, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	signer, err := GenerateDKIMKey(filepath.Join(dir, "dkim.pem"), "rsa")
	if err != nil {
		t.Fatal(err)
	}
	key := &DKIMKey{Domain: "example.test", Selector: "s1", Signer: signer}
	env := &outEnv{st: st, dir: acl.NewLive(testDirectory(t)), clock: clk, key: key}
	opts := OutboundOptions{
		Store: st, Directory: env.dir, Logger: slog.New(slog.DiscardHandler), Hostname: "mx.example.test",
		Domains: []string{"example.test", "other.test"}, Resolver: dns, Dial: routeDialer(routes),
		MaxAge: 24 * time.Hour, RetryInitial: 5 * time.Minute, RetryMax: time.Hour, Workers: 2,
		DKIM: map[string]*DKIMKey{"example.test": key}, Now: clk.now, Timeout: 10 * time.Second,
	}
	if tweak != nil {
		tweak(&opts)
	}
	env.out = NewOutbound(opts)
	return env
}

func testDirectory(t testing.TB) *acl.Directory {
	t.Helper()
	h, _ := acl.HashPassword("password")
	d, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro"},
		{Address: "bob@example.test", PasswordHash: h, Plan: "pro"},
	}, []acl.Plan{{Name: "pro", Share: true}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *outEnv) runOnce(t *testing.T) {
	t.Helper()
	if _, err := e.out.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *outEnv) queue(t *testing.T) []*store.QueueEntry {
	t.Helper()
	q, err := e.st.QueueEntries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

const outMsg = "From: Alice <alice@example.test>\r\nTo: friend@remote.test\r\nSubject: Hello there\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <out1@example.test>\r\n\r\nHi friend,\r\nsee you soon.\r\n"

func TestOutboundDeliversSignedWithSTARTTLS(t *testing.T) {
	t.Parallel()
	mx := startFakeMX(t, true)
	dns := &fakeDNS{mx: map[string][]*net.MX{"remote.test": {{Host: "mx2.remote.test.", Pref: 20}, {Host: "mx1.remote.test.", Pref: 10}}}}
	// mx1 is down: delivery falls through to mx2.
	env := newOutEnv(t, dns, map[string]string{"mx2.remote.test": mx.addr}, nil)
	if err := env.out.Enqueue(context.Background(), "alice@example.test", []string{"friend@remote.test", "pal@remote.test"}, nil, []byte(outMsg)); err != nil {
		t.Fatal(err)
	}
	env.runOnce(t)
	got := mx.messages()
	if len(got) != 1 || got[0].from != "alice@example.test" || len(got[0].rcpts) != 2 || !got[0].tls {
		t.Fatalf("remote got %+v", got)
	}
	if !strings.HasPrefix(got[0].data, "DKIM-Signature: ") || !strings.HasSuffix(got[0].data, outMsg) {
		t.Fatalf("message not signed in front of the original bytes:\n%s", got[0].data)
	}
	verifyDKIM(t, got[0].data, env.key)
	if q := env.queue(t); len(q) != 0 {
		t.Fatalf("queue after delivery: %+v", q)
	}
	if st, _ := env.st.Stats(context.Background()); st.Bodies != 0 {
		t.Fatalf("queue body not released: %+v", st)
	}
}

// verifyDKIM checks a signature with go-msgauth's verifier and, when
// Debian's python3-dkim is installed, with dkimpy too.
func verifyDKIM(t *testing.T, msg string, key *DKIMKey) {
	t.Helper()
	record, err := DKIMRecord(key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(domain string) ([]string, error) {
		if domain != key.Selector+"._domainkey."+key.Domain {
			return nil, errors.New("no such record " + domain)
		}
		return []string{record}, nil
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("go-msgauth verify: %v %+v", err, vs)
	}
	sig := strings.Join(strings.Fields(msg[:strings.Index(msg, "\r\nFrom:")]), "")
	h := sig[strings.Index(sig, ";h=")+3:]
	h = h[:strings.IndexByte(h, ';')]
	if strings.Count(h+":", "From:") != strings.Count(msg, "\r\nFrom:")+1 {
		t.Errorf("From is not over-signed: h=%s", h)
	}
	t.Run("dkimpy", func(t *testing.T) {
		python := testutil.NeedPython(t, "dkim")
		script := `import sys, dkim
record = sys.argv[1].encode()
def dnsfunc(name, timeout=5):
    return record if name.decode().rstrip('.') == sys.argv[2] else None
msg = sys.stdin.buffer.read()
print("pass" if dkim.verify(msg, dnsfunc=dnsfunc) else "fail")`
		cmd := exec.Command(python, "-c", script, record, key.Selector+"._domainkey."+key.Domain)
		cmd.Stdin = strings.NewReader(msg)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "pass" {
			t.Fatalf("dkimpy verify: %v: %s", err, out)
		}
	})
}

func TestDKIMEd25519(t *testing.T) {
	t.Parallel()
	signer, err := GenerateDKIMKey(filepath.Join(t.TempDir(), "k.pem"), "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := signer.Public().(ed25519.PublicKey); !ok {
		t.Fatal("not ed25519")
	}
	key := &DKIMKey{Domain: "example.test", Selector: "ed", Signer: signer}
	signed, err := key.Sign([]byte(outMsg))
	if err != nil {
		t.Fatal(err)
	}
	verifyDKIM(t, string(signed), key)
}

func TestDKIMKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "k.pem")
	k, err := GenerateDKIMKey(p, "rsa")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateDKIMKey(p, "rsa"); err == nil {
		t.Fatal("overwrote an existing key")
	}
	loaded, err := LoadDKIMKey(p)
	if err != nil || loaded.(*rsa.PrivateKey).N.Cmp(k.(*rsa.PrivateKey).N) != 0 {
		t.Fatalf("load: %v", err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode())
	}
	rec, _ := DKIMRecord(k)
	if !strings.HasPrefix(rec, "v=DKIM1; k=rsa; p=MII") {
		t.Errorf("record %q", rec)
	}
	if s := TXTStrings(rec); !strings.Contains(s, `" "`) {
		t.Errorf("RSA record not split into 255-byte strings: %s", s)
	}
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("junk"), 0o600)
	if _, err := LoadDKIMKey(filepath.Join(dir, "bad.pem")); err == nil {
		t.Error("loaded junk")
	}
}

func TestOutboundRetryBackoffAndExpiry(t *testing.T) {
	t.Parallel()
	mx := startFakeMX(t, false)
	mx.rcpt = func(string) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try later"}
	}
	dns := &fakeDNS{mx: map[string][]*net.MX{"remote.test": {{Host: "mx.remote.test", Pref: 10}}}}
	env := newOutEnv(t, dns, map[string]string{"mx.remote.test": mx.addr}, nil)
	env.out.Enqueue(context.Background(), "alice@example.test", []string{"friend@remote.test"}, nil, []byte(outMsg))

	// Attempts at 0, +5m, +10m (after 5+5), +20m... doubling up to 1h.
	var delays []time.Duration
	for range 6 {
		env.runOnce(t)
		q := env.queue(t)
		if len(q) != 1 {
			t.Fatalf("queue: %+v", q)
		}
		d := q[0].Next.Sub(env.clock.now())
		delays = append(delays, d)
		// Nothing happens before the entry is due.
		env.clock.add(d - time.Second)
		env.runOnce(t)
		if q2 := env.queue(t); q2[0].Attempts != q[0].Attempts {
			t.Fatal("attempted before it was due")
		}
		env.clock.add(time.Second)
	}
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("retry delays %v, want %v", delays, want)
		}
	}
	if q := env.queue(t); !strings.Contains(q[0].Rcpts[0].LastError, "451 greylisted") {
		t.Errorf("last error %q", q[0].Rcpts[0].LastError)
	}
	// Past max_age the message bounces (the sender is local: INBOX).
	env.clock.add(24 * time.Hour)
	env.runOnce(t)
	if q := env.queue(t); len(q) != 0 {
		t.Fatalf("queue after expiry: %+v", q)
	}
	dsn := inboxContents(t, env.st, "alice@example.test")
	if len(dsn) != 1 {
		t.Fatalf("alice has %d messages", len(dsn))
	}
	for _, want := range []string{"Return-Path: <>", "Content-Type: multipart/report; report-type=delivery-status",
		"Final-Recipient: rfc822; friend@remote.test", "Action: failed", "Status: 4.4.7", "Subject: Hello there", "Reporting-MTA: dns; mx.example.test"} {
		if !strings.Contains(dsn[0], want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn[0])
		}
	}
}

func TestOutboundPermanentFailures(t *testing.T) {
	t.Parallel()
	mx := startFakeMX(t, false)
	mx.rcpt = func(to string) error {
		if strings.HasPrefix(to, "nobody@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	dns := &fakeDNS{
		mx:    map[string][]*net.MX{"remote.test": {{Host: "mx.remote.test", Pref: 10}}, "nullmx.test": {{Host: ".", Pref: 0}}},
		hosts: map[string][]string{"nomx.test": {"192.0.2.1"}},
	}
	env := newOutEnv(t, dns, map[string]string{"mx.remote.test": mx.addr, "192.0.2.1": mx.addr}, nil)
	rcpts := []string{"friend@remote.test", "nobody@remote.test", "x@nullmx.test", "y@nxdomain.test", "z@nomx.test"}
	env.out.Enqueue(context.Background(), "bob@example.test", rcpts, nil, []byte(outMsg))
	env.runOnce(t)
	if q := env.queue(t); len(q) != 0 {
		t.Fatalf("queue: %+v", q)
	}
	// friend@ and z@ (through the A record of a domain without MX) arrived.
	var delivered []string
	for _, m := range mx.messages() {
		delivered = append(delivered, m.rcpts...)
	}
	if strings.Join(delivered, ",") != "friend@remote.test,z@nomx.test" && strings.Join(delivered, ",") != "z@nomx.test,friend@remote.test" {
		t.Fatalf("delivered to %v", delivered)
	}
	dsn := inboxContents(t, env.st, "bob@example.test")
	if len(dsn) != 1 {
		t.Fatalf("bob has %d bounces", len(dsn))
	}
	for _, want := range []string{"Final-Recipient: rfc822; nobody@remote.test", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 no such user",
		"Final-Recipient: rfc822; x@nullmx.test", "Status: 5.1.10", "Final-Recipient: rfc822; y@nxdomain.test", "Status: 5.1.2"} {
		if !strings.Contains(dsn[0], want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn[0])
		}
	}
	if strings.Contains(dsn[0], "friend@remote.test\r\nAction") {
		t.Error("DSN lists a delivered recipient")
	}
}

func TestOutboundBounceToRemoteSenderAndNoDoubleBounce(t *testing.T) {
	t.Parallel()
	mx := startFakeMX(t, false)
	mx.rcpt = func(to string) error {
		if to == "gone@remote.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "gone"}
		}
		return nil
	}
	dns := &fakeDNS{mx: map[string][]*net.MX{"remote.test": {{Host: "mx.remote.test", Pref: 10}}}}
	env := newOutEnv(t, dns, map[string]string{"mx.remote.test": mx.addr}, nil)
	// A forwarded message from a remote sender bounces to that sender,
	// through the queue, from the null sender.
	env.out.Enqueue(context.Background(), "someone@remote.test", []string{"gone@remote.test"}, nil, []byte(outMsg))
	env.runOnce(t)
	env.runOnce(t)
	got := mx.messages()
	if len(got) != 1 || got[0].from != "" || got[0].rcpts[0] != "someone@remote.test" || !strings.Contains(got[0].data, "Status: 5.1.1") {
		t.Fatalf("bounce: %+v", got)
	}
	// A bounce that bounces is dropped, not bounced again.
	env.out.Enqueue(context.Background(), "", []string{"gone@remote.test"}, nil, []byte(outMsg))
	env.runOnce(t)
	env.runOnce(t)
	if n := len(mx.messages()); n != 1 || len(env.queue(t)) != 0 {
		t.Fatalf("double bounce: %d messages, queue %+v", n, env.queue(t))
	}
}

func TestOutboundTemporaryDNSFailureDefers(t *testing.T) {
	t.Parallel()
	env := newOutEnv(t, &fakeDNS{fail: map[string]bool{"remote.test": true}}, nil, nil)
	env.out.Enqueue(context.Background(), "alice@example.test", []string{"friend@remote.test"}, nil, []byte(outMsg))
	env.runOnce(t)
	q := env.queue(t)
	if len(q) != 1 || q[0].Rcpts[0].State != store.RcptPending || q[0].Rcpts[0].Status != "4.4.3" {
		t.Fatalf("queue: %+v", q)
	}
}

func TestQueueSurvivesRestart(t *testing.T) {
	t.Parallel()
	mx := startFakeMX(t, false)
	dir := t.TempDir()
	dns := &fakeDNS{mx: map[string][]*net.MX{"remote.test": {{Host: "mx.remote.test", Pref: 10}}}}
	st, err := store.Open(context.Background(), store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	out := NewOutbound(OutboundOptions{Store: st, Logger: slog.New(slog.DiscardHandler), Hostname: "mx.example.test", Resolver: dns, Dial: routeDialer(map[string]string{"mx.remote.test": mx.addr})})
	if err := out.Enqueue(context.Background(), "alice@example.test", []string{"friend@remote.test"}, nil, []byte(outMsg)); err != nil {
		t.Fatal(err)
	}
	st.Close() // the server stops before delivering

	st, err = store.Open(context.Background(), store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out = NewOutbound(OutboundOptions{Store: st, Logger: slog.New(slog.DiscardHandler), Hostname: "mx.example.test", Resolver: dns, Dial: routeDialer(map[string]string{"mx.remote.test": mx.addr})})
	if _, err := out.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := mx.messages(); len(got) != 1 || got[0].data != outMsg {
		t.Fatalf("after restart the remote got %+v", got)
	}
}
