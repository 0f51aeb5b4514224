package smtpd

// One SMTP session with a remote host: the connection, its TLS and its
// timeouts, and the transaction.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mailroom/store"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session runs one SMTP transaction with addr. A connection-level error
// (refused, timeout, TLS, greeting) is returned so the next host is tried.
// With required TLS (DANE, MTA-STS; see transportPolicy) the host must
// offer STARTTLS and pass that configuration's verification.
func (o *Outbound) session(ctx context.Context, addr string, rcpts []string, from string, msg []byte, required *requiredTLS, env *store.QueueEntry) (map[string]result, error) {
	host, _, _ := net.SplitHostPort(addr)
	var c *smtp.Client
	var rc *remoteConn
	var err error
	if required != nil {
		c, rc, err = o.connectVerified(ctx, addr, required)
	} else {
		c, rc, err = o.connect(ctx, addr, host)
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if o.opts.Relay != "" && o.opts.RelayUsername != "" {
		// connect guarantees verified TLS to a relay unless RelayTLS is
		// "none"; this check keeps credentials off a plaintext link
		// whatever changes there.
		if _, tlsOK := c.TLSConnectionState(); !tlsOK || o.opts.RelayTLS == RelayTLSNone {
			return nil, &tlsRequiredError{addr: addr, err: errors.New("no TLS, and credentials are never sent without it")}
		}
		if err := c.Auth(sasl.NewPlainClient("", o.opts.RelayUsername, o.opts.RelayPassword)); err != nil {
			return nil, fmt.Errorf("relay AUTH: %w", err)
		}
	}
	out := map[string]result{}
	reply := func(err error) result {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			status := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
			if se.EnhancedCode == smtp.NoEnhancedCode || se.EnhancedCode == (smtp.EnhancedCode{}) {
				status = fmt.Sprintf("%d.0.0", se.Code/100)
			}
			return result{perm: se.Code >= 500, status: status, text: fmt.Sprintf("%s said: %d %s", host, se.Code, se.Message)}
		}
		return result{status: "4.4.2", text: fmt.Sprintf("%s: %v", host, err)}
	}
	// RFC 8689: REQUIRETLS mail goes only to a host that takes it on.
	if ok, _ := c.Extension("REQUIRETLS"); env.RequireTLS && !ok {
		c.Quit()
		return nil, fmt.Errorf("%s: %w", addr, errNoRequireTLS)
	}
	// RFC 3461 §5.2: the DSN parameters go on to a host that takes them
	// (go-smtp's client leaves them out for one that does not, and then
	// reports stop here: "relayed").
	dsn, _ := c.Extension("DSN")
	mopts := &smtp.MailOptions{RequireTLS: env.RequireTLS, Return: smtp.DSNReturn(env.Ret), EnvelopeID: env.EnvID}
	if err := c.Mail(from, mopts); err != nil {
		r := reply(err)
		for _, rc := range rcpts {
			out[rc] = r
		}
		return out, nil
	}
	var accepted []string
	for _, rc := range rcpts {
		if err := c.Rcpt(rc, rcptOptions(env, rc)); err != nil {
			out[rc] = reply(err)
			continue
		}
		accepted = append(accepted, rc)
	}
	if len(accepted) == 0 {
		c.Quit()
		return out, nil
	}
	var dataErr error
	w, err := c.Data()
	if err == nil {
		if _, err = w.Write(msg); err == nil {
			// RFC 5321 §4.5.3.2.6: the reply to the final dot may take
			// longer than other replies (10 minutes there).
			rc.limit = 2 * o.opts.Timeout
			err = w.Close()
		}
	}
	dataErr = err
	r := result{ok: true, status: "2.0.0", text: host + " accepted the message", relayed: !dsn}
	if dataErr != nil {
		r = reply(dataErr)
	}
	for _, rc := range accepted {
		out[rc] = r
	}
	c.Quit()
	return out, nil
}

// Relay TLS modes (OutboundOptions.RelayTLS).
const (
	RelayTLSStartTLS = "starttls" // STARTTLS, required and verified
	RelayTLSImplicit = "implicit" // TLS from the first byte (port 465), verified
	RelayTLSNone     = "none"     // plaintext; AUTH is never sent
)

// tlsRequiredError is a relay connection without the TLS its
// configuration requires. The entry waits (a temporary failure) with this
// as its reason.
type tlsRequiredError struct {
	addr string
	err  error
}

func (e *tlsRequiredError) Error() string {
	return fmt.Sprintf("TLS with relay %s could not be established (%v); nothing is sent to it without TLS", e.addr, e.err)
}

func (e *tlsRequiredError) Unwrap() error { return e.err }

// remoteConn is a connection to a remote host. It is closed when the
// delivery's context ends (shutdown), and bounds every wait on it: each
// deadline go-smtp sets is cut to limit from now, and each write gets a
// deadline of its own, so a host that stalls in the middle of a command or
// of the message is left after limit however long the message is.
type remoteConn struct {
	net.Conn
	limit time.Duration
	stop  func() bool
}

func (c *remoteConn) clamp(t time.Time) time.Time {
	if max := time.Now().Add(c.limit); t.IsZero() || t.After(max) {
		return max
	}
	return t
}

func (c *remoteConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *remoteConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *remoteConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func (c *remoteConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.limit))
	return c.Conn.Write(p)
}

