package inbound

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// dottedForward is ip with its parts in order, as %{i} of SPF has it
// (RFC 7208 §7.3): "192.0.2.1", or 32 nibbles separated by dots for IPv6.
func dottedForward(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i, c := range ip.To16() {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteByte(hex[c>>4])
		b.WriteByte('.')
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// reversedIP is the query label sequence of ip for a DNSBL, least
// significant part first: IPv4 reversed octets, IPv6 reversed nibbles
// (RFC 5782 §2.1, §2.4).
func reversedIP(ip net.IP) string {
	parts := strings.Split(dottedForward(ip), ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

// DNSBLListing is a zone that lists the client.
type DNSBLListing struct {
	Zone string
	// Code is the first address the zone answered (127.0.0.x).
	Code string
}

// checkDNSBL asks each zone about ip (RFC 5782): an A record under
// reversed-ip.zone means listed. A zone that fails to answer is skipped
// and returned in failed, so an unreachable list never rejects mail.
func checkDNSBL(ctx context.Context, r Resolver, zones []string, ip net.IP) (listed *DNSBLListing, failed []string) {
	rev := reversedIP(ip)
	for _, z := range zones {
		ips, err := r.LookupIP(ctx, "ip4", rev+"."+strings.TrimSuffix(z, ".")+".")
		if err != nil {
			if !isNotFound(err) {
				failed = append(failed, fmt.Sprintf("%s: %v", z, err))
			}
			continue
		}
		for _, a := range ips {
			// RFC 5782 §2.1: listings are 127.0.0.0/8; anything else
			// (a wildcarding resolver) is not a listing.
			if v4 := a.To4(); v4 != nil && v4[0] == 127 {
				return &DNSBLListing{Zone: z, Code: v4.String()}, failed
			}
		}
	}
	return nil, failed
}
