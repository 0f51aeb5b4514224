package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/emersion/go-smtp"

	"mailroom/mtasts"
)

// STSPolicies finds the MTA-STS policy of a recipient domain, nil when it
// has none (*mtasts.Fetcher).
type STSPolicies interface {
	Lookup(ctx context.Context, domain string) *mtasts.Policy
}

var _ STSPolicies = (*mtasts.Fetcher)(nil)

// stsError is a delivery an MTA-STS policy stopped: the entry waits with
// it as its reason.
type stsError struct {
	addr string
	err  error
}

func (e *stsError) Error() string {
	return fmt.Sprintf("the recipient domain's MTA-STS policy requires TLS with a valid certificate, which %s did not offer (%v); nothing is sent to it without", e.addr, e.err)
}

func (e *stsError) Unwrap() error { return e.err }

// applySTS applies the recipient domain's MTA-STS policy to the hosts
// found for it (RFC 8461 §4, §5): in enforce mode only the MX hosts the
// policy names, each to be reached with verified TLS; in testing mode the
// hosts as they are, with a log line for each the policy does not name.
// Through a relay no policy applies: the relay is ours.
func (o *Outbound) applySTS(ctx context.Context, domain string, hosts []string) ([]string, bool, *result) {
	if o.opts.MTASTS == nil || o.opts.Relay != "" {
		return hosts, false, nil
	}
	p := o.opts.MTASTS.Lookup(ctx, domain)
	if p == nil || p.Mode == mtasts.None {
		return hosts, false, nil
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
		return hosts, false, nil
	}
	if len(ok) == 0 {
		return nil, false, &result{status: "4.7.10", text: fmt.Sprintf("MTA-STS policy of %s names none of its MX hosts; waiting for it or its DNS to be fixed", domain)}
	}
	return ok, true, nil
}

// connectVerified opens an SMTP client to an MX host that an MTA-STS
// policy covers: STARTTLS required, the certificate verified for the
// host's name (against MXRootCAs or the system's roots); never plaintext.
func (o *Outbound) connectVerified(ctx context.Context, addr, host string) (*smtp.Client, *remoteConn, error) {
	conn, err := o.dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{ServerName: host, RootCAs: o.opts.MXRootCAs, MinVersion: tls.VersionTLS12})
	if err == nil {
		c.CommandTimeout, c.SubmissionTimeout = o.opts.Timeout, 2*o.opts.Timeout
		if err = c.Hello(o.opts.Hostname); err == nil {
			return c, conn, nil
		}
		c.Close()
	}
	conn.Close()
	return nil, nil, &stsError{addr: addr, err: err}
}
