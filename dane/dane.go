package dane

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// queryTimeout bounds one DNS exchange.
const queryTimeout = 10 * time.Second

// Resolver asks a validating resolver for DNSSEC-validated answers: the
// AD bit of its reply says whether it validated them (RFC 4035 §3.2.3).
// The resolver is trusted to validate: it should be on this host.
type Resolver struct {
	// Addr is host:port; empty means the first nameserver of
	// /etc/resolv.conf.
	Addr string
}

// ErrTemporary wraps a lookup that failed (SERVFAIL, a timeout): the
// delivery waits rather than going on without DANE.
var ErrTemporary = errors.New("temporary DNS failure")

func (r *Resolver) server() (string, error) {
	if r.Addr != "" {
		return r.Addr, nil
	}
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cfg.Servers) == 0 {
		return "", fmt.Errorf("no resolver: %v", err)
	}
	return net.JoinHostPort(cfg.Servers[0], cfg.Port), nil
}

// query asks for name/qtype with the DO bit and returns the answers of
// that type and whether the resolver validated them. A name that does not
// exist, or has no such record, is no answers and no error.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, bool, error) {
	addr, err := r.server()
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrTemporary, err)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.AuthenticatedData = true
	m.SetEdns0(1232, true)
	c := &dns.Client{Timeout: queryTimeout}
	in, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %v", ErrTemporary, name, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, in.AuthenticatedData, nil
	default:
		return nil, false, fmt.Errorf("%w: %s: %s", ErrTemporary, name, dns.RcodeToString[in.Rcode])
	}
	var out []dns.RR
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out, in.AuthenticatedData, nil
}

// SecureMX reports whether the domain's MX records are DNSSEC-validated:
// only then may TLSA records of its MX hosts be used (RFC 7672 §2.2.1).
func (r *Resolver) SecureMX(ctx context.Context, domain string) (bool, error) {
	_, secure, err := r.query(ctx, domain, dns.TypeMX)
	return secure, err
}

// TLSA returns the validated, usable TLSA records of an MX host's SMTP
// port (_25._tcp.host, RFC 7672 §2.2): DANE-TA(2) and DANE-EE(3) with
// known selectors and matching types. nil when there are none or they are
// not validated.
func (r *Resolver) TLSA(ctx context.Context, host string, port string) ([]*dns.TLSA, error) {
	rrs, secure, err := r.query(ctx, "_"+port+"._tcp."+strings.TrimSuffix(host, "."), dns.TypeTLSA)
	if err != nil || !secure {
		return nil, err
	}
	var out []*dns.TLSA
	for _, rr := range rrs {
		t := rr.(*dns.TLSA)
		if (t.Usage == 2 || t.Usage == 3) && t.Selector <= 1 && t.MatchingType <= 2 {
			out = append(out, t)
		}
	}
	return out, nil
}

// Verify checks a server's certificate chain against TLSA records (RFC
// 7672 §3.1): DANE-EE(3) matches the leaf, whatever its names and dates;
// DANE-TA(2) matches a certificate of the chain the server sent, which
// must then issue the leaf for host.
func Verify(certs []*x509.Certificate, host string, recs []*dns.TLSA) error {
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	for _, t := range recs {
		switch t.Usage {
		case 3:
			if matches(t, certs[0]) {
				return nil
			}
		case 2:
			for _, ta := range certs[1:] {
				if !matches(t, ta) {
					continue
				}
				roots := x509.NewCertPool()
				roots.AddCert(ta)
				inter := x509.NewCertPool()
				for _, c := range certs[1:] {
					inter.AddCert(c)
				}
				if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: strings.TrimSuffix(host, "."), Roots: roots, Intermediates: inter}); err == nil {
					return nil
				}
			}
		}
	}
	return errors.New("no TLSA record matches the certificate")
}

func matches(t *dns.TLSA, c *x509.Certificate) bool {
	data := c.Raw
	if t.Selector == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	switch t.MatchingType {
	case 1:
		s := sha256.Sum256(data)
		data = s[:]
	case 2:
		s := sha512.Sum512(data)
		data = s[:]
	}
	want, err := hex.DecodeString(t.Certificate)
	return err == nil && bytes.Equal(want, data)
}

// TLSConfig is a client configuration that accepts a server only when
// its chain matches recs (see Verify).
func TLSConfig(host string, recs []*dns.TLSA) *tls.Config {
	return &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, // Verify below replaces PKIX
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return Verify(cs.PeerCertificates, host, recs)
		},
	}
}