func (c *remoteConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// dial opens a connection to addr for one delivery.
func (o *Outbound) dial(ctx context.Context, addr string) (*remoteConn, error) {
	dctx, cancel := context.WithTimeout(ctx, min(30*time.Second, o.opts.Timeout))
	defer cancel()
	conn, err := o.opts.Dial(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &remoteConn{Conn: conn, limit: o.opts.Timeout}
	rc.stop = context.AfterFunc(ctx, func() { conn.Close() })
	rc.SetDeadline(time.Time{})
	return rc, nil
}

// client starts an SMTP client on conn and says EHLO.
func (o *Outbound) client(conn net.Conn) (*smtp.Client, error) {
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = o.opts.Timeout, 2*o.opts.Timeout
	if err := c.Hello(o.opts.Hostname); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// connect opens an SMTP client to addr.
//
// To the relay, TLS is as RelayTLS says, and the relay's certificate is
// verified (against RelayRootCAs, or the system's roots); when TLS cannot
// be established nothing is sent, and the entry waits with the reason.
//
// To an MX, STARTTLS is used when offered, and certificates are not
// verified: this is opportunistic TLS, as between MX hosts, where failing
// on a self-signed certificate would only push the mail to plaintext.
// A host that DANE or an MTA-STS policy covers gets connectVerified
// instead (tlspolicy.go).
func (o *Outbound) connect(ctx context.Context, addr, host string) (*smtp.Client, *remoteConn, error) {
	if o.opts.Relay != "" {
		return o.connectRelay(ctx, addr, host)
	}
	conn, err := o.dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	c, err := o.client(conn)
	if err != nil {
		return nil, nil, err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return c, conn, nil
	}
	c.Close()
	if conn, err = o.dial(ctx, addr); err != nil {
		return nil, nil, err
	}
	// The handshake happens in the EHLO after STARTTLS.
	tc, err := smtp.NewClientStartTLS(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err == nil {
		tc.CommandTimeout, tc.SubmissionTimeout = o.opts.Timeout, 2*o.opts.Timeout
		if err = tc.Hello(o.opts.Hostname); err == nil {
			return tc, conn, nil
		}
		tc.Close()
	}
	// A failed negotiation: send in plaintext rather than not at all.
	o.log.Info("STARTTLS failed, sending in plaintext", "host", addr, "err", err)
	if conn, err = o.dial(ctx, addr); err != nil {
		return nil, nil, err
	}
	c, err = o.client(conn)
	if err != nil {
		return nil, nil, err
	}
	return c, conn, nil
}

// connectRelay opens an SMTP client to the smarthost (see connect).
func (o *Outbound) connectRelay(ctx context.Context, addr, host string) (*smtp.Client, *remoteConn, error) {
	if o.opts.RelayTLS == RelayTLSNone && o.opts.RelayUsername != "" {
		return nil, nil, &tlsRequiredError{addr: addr, err: errors.New(`relay_tls is "none" but credentials are set`)}
	}
	cfg := &tls.Config{ServerName: host, RootCAs: o.opts.RelayRootCAs, MinVersion: tls.VersionTLS12}
	conn, err := o.dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	switch o.opts.RelayTLS {
	case RelayTLSNone:
		c, err := o.client(conn)
		return c, conn, err
	case RelayTLSImplicit:
		tc := tls.Client(conn, cfg)
		hctx, cancel := context.WithTimeout(ctx, o.opts.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, nil, &tlsRequiredError{addr: addr, err: err}
		}
		c, err := o.client(tc)
		return c, conn, err
	default: // RelayTLSStartTLS
		c, err := smtp.NewClientStartTLS(conn, cfg)
		if err == nil {
			c.CommandTimeout, c.SubmissionTimeout = o.opts.Timeout, 2*o.opts.Timeout
			// The handshake, and the verification, happen here.
			if err = c.Hello(o.opts.Hostname); err == nil {
				return c, conn, nil
			}
			c.Close()
		}
		// No STARTTLS offered, STARTTLS refused, a failed handshake or an
		// unverified certificate: nothing goes to the relay in plaintext.
		return nil, nil, &tlsRequiredError{addr: addr, err: err}
	}
}

// errNoRequireTLS is a host that does not offer REQUIRETLS, for mail that
// requires it.
var errNoRequireTLS = errors.New("no REQUIRETLS offered")

// rcptOptions is a recipient's DSN parameters for the next host.
func rcptOptions(env *store.QueueEntry, addr string) *smtp.RcptOptions {
	for _, r := range env.Rcpts {
		if r.Addr != addr {
			continue
		}
		opts := &smtp.RcptOptions{}
		switch {
		case r.Notify&store.NotifyNever != 0:
			opts.Notify = []smtp.DSNNotify{smtp.DSNNotifyNever}
		case r.Notify != 0:
			for _, n := range []struct {
				bit store.Notify
				v   smtp.DSNNotify
			}{{store.NotifySuccess, smtp.DSNNotifySuccess}, {store.NotifyFailure, smtp.DSNNotifyFailure}, {store.NotifyDelay, smtp.DSNNotifyDelayed}} {
				if r.Notify&n.bit != 0 {
					opts.Notify = append(opts.Notify, n.v)
				}
			}
		}
		if typ, orig, ok := strings.Cut(r.ORcpt, ";"); ok && strings.EqualFold(typ, "rfc822") {
			opts.OriginalRecipientType, opts.OriginalRecipient = smtp.DSNAddressTypeRFC822, orig
		}
		return opts
	}
	return nil
}
