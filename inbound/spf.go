package inbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// SPFResult is the result of check_host() (RFC 7208 §2.6).
type SPFResult string

// The results of RFC 7208 §2.6.
const (
	SPFNone      SPFResult = "none"
	SPFNeutral   SPFResult = "neutral"
	SPFPass      SPFResult = "pass"
	SPFFail      SPFResult = "fail"
	SPFSoftFail  SPFResult = "softfail"
	SPFTempError SPFResult = "temperror"
	SPFPermError SPFResult = "permerror"
)

// Limits of RFC 7208 and of this evaluator.
const (
	spfMaxLookups     = 10   // §4.6.4: terms that cause DNS queries
	spfMaxVoids       = 2    // §4.6.4: lookups with no answer
	spfMaxMXNames     = 10   // §4.6.4: names of one mx mechanism
	spfMaxPTRNames    = 10   // §4.6.4: names of one ptr mechanism
	spfMaxRecordBytes = 4096 // ours: a record is TXT strings joined
	spfMaxTerms       = 100  // ours
	maxDomainLen      = 253  // RFC 1035, without the root dot
)

// SPF evaluates the SPF policy of the MAIL FROM identity (or, for the null
// sender, postmaster@helo, RFC 7208 §2.4) for a client at ip. domain is
// the domain checked; reason says why a result other than pass came.
func SPF(ctx context.Context, r Resolver, ip net.IP, helo, sender string) (res SPFResult, domain, reason string) {
	local, domain, ok := strings.Cut(sender, "@")
	if sender == "" || !ok {
		local, domain = "postmaster", helo
	}
	if local == "" {
		local = "postmaster"
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	c := &spfCheck{r: r, ip: ip, sender: local + "@" + domain, local: local, helo: helo}
	if !validDomain(domain) {
		return SPFNone, domain, "no valid domain to check"
	}
	if ip == nil {
		return SPFNone, domain, "no client address (a unix socket)"
	}
	res, err := c.checkHost(ctx, domain, 0)
	if err != nil {
		reason = err.Error()
	}
	return res, domain, reason
}

type spfCheck struct {
	r       Resolver
	ip      net.IP
	sender  string // local@domain of the original identity
	local   string
	helo    string
	lookups int
	voids   int
}

var errSPFLimit = errors.New("too many DNS lookups")

// count accounts for one term that queries DNS (RFC 7208 §4.6.4).
func (c *spfCheck) count() error {
	c.lookups++
	if c.lookups > spfMaxLookups {
		return errSPFLimit
	}
	return nil
}

// void accounts for a lookup that found nothing; beyond the limit the
// evaluation is a permerror.
func (c *spfCheck) void() error {
	c.voids++
	if c.voids > spfMaxVoids {
		return errors.New("too many void DNS lookups")
	}
	return nil
}

// spfTerm is one directive or modifier of a record.
type spfTerm struct {
	qualifier byte   // '+', '-', '~', '?' for a directive
	name      string // mechanism or modifier name, lower-case
	modifier  bool
	arg       string // domain-spec or ip (without the cidr)
	cidr4     int    // -1 when not given
	cidr6     int
}

// parseSPF parses an SPF record (RFC 7208 §4.6.1, §12). The record must
// begin with "v=spf1".
func parseSPF(rec string) ([]spfTerm, error) {
	if len(rec) > spfMaxRecordBytes {
		return nil, errors.New("record too long")
	}
	fields := strings.Fields(rec)
	if len(fields) == 0 || !strings.EqualFold(fields[0], "v=spf1") {
		return nil, errors.New("not an SPF record")
	}
	fields = fields[1:]
	if len(fields) > spfMaxTerms {
		return nil, errors.New("too many terms")
	}
	terms := make([]spfTerm, 0, len(fields))
	for _, f := range fields {
		t := spfTerm{qualifier: '+', cidr4: -1, cidr6: -1}
		if i := strings.IndexAny(f, "=:/"); i > 0 && f[i] == '=' {
			t.modifier, t.name, t.arg = true, strings.ToLower(f[:i]), f[i+1:]
			if !validModifierName(t.name) {
				return nil, fmt.Errorf("bad modifier %q", f)
			}
			terms = append(terms, t)
			continue
		}
		switch f[0] {
		case '+', '-', '~', '?':
			t.qualifier, f = f[0], f[1:]
		}
		name, rest := f, ""
		if i := strings.IndexAny(f, ":/"); i >= 0 {
			name, rest = f[:i], f[i:]
		}
		t.name = strings.ToLower(name)
		switch t.name {
		case "all":
			if rest != "" {
				return nil, fmt.Errorf("bad term %q", f)
			}
		case "include", "exists":
			if !strings.HasPrefix(rest, ":") || len(rest) < 2 {
				return nil, fmt.Errorf("%s needs a domain", t.name)
			}
			t.arg = rest[1:]
		case "a", "mx", "ptr", "ip4", "ip6":
			if a, ok := strings.CutPrefix(rest, ":"); ok {
				rest = ""
				if i := strings.IndexByte(a, '/'); i >= 0 && t.name != "ip6" {
					a, rest = a[:i], a[i:]
				} else if t.name == "ip6" {
					if i := strings.IndexByte(a, '/'); i >= 0 {
						a, rest = a[:i], a[i:]
					}
				}
				if a == "" {
					return nil, fmt.Errorf("bad term %q", f)
				}
				t.arg = a
			}
			if err := t.parseCIDR(rest); err != nil {
				return nil, fmt.Errorf("bad term %q: %w", f, err)
			}
			if (t.name == "ip4" || t.name == "ip6") && t.arg == "" {
				return nil, fmt.Errorf("%s needs an address", t.name)
			}
			if t.name == "ptr" && (t.cidr4 >= 0 || t.cidr6 >= 0) {
				return nil, fmt.Errorf("bad term %q", f)
			}
		default:
			return nil, fmt.Errorf("unknown mechanism %q", name)
		}
		terms = append(terms, t)
	}
	return terms, nil
}

// parseCIDR reads "/n", "//n" or "/n//m" (RFC 7208 §5.6).
func (t *spfTerm) parseCIDR(s string) error {
	if s == "" {
		return nil
	}
	num := func(s string, max int) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > max || (len(s) > 1 && s[0] == '0') {
			return 0, errors.New("bad prefix length")
		}
		return n, nil
	}
	var err error
	v4, v6, dual := strings.Cut(s, "//")
	if dual {
		if t.name == "ip4" || t.name == "ip6" {
			return errors.New("bad prefix length")
		}
		if t.cidr6, err = num(v6, 128); err != nil {
			return err
		}
		if v4 == "" {
			return nil
		}
	}
	v4, ok := strings.CutPrefix(v4, "/")
	if !ok {
		return errors.New("bad prefix length")
	}
	if t.name == "ip6" {
		t.cidr6, err = num(v4, 128)
		return err
	}
	t.cidr4, err = num(v4, 32)
	return err
}

