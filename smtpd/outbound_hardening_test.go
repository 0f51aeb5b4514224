package smtpd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
	"mailroom/store"
)

// TestOutboundBounceUnstorableNoResend: the remote MX takes one recipient
// and refuses another for good, and the bounce for the refused one cannot
// be stored (the disk is below its reserve). The accepted recipient gets
// the message exactly once however often the queue runs; the bounce is
// stored once space is back.
func TestOutboundBounceUnstorableNoResend(t *testing.T) {
	t.Parallel()
	mx := startFakeMX(t, false)
	mx.rcpt = func(to string) error {
		if strings.HasPrefix(to, "nobody@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	dns := &fakeDNS{mx: map[string][]*net.MX{"remote.test": {{Host: "mx.remote.test", Pref: 10}}}}
	env := newOutEnv(t, dns, map[string]string{"mx.remote.test": mx.addr}, nil)
	if err := env.out.Enqueue(context.Background(), "bob@example.test", []string{"friend@remote.test", "nobody@remote.test"}, nil, []byte(outMsg)); err != nil {
		t.Fatal(err)
	}
	env.st.SetMinFreeBytes(1 << 62) // no disk is this large: the store is "full"
	for range 5 {
		env.out.RunOnce(context.Background()) // the failed bounce is an error, logged
		env.clock.add(6 * time.Minute)
	}
	if got := mx.messages(); len(got) != 1 {
		t.Fatalf("the remote MX got the message %d times, want once: %+v", len(got), got)
	}
	q := env.queue(t)
	if len(q) != 1 || q[0].Rcpts[0].State != store.RcptDelivered || q[0].Rcpts[1].State != store.RcptBounceDue {
		t.Fatalf("queue while the bounce cannot be stored: %+v", q)
	}
	if n := len(inboxContents(t, env.st, "bob@example.test")); n != 0 {
		t.Fatalf("bob has %d messages while the disk is full", n)
	}

	env.st.SetMinFreeBytes(0) // space is back
	env.clock.add(6 * time.Minute)
	env.runOnce(t)
	if got := mx.messages(); len(got) != 1 {
		t.Fatalf("the remote MX got the message %d times after space came back", len(got))
	}
	if q := env.queue(t); len(q) != 0 {
		t.Fatalf("queue after the bounce: %+v", q)
	}
	dsn := inboxContents(t, env.st, "bob@example.test")
	if len(dsn) != 1 || !strings.Contains(dsn[0], "Final-Recipient: rfc822; nobody@remote.test") || strings.Contains(dsn[0], "friend@remote.test\r\nAction") {
		t.Fatalf("bounce: %q", dsn)
	}
	if st, _ := env.st.Stats(context.Background()); st.Bodies != 1 { // the bounce's own
		t.Fatalf("queue body not released: %+v", st)
	}
}

// stallingMX accepts connections, greets, and then never answers. It
// reports each connection on conns.
func stallingMX(t *testing.T) (addr string, conns <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("220 slow.test ESMTP\r\n"))
				ch <- struct{}{}
				buf := make([]byte, 512)
				for { // read and never answer, until the client gives up
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), ch
}

// TestOutboundNoHeadOfLineBlocking: while a remote MX stalls after its
// greeting, mail queued later for another, fast MX is delivered, even when
// more messages for the stalled one are queued before it than there are
// workers (two here).
func TestOutboundNoHeadOfLineBlocking(t *testing.T) {
	t.Parallel()
	slowAddr, slowConns := stallingMX(t)
	fast := startFakeMX(t, false)
	arrived := make(chan struct{}, 4)
	fast.onData = func() { arrived <- struct{}{} }
	dns := &fakeDNS{mx: map[string][]*net.MX{"slow.test": {{Host: "mx.slow.test", Pref: 10}}, "fast.test": {{Host: "mx.fast.test", Pref: 10}}}}
	env := newOutEnv(t, dns, map[string]string{"mx.slow.test": slowAddr, "mx.fast.test": fast.addr}, func(o *OutboundOptions) {
		o.Timeout = 10 * time.Minute // the stall outlasts the test
		o.Logger = slog.New(slog.DiscardHandler)
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { env.out.Run(ctx); close(stopped) }()
	t.Cleanup(func() {
		cancel()
		select { // Run closes the stalled connection and returns
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})

	if err := env.out.Enqueue(ctx, "alice@example.test", []string{"someone@slow.test"}, nil, []byte(outMsg)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-slowConns:
	case <-time.After(30 * time.Second):
		t.Fatal("the queue never connected to the slow MX")
	}
	if err := env.out.Enqueue(ctx, "alice@example.test", []string{"other@slow.test"}, nil, []byte(outMsg)); err != nil {
		t.Fatal(err)
	}
	if err := env.out.Enqueue(ctx, "alice@example.test", []string{"friend@fast.test"}, nil, []byte(outMsg)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("mail for the fast MX waited behind the stalled one")
	}
	if got := fast.messages(); len(got) != 1 || got[0].rcpts[0] != "friend@fast.test" {
		t.Fatalf("fast MX got %+v", got)
	}
}

// testPKI is a private CA and a certificate it signed for the given names.
type testPKI struct {
	pool   *x509.CertPool
	server *tls.Config
}

func newTestPKI(t *testing.T, names ...string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: names, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{pool: pool, server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key}}}}
}

// startFakeRelay is a smarthost on loopback that wants relayuser's
// password; tlsConfig nil offers no STARTTLS, implicit serves TLS from the
// first byte.
func startFakeRelay(t *testing.T, tlsConfig *tls.Config, implicit bool) *fakeMX {
	t.Helper()
	m := &fakeMX{auth: "relayuser:relaypass"}
	srv := smtp.NewServer(m)
	srv.Domain = "smarthost.isp.test"
	srv.AllowInsecureAuth = true // the relay would take a password in plaintext
	srv.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	srv.TLSConfig = tlsConfig
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	if implicit {
		ln = tls.NewListener(ln, tlsConfig)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

// TestOutboundSmarthostTLS: credentials go to the smarthost only over TLS
// with a verified certificate (STARTTLS or implicit); without that the
// entry waits, with the reason as its last error, and nothing is sent.
func TestOutboundSmarthostTLS(t *testing.T) {
	t.Parallel()
	good := newTestPKI(t, "smarthost.isp.test")
	other := newTestPKI(t, "smarthost.isp.test") // a CA the server does not trust
	cases := []struct {
		name      string
		server    *tls.Config
		implicit  bool
		mode      string
		delivered bool
		reason    string
	}{
		{name: "starttls verified", server: good.server, mode: "", delivered: true},
		{name: "implicit verified", server: good.server, implicit: true, mode: RelayTLSImplicit, delivered: true},
		{name: "no starttls offered", server: nil, mode: RelayTLSStartTLS, reason: "STARTTLS"},
		{name: "untrusted certificate", server: other.server, mode: RelayTLSStartTLS, reason: "certificate"},
		{name: "self-signed certificate", server: testutil.TLSConfig(t), mode: RelayTLSStartTLS, reason: "certificate"},
		{name: "untrusted certificate implicit", server: other.server, implicit: true, mode: RelayTLSImplicit, reason: "certificate"},
		{name: "none with credentials", server: good.server, mode: RelayTLSNone, reason: "credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			relay := startFakeRelay(t, tc.server, tc.implicit)
			env := newOutEnv(t, &fakeDNS{}, map[string]string{"smarthost.isp.test": relay.addr}, func(o *OutboundOptions) {
				o.Relay, o.RelayUsername, o.RelayPassword = "smarthost.isp.test:587", "relayuser", "relaypass"
				o.RelayTLS, o.RelayRootCAs = tc.mode, good.pool
			})
			env.out.Enqueue(context.Background(), "alice@example.test", []string{"a@one.test", "b@two.test"}, nil, []byte(outMsg))
			env.runOnce(t)
			got := relay.messages()
			relay.mu.Lock()
			tries := relay.authTries
			relay.mu.Unlock()
			if tc.delivered {
				if len(got) != 1 || len(got[0].rcpts) != 2 || got[0].user != "relayuser" || !got[0].tls {
					t.Fatalf("relay got %+v", got)
				}
				if q := env.queue(t); len(q) != 0 {
					t.Fatalf("queue not empty: %+v", q)
				}
				return
			}
			if len(got) != 0 || tries != 0 {
				t.Fatalf("relay got %d messages and %d AUTH attempts without verified TLS", len(got), tries)
			}
			q := env.queue(t)
			if len(q) != 1 {
				t.Fatalf("queue: %+v", q)
			}
			for _, r := range q[0].Rcpts {
				if r.State != store.RcptPending || !strings.Contains(r.LastError, "TLS") || !strings.Contains(r.LastError, tc.reason) {
					t.Errorf("recipient %s: state %v, last error %q (want the reason, %q)", r.Addr, r.State, r.LastError, tc.reason)
				}
			}
		})
	}
}
