package inbound

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Limits of the caching resolver.
const (
	cacheMaxEntries = 10000
	cacheMaxTTL     = time.Hour       // longer TTLs are cut to this
	cacheNegTTL     = 5 * time.Minute // a negative answer without SOA
	dnsTimeout      = 5 * time.Second // one exchange
	dnsUDPSize      = 1232            // EDNS0 buffer (the DNS flag day's)
)

// cachingResolver sends every query to its servers (the [dns] resolver,
// or the system's nameservers), the next one only when one does not
// answer, and keeps answers, positive and negative, for their TTL (RFC
// 2308 for the negative ones): a message from a sender seen a minute ago
// costs no lookup. Queries for the same name and type asked at the same
// time share one exchange. Go's resolver has no cache and hides TTLs,
// hence miekg/dns.
type cachingResolver struct {
	addrs []string
	now   func() time.Time

	mu       sync.Mutex
	cache    map[cacheKey]*cacheEntry
	inflight map[cacheKey]*lookup
}

// lookup is an exchange in progress that other queries wait for.
type lookup struct {
	done    chan struct{}
	e       *cacheEntry
	err     error
	waiters int // queries waiting for it besides the one asking
}

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	rrs      []dns.RR // answers of the type asked; nil with notFound
	notFound bool
	expires  time.Time
	server   string // the one that answered
}

var _ Resolver = (*cachingResolver)(nil)

func newCachingResolver(addrs ...string) *cachingResolver {
	return &cachingResolver{addrs: addrs, now: time.Now, cache: map[cacheKey]*cacheEntry{}, inflight: map[cacheKey]*lookup{}}
}

// query returns the answers of type qtype for name, from the cache or the
// server. A name that does not exist, or has no such record, is a
// *net.DNSError with IsNotFound; a failure one with IsTemporary.
func (r *cachingResolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	name = dns.Fqdn(strings.ToLower(name))
	key := cacheKey{name, qtype}
	now := r.now()
	r.mu.Lock()
	e := r.cache[key]
	if e == nil || !now.Before(e.expires) {
		if l := r.inflight[key]; l != nil {
			l.waiters++
			r.mu.Unlock()
			select {
			case <-l.done:
			case <-ctx.Done():
				return nil, &net.DNSError{Err: ctx.Err().Error(), Name: name, IsTimeout: true, IsTemporary: true}
			}
			if l.err != nil {
				return nil, l.err
			}
			e = l.e
		} else {
			l := &lookup{done: make(chan struct{})}
			r.inflight[key] = l
			r.mu.Unlock()
			l.e, l.err = r.exchange(ctx, name, qtype)
			r.mu.Lock()
			delete(r.inflight, key)
			if l.err == nil {
				r.keep(now, key, l.e)
			}
			r.mu.Unlock()
			close(l.done)
			if l.err != nil {
				return nil, l.err
			}
			e = l.e
		}
	} else {
		r.mu.Unlock()
	}
	if e.notFound {
		return nil, &net.DNSError{Err: "no such host", Name: name, Server: e.server, IsNotFound: true}
	}
	return e.rrs, nil
}

// keep caches e under key, making room when the cache is full; r.mu is
// held.
func (r *cachingResolver) keep(now time.Time, key cacheKey, e *cacheEntry) {
	if len(r.cache) >= cacheMaxEntries {
		for k, old := range r.cache {
			if !now.Before(old.expires) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache { // still full: drop any tenth
			if len(r.cache) < cacheMaxEntries*9/10 {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[key] = e
}

// exchange asks the servers in turn until one answers, over UDP and then
// TCP when the answer was truncated.
func (r *cachingResolver) exchange(ctx context.Context, name string, qtype uint16) (*cacheEntry, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(dnsUDPSize, false)
	var in *dns.Msg
	var err error
	var server string
	for _, server = range r.addrs {
		c := &dns.Client{Timeout: dnsTimeout}
		in, _, err = c.ExchangeContext(ctx, m, server)
		if err == nil && in.Truncated {
			c.Net = "tcp"
			in, _, err = c.ExchangeContext(ctx, m, server)
		}
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout()
		return nil, &net.DNSError{Err: err.Error(), Name: name, Server: server, IsTimeout: timeout, IsTemporary: true}
	}
	now := r.now()
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, &net.DNSError{Err: "server answered " + dns.RcodeToString[in.Rcode], Name: name, Server: server, IsTemporary: true}
	}
	var rrs []dns.RR
	ttl := cacheMaxTTL
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			rrs = append(rrs, rr)
			ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
	}
	if len(rrs) > 0 {
		return &cacheEntry{rrs: rrs, expires: now.Add(ttl), server: server}, nil
	}
	// NXDOMAIN or NODATA: kept for the SOA's negative TTL (RFC 2308 §5).
	ttl = cacheNegTTL
	for _, rr := range in.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			ttl = min(cacheMaxTTL, time.Duration(min(soa.Minttl, soa.Hdr.Ttl))*time.Second)
		}
	}
	return &cacheEntry{notFound: true, expires: now.Add(ttl), server: server}, nil
}

func (r *cachingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

func (r *cachingResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	var types []uint16
	switch network {
	case "ip4":
		types = []uint16{dns.TypeA}
	case "ip6":
		types = []uint16{dns.TypeAAAA}
	default:
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	}
	var out []net.IP
	var firstErr error
	for _, t := range types {
		rrs, err := r.query(ctx, host, t)
		if err != nil {
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsNotFound {
				return nil, err
			}
			firstErr = err
			continue
		}
		for _, rr := range rrs {
			switch rr := rr.(type) {
			case *dns.A:
				out = append(out, rr.A)
			case *dns.AAAA:
				out = append(out, rr.AAAA)
			}
		}
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// LookupHost is LookupIP of both families, as strings (smtpd.Resolver).
func (r *cachingResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	ips, err := r.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out, nil
}

func (r *cachingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := r.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	return out, nil
}

func (r *cachingResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: addr, IsNotFound: true}
	}
	rrs, err := r.query(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, nil
}
