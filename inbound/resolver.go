package inbound

import (
	"context"
	"net"

	"github.com/miekg/dns"
)

// Resolver is what the checks ask DNS. *net.Resolver satisfies it.
//
// An error for a name that does not exist, or has no record of the type,
// is a *net.DNSError with IsNotFound; a temporary failure (SERVFAIL, a
// timeout) one whose Temporary() is true. The checks tell these apart:
// the first is an answer, the second a 4xx.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupIP asks for one family ("ip4": A, "ip6": AAAA) or both.
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// FullResolver is a Resolver that also finds the hosts the outbound queue
// delivers to (smtpd.Resolver).
type FullResolver interface {
	Resolver
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// NewResolver returns the resolver every DNS lookup of the server goes
// through. Every query goes to addr (host:port, e.g. a local validating
// unbound) or, when addr is empty, to the system's nameservers (those of
// /etc/resolv.conf, in order), over UDP and, for truncated answers, TCP,
// and the answers are cached for their TTL (see cachingResolver). Only a
// system without a readable resolv.conf gets Go's resolver, uncached.
func NewResolver(addr string) FullResolver {
	if addr != "" {
		return newCachingResolver(addr)
	}
	if servers := systemNameservers("/etc/resolv.conf"); len(servers) > 0 {
		return newCachingResolver(servers...)
	}
	return net.DefaultResolver
}

// systemNameservers returns the nameservers of a resolv.conf file as
// host:port.
func systemNameservers(path string) []string {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out
}
