package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/store"
)

// Resolver finds where mail for a domain goes. *net.Resolver satisfies it;
// tests inject a fake that answers with loopback addresses.
type Resolver interface {
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Dialer opens a TCP connection; tests inject one that reaches fakes.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// OutboundOptions configures remote delivery.
type OutboundOptions struct {
	Store     *store.Store
	Directory *acl.Live // to deliver bounces to local senders
	Logger    *slog.Logger
	Hostname  string
	Domains   []string // local domains
	// Resolver and Dial default to the system's.
	Resolver Resolver
	Dial     Dialer
	// Port is the remote SMTP port, 25 unless a test says otherwise.
	Port int
	// Relay sends everything through host:port, with AUTH PLAIN when
	// RelayUsername is set.
	Relay, RelayUsername, RelayPassword string
	// MaxAge is how long a message is retried before it bounces;
	// RetryInitial the first delay, doubled after each attempt up to
	// RetryMax.
	MaxAge, RetryInitial, RetryMax time.Duration
	// Workers bounds concurrent deliveries.
	Workers int
	// DKIM holds the signing key of each local domain that has one.
	DKIM map[string]*DKIMKey
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeout bounds each remote SMTP exchange step.
	Timeout time.Duration
}

// Outbound is the queue of mail for remote hosts and its workers.
type Outbound struct {
	opts    OutboundOptions
	log     *slog.Logger
	local   map[string]bool
	wake    chan struct{}
	running sync.Map // store.QueueID -> struct{}: entries being delivered
}

// NewOutbound returns the queue; Run starts its workers.
func NewOutbound(opts OutboundOptions) *Outbound {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.Port == 0 {
		opts.Port = 25
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.RetryInitial <= 0 {
		opts.RetryInitial = 5 * time.Minute
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 2 * time.Hour
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 5 * 24 * time.Hour
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	o := &Outbound{opts: opts, log: opts.Logger.With("component", "outbound"), local: map[string]bool{}, wake: make(chan struct{}, 1)}
	for _, d := range opts.Domains {
		o.local[strings.ToLower(d)] = true
	}
	return o
}

var _ Queue = (*Outbound)(nil)

// Enqueue DKIM-signs msg once, if the sender's domain has a key, stores it
// durably and wakes the workers.
func (o *Outbound) Enqueue(ctx context.Context, from string, rcpts []string, msg []byte) error {
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		if key := o.opts.DKIM[strings.ToLower(from[at+1:])]; key != nil {
			signed, err := key.Sign(msg)
			if err != nil {
				// An unparsable header cannot be signed; send it as it is.
				o.log.Warn("not signed", "from", from, "err", err)
			} else {
				msg = signed
			}
		}
	}
	e, err := o.opts.Store.Enqueue(ctx, from, rcpts, msg)
	if err != nil {
		return err
	}
	o.log.Info("queued", "id", e.ID, "from", from, "rcpts", rcpts, "size", len(msg))
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run delivers due messages until ctx ends.
func (o *Outbound) Run(ctx context.Context) {
	for {
		next, err := o.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			o.log.Error("queue run", "err", err)
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(o.opts.Now()), time.Second))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-o.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce attempts every due message, Workers at a time, and returns when
// they are done, with the time the next one falls due (zero if none).
func (o *Outbound) RunOnce(ctx context.Context) (time.Time, error) {
	entries, err := o.opts.Store.QueueEntries(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := o.opts.Now()
	sem := make(chan struct{}, o.opts.Workers)
	var wg sync.WaitGroup
	var next time.Time
	for _, e := range entries {
		if e.Next.After(now) {
			if next.IsZero() || e.Next.Before(next) {
				next = e.Next
			}
			continue
		}
		if _, busy := o.running.LoadOrStore(e.ID, struct{}{}); busy {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem; o.running.Delete(e.ID) }()
			if err := o.attempt(ctx, e); err != nil {
				o.log.Error("delivery attempt", "id", e.ID, "err", err)
			}
		})
	}
	wg.Wait()
	// Entries attempted now may be due again soon.
	if entries, err := o.opts.Store.QueueEntries(ctx); err == nil {
		for _, e := range entries {
			if next.IsZero() || e.Next.Before(next) {
				next = e.Next
			}
		}
	}
	return next, nil
}

// result is the outcome for one recipient.
type result struct {
	perm   bool // failed for good
	ok     bool // delivered
	status string
	text   string
}

// attempt tries the pending recipients of one entry and records the
// outcome; permanent failures and expiry are reported to the sender.
func (o *Outbound) attempt(ctx context.Context, e *store.QueueEntry) error {
	msg, err := o.opts.Store.QueueContent(ctx, e)
	if err != nil {
		return err
	}
	results := map[string]result{}
	for _, group := range o.groups(e.Pending()) {
		for rcpt, r := range o.deliverGroup(ctx, group, e.From, msg) {
			results[rcpt] = r
		}
	}
	now := o.opts.Now()
	e.Attempts++
	expired := now.Sub(e.Created) >= o.opts.MaxAge
	var failed []store.QueueRcpt
	for i := range e.Rcpts {
		r := &e.Rcpts[i]
		res, tried := results[r.Addr]
		if r.State != store.RcptPending || !tried {
			continue
		}
		r.LastError, r.Status = res.text, res.status
		switch {
		case res.ok:
			r.State = store.RcptDelivered
			o.log.Info("delivered", "id", e.ID, "from", e.From, "rcpt", r.Addr, "reply", res.text)
		case res.perm:
			r.State = store.RcptFailed
			failed = append(failed, *r)
			o.log.Warn("bounced", "id", e.ID, "from", e.From, "rcpt", r.Addr, "reply", res.text)
		case expired:
			r.State = store.RcptFailed
			r.Status = "4.4.7"
			r.LastError = "delivery time expired; last error: " + res.text
			failed = append(failed, *r)
			o.log.Warn("expired", "id", e.ID, "from", e.From, "rcpt", r.Addr, "reply", res.text)
		default:
			o.log.Info("deferred", "id", e.ID, "from", e.From, "rcpt", r.Addr, "reply", res.text, "attempts", e.Attempts)
		}
	}
	e.Next = now.Add(o.backoff(e.Attempts))
	if len(failed) > 0 {
		if err := o.bounce(ctx, e, failed, msg); err != nil {
			return fmt.Errorf("bounce: %w", err)
		}
	}
	return o.opts.Store.UpdateQueueEntry(ctx, e)
}

// backoff is the delay after the n-th attempt.
func (o *Outbound) backoff(n int) time.Duration {
	d := o.opts.RetryInitial
	for i := 1; i < n && d < o.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, o.opts.RetryMax)
}

// groups splits recipients by domain (all together through a relay).
func (o *Outbound) groups(rcpts []string) [][]string {
	if o.opts.Relay != "" {
		return [][]string{rcpts}
	}
	byDomain := map[string][]string{}
	var order []string
	for _, r := range rcpts {
		d := strings.ToLower(r[strings.LastIndexByte(r, '@')+1:])
		if _, ok := byDomain[d]; !ok {
			order = append(order, d)
		}
		byDomain[d] = append(byDomain[d], r)
	}
	out := make([][]string, len(order))
	for i, d := range order {
		out[i] = byDomain[d]
	}
	return out
}

// hosts returns the host:port addresses to try for a domain, best first.
func (o *Outbound) hosts(ctx context.Context, domain string) ([]string, *result) {
	if o.opts.Relay != "" {
		return []string{o.opts.Relay}, nil
	}
	port := strconv.Itoa(o.opts.Port)
	mxs, err := o.opts.Resolver.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return nil, &result{perm: true, status: "5.1.10", text: "domain " + domain + " accepts no mail (null MX, RFC 7505)"}
	case err == nil && len(mxs) > 0:
		slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
		var out []string
		for _, mx := range mxs {
			out = append(out, net.JoinHostPort(strings.TrimSuffix(mx.Host, "."), port))
		}
		return out, nil
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound, err == nil:
		// No MX: the domain itself is the implicit MX (RFC 5321 §5.1).
		addrs, err := o.opts.Resolver.LookupHost(ctx, domain)
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, &result{perm: true, status: "5.1.2", text: "domain " + domain + " does not exist"}
		}
		if err != nil || len(addrs) == 0 {
			return nil, &result{status: "4.4.3", text: fmt.Sprintf("looking up %s: %v", domain, err)}
		}
		var out []string
		for _, a := range addrs {
			out = append(out, net.JoinHostPort(a, port))
		}
		return out, nil
	}
	return nil, &result{status: "4.4.3", text: fmt.Sprintf("looking up MX of %s: %v", domain, err)}
}

