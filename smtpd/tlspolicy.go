package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"github.com/emersion/go-smtp"

	"mailroom/dane"
	"mailroom/mtasts"
)

// STSPolicies finds the MTA-STS policy of a recipient domain, nil when it
// has none (*mtasts.Fetcher).
type STSPolicies interface {
	Lookup(ctx context.Context, domain string) *mtasts.Policy
}

var _ STSPolicies = (*mtasts.Fetcher)(nil)

// requiredTLSError is a connection to an MX host that DANE or MTA-STS
// requires verified TLS for and that did not offer it: the entry waits
// with it as its reason.
type requiredTLSError struct {
	addr, why string
	err       error
}

func (e *requiredTLSError) Error() string {
	return fmt.Sprintf("the recipient domain's %s requires TLS with a matching certificate, which %s did not offer (%v); nothing is sent to it without", e.why, e.addr, e.err)
}

func (e *requiredTLSError) Unwrap() error { return e.err }

// transport is what a recipient domain requires of the connections to
// its MX hosts.
type transport struct {
	domain    string
	daneOK    bool // the MX records are DNSSEC-validated: TLSA records count
	stsVerify bool // an MTA-STS policy in enforce mode
}

// transportPolicy applies the recipient domain's transport security to
// the hosts found for it. DANE first (RFC 8461 §2): with validated MX
// records each host's TLSA records decide (tlsFor). Then MTA-STS (RFC
// 8461 §4, §5): in enforce mode only the MX hosts the policy names, each
// with verified TLS; in testing mode the hosts as they are, logging each
// one the policy does not name. Through a relay nothing applies: the
// relay is ours.
func (o *Outbound) transportPolicy(ctx context.Context, domain string, hosts []string) ([]string, transport, *result) {
	tp := transport{domain: domain}
	if o.opts.Relay != "" {
		return hosts, tp, nil
	}
	if o.opts.DANE != nil {
		secure, err := o.opts.DANE.SecureMX(ctx, domain)
		if err != nil {
			return nil, tp, &result{status: "4.4.3", text: fmt.Sprintf("DANE: looking up MX of %s: %v", domain, err)}
		}
		tp.daneOK = secure
	}
	if o.opts.MTASTS == nil {
		return hosts, tp, nil
	}
	p := o.opts.MTASTS.Lookup(ctx, domain)
	if p == nil || p.Mode == mtasts.None {
		return hosts, tp, nil
	}
	var ok []string
	for _, addr := range hosts {
		host, _, _ := net.SplitHostPort(addr)
		if p.Match(host) {
			ok = append(ok, addr)
		} else if p.Mode == mtasts.Testing {
			o.log.Warn("mta-sts (testing): MX not in the policy", "domain", domain, "host", host)
		}
	}
	if p.Mode == mtasts.Testing {
		return hosts, tp, nil
	}
	if len(ok) == 0 {
		return nil, tp, &result{status: "4.7.10", text: fmt.Sprintf("MTA-STS policy of %s names none of its MX hosts; waiting for it or its DNS to be fixed", domain)}
	}
	tp.stsVerify = true
	return ok, tp, nil
}

// requiredTLS is the TLS an MX host must be reached with, and the policy
// that requires it.
type requiredTLS struct {
	cfg *tls.Config
	why string // "DANE (TLSA)", "MTA-STS policy"
}

// tlsFor is the TLS an MX host must be reached with, nil for opportunistic
// STARTTLS: its usable validated TLSA records (DANE), else PKIX
// verification for its name (MTA-STS). A failed TLSA lookup is an error:
// the host is skipped rather than reached without DANE.
func (tp transport) tlsFor(ctx context.Context, o *Outbound, addr string) (*requiredTLS, error) {
	host, _, _ := net.SplitHostPort(addr)
	if tp.daneOK {
		recs, err := o.opts.DANE.TLSA(ctx, host, strconv.Itoa(o.opts.Port))
		if err != nil {
			return nil, fmt.Errorf("DANE: TLSA of %s: %w", host, err)
		}
		if len(recs) > 0 {
			return &requiredTLS{cfg: dane.TLSConfig(host, recs), why: "DANE (TLSA)"}, nil
		}
	}
	if tp.stsVerify {
		return &requiredTLS{cfg: &tls.Config{ServerName: host, RootCAs: o.opts.MXRootCAs, MinVersion: tls.VersionTLS12}, why: "MTA-STS policy"}, nil
	}
	return nil, nil
}

// connectVerified opens an SMTP client to an MX host that DANE or MTA-STS
// covers: STARTTLS required, the chain verified as req says; never
// plaintext.
func (o *Outbound) connectVerified(ctx context.Context, addr string, req *requiredTLS) (*smtp.Client, *remoteConn, error) {
	conn, err := o.dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	c, err := smtp.NewClientStartTLS(conn, req.cfg)
	if err == nil {
		c.CommandTimeout, c.SubmissionTimeout = o.opts.Timeout, 2*o.opts.Timeout
		if err = c.Hello(o.opts.Hostname); err == nil {
			return c, conn, nil
		}
		c.Close()
	}
	conn.Close()
	return nil, nil, &requiredTLSError{addr: addr, why: req.why, err: err}
}
