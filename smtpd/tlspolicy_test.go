package smtpd

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"mailroom/dane"
	"mailroom/inbound"
	"mailroom/internal/testutil"
	"mailroom/mtasts"
)

// TestOutboundMTASTS: a recipient domain with an MTA-STS policy in
// enforce mode (its TXT record in the fake DNS, the policy served over
// HTTPS on loopback with a certificate from a test CA) gets mail only over
// verified TLS to an MX host the policy names; otherwise the entry waits
// with the reason, and nothing is sent.
func TestOutboundMTASTS(t *testing.T) {
	pki := newTestPKI(t, "mta-sts.dest.test", "mx.dest.test", "mx.other.test")
	var fetches atomic.Int32
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if r.Host != "mta-sts.dest.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "version: STSv1\r\nmode: enforce\r\nmx: mx.dest.test\r\nmx: *.backup.test\r\nmax_age: 86400\r\n")
	}))
	web.TLS = pki.server
	web.StartTLS()
	defer web.Close()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pki.pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, web.Listener.Addr().String())
		},
	}}
	d := testutil.NewDNS(t)
	d.TXT("_mta-sts.dest.test", "v=STSv1; id=1")

	good := startFakeMXTLS(t, pki.server)
	selfSigned := startFakeMX(t, true) // a certificate nobody vouches for
	plain := startFakeMX(t, false)
	for _, tc := range []struct {
		name, mx string
		route    *fakeMX
		ok       bool
		reason   string
	}{
		{"verified TLS to a listed MX", "mx.dest.test", good, true, ""},
		{"certificate not valid", "mx.dest.test", selfSigned, false, "MTA-STS"},
		{"no STARTTLS", "mx.dest.test", plain, false, "MTA-STS"},
		{"MX not in the policy", "mx.other.test", good, false, "names none of its MX hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.route.messages())
			dns := &fakeDNS{mx: map[string][]*net.MX{"dest.test": {{Host: tc.mx + ".", Pref: 10}}}}
			env := newOutEnv(t, dns, map[string]string{tc.mx: tc.route.addr}, func(o *OutboundOptions) {
				o.MTASTS = &mtasts.Fetcher{Resolver: inbound.NewResolver(d.Addr), Client: client}
				o.MXRootCAs = pki.pool
			})
			if err := env.out.Enqueue(context.Background(), "alice@example.test", []string{"friend@dest.test"}, nil, []byte(outMsg)); err != nil {
				t.Fatal(err)
			}
			env.runOnce(t)
			got := len(tc.route.messages()) - before
			q := env.queue(t)
			if tc.ok {
				if got != 1 || len(q) != 0 {
					t.Fatalf("delivered %d, queue %+v", got, q)
				}
				return
			}
			if got != 0 || len(q) != 1 {
				t.Fatalf("delivered %d, queue %+v", got, q)
			}
			if r := q[0].Rcpts[0]; !strings.Contains(r.LastError, tc.reason) || r.Status != "4.7.10" {
				t.Fatalf("waiting with %s %q, want 4.7.10 and %q", r.Status, r.LastError, tc.reason)
			}
		})
	}
	if fetches.Load() == 0 {
		t.Fatal("the policy was never fetched")
	}
}

// startFakeMXTLS is startFakeMX offering STARTTLS with the given
// certificate.
func startFakeMXTLS(t *testing.T, cfg *tls.Config) *fakeMX {
	t.Helper()
	m := &fakeMX{}
	srv := smtp.NewServer(m)
	srv.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	srv.Domain = "mx.dest.test"
	srv.TLSConfig = cfg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

// TestOutboundDANE: with DNSSEC-validated MX and TLSA records (the fake
// DNS sets the AD bit as a validating resolver would), mail goes only to
// an MX host whose certificate matches its TLSA record; without
// validation, STARTTLS stays opportunistic; a failed TLSA lookup waits.
func TestOutboundDANE(t *testing.T) {
	pki := newTestPKI(t, "mx.dest.test")
	leaf, err := x509.ParseCertificate(pki.server.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	d := testutil.NewDNS(t)
	for _, dom := range []string{"dest.test", "insecure.test", "broken.test"} {
		d.MX(dom, 10, "mx."+dom)
		d.TLSA("_25._tcp.mx."+dom, 3, 1, 1, hex.EncodeToString(spki[:]))
		if dom != "insecure.test" {
			d.Secure(dom)
			d.Secure("_25._tcp.mx." + dom)
		}
	}
	d.ServFail("_25._tcp.mx.broken.test")

	good := startFakeMXTLS(t, pki.server)
	selfSigned := startFakeMX(t, true)
	for _, tc := range []struct {
		name, domain string
		route        *fakeMX
		ok           bool
		status       string
	}{
		{"certificate matches TLSA", "dest.test", good, true, ""},
		{"certificate does not match", "dest.test", selfSigned, false, "4.7.10"},
		{"not validated: opportunistic", "insecure.test", selfSigned, true, ""},
		{"TLSA lookup fails", "broken.test", good, false, "4.4.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.route.messages())
			mx := "mx." + tc.domain
			dns := &fakeDNS{mx: map[string][]*net.MX{tc.domain: {{Host: mx + ".", Pref: 10}}}}
			env := newOutEnv(t, dns, map[string]string{mx: tc.route.addr}, func(o *OutboundOptions) {
				o.DANE = &dane.Resolver{Addr: d.Addr}
			})
			if err := env.out.Enqueue(context.Background(), "alice@example.test", []string{"friend@" + tc.domain}, nil, []byte(outMsg)); err != nil {
				t.Fatal(err)
			}
			env.runOnce(t)
			got := len(tc.route.messages()) - before
			q := env.queue(t)
			if tc.ok {
				if got != 1 || len(q) != 0 {
					t.Fatalf("delivered %d, queue %+v", got, q)
				}
				return
			}
			if got != 0 || len(q) != 1 {
				t.Fatalf("delivered %d, queue %+v", got, q)
			}
			if r := q[0].Rcpts[0]; r.Status != tc.status || !strings.Contains(r.LastError, "DANE") {
				t.Fatalf("waiting with %s %q, want %s about DANE", r.Status, r.LastError, tc.status)
			}
		})
	}
}