func validModifierName(n string) bool {
	if n == "" || !isAlpha(n[0]) {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkHost is check_host() of RFC 7208 §4.
func (c *spfCheck) checkHost(ctx context.Context, domain string, depth int) (SPFResult, error) {
	if depth > spfMaxLookups {
		return SPFPermError, errSPFLimit
	}
	txts, err := c.r.LookupTXT(ctx, domain+".")
	if err != nil {
		if isNotFound(err) {
			return SPFNone, nil
		}
		return SPFTempError, fmt.Errorf("SPF record of %s: %w", domain, err)
	}
	var rec string
	n := 0
	for _, t := range txts {
		if f := strings.Fields(t); len(f) > 0 && strings.EqualFold(f[0], "v=spf1") {
			rec = t
			n++
		}
	}
	switch n {
	case 0:
		return SPFNone, nil
	case 1:
	default:
		return SPFPermError, fmt.Errorf("%s has %d SPF records", domain, n)
	}
	terms, err := parseSPF(rec)
	if err != nil {
		return SPFPermError, fmt.Errorf("SPF record of %s: %w", domain, err)
	}
	var redirect string
	seen := map[string]bool{}
	for _, t := range terms {
		if !t.modifier {
			continue
		}
		if (t.name == "redirect" || t.name == "exp") && seen[t.name] {
			return SPFPermError, fmt.Errorf("SPF record of %s: %s twice", domain, t.name)
		}
		seen[t.name] = true
		if t.name == "redirect" {
			redirect = t.arg
		}
	}
	for _, t := range terms {
		if t.modifier {
			continue
		}
		match, res, err := c.mechanism(ctx, domain, t, depth)
		if err != nil {
			return res, err
		}
		if match {
			return qualifierResult(t.qualifier), nil
		}
	}
	if redirect != "" {
		if err := c.count(); err != nil {
			return SPFPermError, err
		}
		target, err := c.expand(redirect, domain)
		if err != nil {
			return SPFPermError, err
		}
		res, err := c.checkHost(ctx, target, depth+1)
		if res == SPFNone {
			return SPFPermError, fmt.Errorf("redirect to %s, which has no SPF record", target)
		}
		return res, err
	}
	return SPFNeutral, nil
}

func qualifierResult(q byte) SPFResult {
	switch q {
	case '-':
		return SPFFail
	case '~':
		return SPFSoftFail
	case '?':
		return SPFNeutral
	}
	return SPFPass
}

// mechanism evaluates one directive: whether it matches, or the result
// and error that end the evaluation.
func (c *spfCheck) mechanism(ctx context.Context, domain string, t spfTerm, depth int) (bool, SPFResult, error) {
	target := domain
	if t.arg != "" && t.name != "ip4" && t.name != "ip6" {
		var err error
		if target, err = c.expand(t.arg, domain); err != nil {
			return false, SPFPermError, err
		}
	}
	switch t.name {
	case "all":
		return true, "", nil
	case "ip4", "ip6":
		ip := net.ParseIP(t.arg)
		if ip == nil || (t.name == "ip4") != (ip.To4() != nil) {
			return false, SPFPermError, fmt.Errorf("bad address %q", t.arg)
		}
		return c.inNet(ip, t.cidr4, t.cidr6), "", nil
	}
	if err := c.count(); err != nil {
		return false, SPFPermError, err
	}
	switch t.name {
	case "include":
		res, err := c.checkHost(ctx, target, depth+1)
		switch res {
		case SPFPass:
			return true, "", nil
		case SPFFail, SPFSoftFail, SPFNeutral:
			return false, "", nil
		case SPFTempError:
			return false, res, err
		case SPFNone:
			return false, SPFPermError, fmt.Errorf("include of %s, which has no SPF record", target)
		}
		return false, SPFPermError, err
	case "a":
		return c.matchHost(ctx, target, t)
	case "mx":
		mxs, err := c.r.LookupMX(ctx, target+".")
		if err != nil {
			if !isNotFound(err) {
				return false, SPFTempError, fmt.Errorf("MX of %s: %w", target, err)
			}
			if err := c.void(); err != nil {
				return false, SPFPermError, err
			}
			return false, "", nil
		}
		if len(mxs) > spfMaxMXNames {
			return false, SPFPermError, fmt.Errorf("%s has more than %d MX records", target, spfMaxMXNames)
		}
		for _, mx := range mxs {
			match, res, err := c.matchHost(ctx, strings.TrimSuffix(mx.Host, "."), t)
			if match || err != nil {
				return match, res, err
			}
		}
		return false, "", nil
	case "ptr":
		return c.matchPTR(ctx, target), "", nil
	case "exists":
		// RFC 7208 §5.7: an A query, whatever the client's family.
		ips, err := c.r.LookupIP(ctx, "ip4", target+".")
		if err != nil && !isNotFound(err) {
			return false, SPFTempError, fmt.Errorf("exists %s: %w", target, err)
		}
		if len(ips) > 0 {
			return true, "", nil
		}
		if err := c.void(); err != nil {
			return false, SPFPermError, err
		}
		return false, "", nil
	}
	return false, SPFPermError, fmt.Errorf("unknown mechanism %q", t.name)
}

// matchHost is the a mechanism on host.
func (c *spfCheck) matchHost(ctx context.Context, host string, t spfTerm) (bool, SPFResult, error) {
	// RFC 7208 §5.3: A or AAAA as the client's address is IPv4 or IPv6.
	ips, err := c.r.LookupIP(ctx, c.family(), host+".")
	if err != nil {
		if !isNotFound(err) {
			return false, SPFTempError, fmt.Errorf("address of %s: %w", host, err)
		}
		if err := c.void(); err != nil {
			return false, SPFPermError, err
		}
		return false, "", nil
	}
	for _, ip := range ips {
		if c.inNet(ip, t.cidr4, t.cidr6) {
			return true, "", nil
		}
	}
	return false, "", nil
}

// matchPTR is the ptr mechanism (RFC 7208 §5.5): some validated name of
// the client's address is target or under it. DNS errors are no match.
func (c *spfCheck) matchPTR(ctx context.Context, target string) bool {
	names, err := c.r.LookupAddr(ctx, c.ip.String())
	if err != nil {
		return false
	}
	if len(names) > spfMaxPTRNames {
		names = names[:spfMaxPTRNames]
	}
	target = strings.ToLower(target)
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != target && !strings.HasSuffix(n, "."+target) {
			continue
		}
		ips, err := c.r.LookupIP(ctx, c.family(), n+".")
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if ip.Equal(c.ip) {
				return true
			}
		}
	}
	return false
}

