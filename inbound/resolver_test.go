package inbound

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

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
