package inbound

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailroom/internal/testutil"
)

// TestResolverFakeDNS: the resolver built from [dns] resolver asks the
// given server, and tells an absent name, an absent type and a SERVFAIL
// apart the way the checks need.
func TestResolverFakeDNS(t *testing.T) {
	d := testutil.NewDNS(t)
	long := "v=DKIM1; k=rsa; p=" + strings.Repeat("A", 400)
	d.TXT("example.test", "v=spf1 -all")
	d.TXT("sel._domainkey.example.test", long)
	d.MX("example.test", 10, "mx.example.test")
	d.A("mx.example.test", "127.0.0.2")
	d.A("mx.example.test", "::2")
	d.ServFail("broken.test")
	r := NewResolver(d.Addr)
	ctx := context.Background()

	if txt, err := r.LookupTXT(ctx, "example.test."); err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	if txt, err := r.LookupTXT(ctx, "sel._domainkey.example.test."); err != nil || len(txt) != 1 || txt[0] != long {
		t.Fatalf("long TXT = %d records, %v", len(txt), err)
	}
	if mx, err := r.LookupMX(ctx, "example.test."); err != nil || len(mx) != 1 || mx[0].Host != "mx.example.test." {
		t.Fatalf("MX = %v, %v", mx, err)
	}
	if ips, err := r.LookupIP(ctx, "ip", "mx.example.test."); err != nil || len(ips) != 2 {
		t.Fatalf("A/AAAA = %v, %v", ips, err)
	}
	for _, name := range []string{"nowhere.test.", "mx.example.test."} { // NXDOMAIN, NODATA
		_, err := r.LookupTXT(ctx, name)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound || de.Temporary() {
			t.Errorf("TXT %s: %#v, want not found", name, err)
		}
	}
	_, err := r.LookupTXT(ctx, "broken.test.")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.Temporary() || de.IsNotFound {
		t.Errorf("TXT broken.test: %#v, want temporary", err)
	}
}

// TestResolverCache: answers, positive and negative, are kept for their
// TTL (the fake DNS gives 60 s; a negative answer without SOA 5 minutes);
// failures are not kept.
func TestResolverCache(t *testing.T) {
	d := testutil.NewDNS(t)
	d.TXT("example.test", "v=spf1 -all")
	d.ServFail("broken.test")
	r := newCachingResolver(d.Addr)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	ctx := context.Background()
	ask := func(name string) {
		t.Helper()
		r.LookupTXT(ctx, name)
	}
	ask("example.test.")
	ask("nowhere.test.")
	ask("broken.test.")
	n := d.Queries()
	ask("example.test.")
	ask("EXAMPLE.test")
	ask("nowhere.test.")
	if d.Queries() != n {
		t.Fatalf("cached answers asked again: %d queries, want %d", d.Queries(), n)
	}
	ask("broken.test.")
	if d.Queries() != n+1 {
		t.Fatalf("a failure was cached")
	}
	now = now.Add(61 * time.Second)
	ask("example.test.")
	ask("nowhere.test.")
	if d.Queries() != n+2 {
		t.Fatalf("after the TTL: %d queries, want %d", d.Queries(), n+2)
	}
	if _, err := r.LookupTXT(ctx, "nowhere.test."); !isNotFound(err) {
		t.Fatalf("cached NXDOMAIN: %v", err)
	}
}

// TestSystemNameservers: with no [dns] resolver, the server's lookups go
// through the cache to the nameservers of resolv.conf, in order.
func TestSystemNameservers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("# comment\nsearch example.test\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\n"), 0o600)
	if got := systemNameservers(path); !slices.Equal(got, []string{"127.0.0.53:53", "[::1]:53"}) {
		t.Fatalf("nameservers %q", got)
	}
	if got := systemNameservers(filepath.Join(t.TempDir(), "missing")); got != nil {
		t.Fatalf("missing file: %q", got)
	}
}

// TestResolverNextServer: a server that does not answer is passed over
// for the next one.
func TestResolverNextServer(t *testing.T) {
	d := testutil.NewDNS(t)
	d.TXT("example.test", "v=spf1 -all")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String() // nothing listens once closed: refused at once
	pc.Close()
	r := newCachingResolver(dead, d.Addr)
	if txt, err := r.LookupTXT(context.Background(), "example.test."); err != nil || len(txt) != 1 {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
}

// TestResolverSharedLookup: queries for one name asked while a lookup of
// it is under way wait for that lookup instead of asking again (a burst
// of mail from one sender asks once).
func TestResolverSharedLookup(t *testing.T) {
	release := make(chan struct{})
	var queries atomic.Int32
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		queries.Add(1)
		<-release
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNameError)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })

	r := newCachingResolver(pc.LocalAddr().String())
	const n = 10
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := r.LookupTXT(context.Background(), "_dmarc.remote.test.")
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		l := r.inflight[cacheKey{"_dmarc.remote.test.", dns.TypeTXT}]
		waiting := l != nil && l.waiters == n-1
		r.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queries did not meet on one lookup")
		}
		runtime.Gosched()
	}
	close(release)
	for range n {
		if err := <-errs; !isNotFound(err) {
			t.Fatalf("shared answer: %v", err)
		}
	}
	if q := queries.Load(); q != 1 {
		t.Fatalf("%d queries reached the server, want 1", q)
	}
}