// family is the address family of the client, as LookupIP names it.
func (c *spfCheck) family() string {
	if c.ip.To4() != nil {
		return "ip4"
	}
	return "ip6"
}

// inNet reports whether the client's address is ip or in its network.
func (c *spfCheck) inNet(ip net.IP, cidr4, cidr6 int) bool {
	if v4 := c.ip.To4(); v4 != nil {
		ip4 := ip.To4()
		if ip4 == nil {
			return false
		}
		if cidr4 < 0 {
			cidr4 = 32
		}
		return (&net.IPNet{IP: ip4.Mask(net.CIDRMask(cidr4, 32)), Mask: net.CIDRMask(cidr4, 32)}).Contains(v4)
	}
	if ip.To4() != nil {
		return false
	}
	if cidr6 < 0 {
		cidr6 = 128
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(cidr6, 128)), Mask: net.CIDRMask(cidr6, 128)}).Contains(c.ip)
}

// isNotFound reports whether err says the name or the record does not
// exist, which is an answer, not a failure.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// validDomain reports whether d is a host name fit for a query: at most
// 253 octets, labels of 1 to 63, at least two labels.
func validDomain(d string) bool {
	if d == "" || len(d) > maxDomainLen || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; c <= ' ' || c >= 0x7f {
				return false
			}
		}
	}
	return true
}
