package inbound

import (
	"context"
	"net"
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
// through: the system's (Go's resolver, /etc/resolv.conf, no cache) when
// addr is empty; else every query goes to addr (host:port, e.g. a local
// validating unbound), over UDP and, for truncated answers, TCP, and the
// answers are cached for their TTL (see cachingResolver).
func NewResolver(addr string) FullResolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return newCachingResolver(addr)
}