// deliverGroup sends msg to recipients that share a destination.
func (o *Outbound) deliverGroup(ctx context.Context, rcpts []string, from string, msg []byte) map[string]result {
	all := func(r result) map[string]result {
		out := map[string]result{}
		for _, rc := range rcpts {
			out[rc] = r
		}
		return out
	}
	domain := rcpts[0][strings.LastIndexByte(rcpts[0], '@')+1:]
	hosts, failure := o.hosts(ctx, domain)
	if failure != nil {
		return all(*failure)
	}
	last := result{status: "4.4.1", text: "no host answered"}
	for _, addr := range hosts {
		out, err := o.session(ctx, addr, rcpts, from, msg)
		if err == nil {
			return out
		}
		last = result{status: "4.4.1", text: fmt.Sprintf("%s: %v", addr, err)}
		o.log.Info("remote host failed", "host", addr, "err", err)
	}
	return all(last)
}

// session runs one SMTP transaction with addr. A connection-level error
// (refused, timeout, TLS, greeting) is returned so the next host is tried.
func (o *Outbound) session(ctx context.Context, addr string, rcpts []string, from string, msg []byte) (map[string]result, error) {
	host, _, _ := net.SplitHostPort(addr)
	c, err := o.connect(ctx, addr, host)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if o.opts.Relay != "" && o.opts.RelayUsername != "" {
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
	if err := c.Mail(from, nil); err != nil {
		r := reply(err)
		for _, rc := range rcpts {
			out[rc] = r
		}
		return out, nil
	}
	var accepted []string
	for _, rc := range rcpts {
		if err := c.Rcpt(rc, nil); err != nil {
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
			err = w.Close()
		}
	}
	dataErr = err
	r := result{ok: true, status: "2.0.0", text: host + " accepted the message"}
	if dataErr != nil {
		r = reply(dataErr)
	}
	for _, rc := range accepted {
		out[rc] = r
	}
	c.Quit()
	return out, nil
}

// connect opens an SMTP client to addr, with STARTTLS when the server
// offers it. Certificates are not verified: this is opportunistic TLS, as
// between MX hosts, where failing on a self-signed certificate would only
// push the mail to plaintext.
func (o *Outbound) connect(ctx context.Context, addr, host string) (*smtp.Client, error) {
	dial := func() (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, err := o.opts.Dial(dctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		conn.SetDeadline(time.Now().Add(o.opts.Timeout))
		return conn, nil
	}
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(conn)
	if err := c.Hello(o.opts.Hostname); err != nil {
		c.Close()
		return nil, err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return c, nil
	}
	c.Close()
	if conn, err = dial(); err != nil {
		return nil, err
	}
	// The handshake happens in the EHLO after STARTTLS.
	tc, err := smtp.NewClientStartTLS(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err == nil {
		if err = tc.Hello(o.opts.Hostname); err == nil {
			return tc, nil
		}
		tc.Close()
	}
	// A failed negotiation: send in plaintext rather than not at all.
	o.log.Info("STARTTLS failed, sending in plaintext", "host", addr, "err", err)
	if conn, err = dial(); err != nil {
		return nil, err
	}
	c = smtp.NewClient(conn)
	if err := c.Hello(o.opts.Hostname); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
