package smtpd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"mailroom/acl"
	"mailroom/dane"
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
	// RelayTLS is how the relay connection is secured: RelayTLSStartTLS
	// (the default when empty), RelayTLSImplicit or RelayTLSNone. AUTH is
	// sent only over TLS whose certificate was verified.
	RelayTLS string
	// RelayRootCAs verifies the relay's certificate; nil means the
	// system's roots.
	RelayRootCAs *x509.CertPool
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
	// MTASTS finds a recipient domain's MTA-STS policy (RFC 8461); nil
	// means none is looked up. MXRootCAs verify MX certificates where a
	// policy requires it; nil means the system's roots.
	MTASTS    STSPolicies
	MXRootCAs *x509.CertPool
	// DANE looks up validated TLSA records of MX hosts (RFC 7672); nil
	// means DANE is not used.
	DANE *dane.Resolver
	// Observer is told each attempt's outcome (metrics); nil: nobody.
	Observer Observer
}

// Outbound is the queue of mail for remote hosts and its workers.
type Outbound struct {
	opts    OutboundOptions
	log     *slog.Logger
	local   map[string]bool
	wake    chan struct{}
	running sync.Map // store.QueueID -> struct{}: entries being delivered
	// held delays entries whose last attempt failed before its outcome was
	// saved (store.QueueID -> time.Time), so a broken entry is not retried
	// in a tight loop.
	held sync.Map

	mu sync.Mutex
	// perDomain counts the entries being delivered to each recipient
	// domain; Run starts no entry for a domain that already has
	// Workers/2 (at least one), so one slow domain cannot take every
	// worker.
	perDomain map[string]int
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
	if opts.RelayTLS == "" {
		opts.RelayTLS = RelayTLSStartTLS
	}
	o := &Outbound{opts: opts, log: opts.Logger.With("component", "outbound"), local: map[string]bool{}, wake: make(chan struct{}, 1), perDomain: map[string]int{}}
	for _, d := range opts.Domains {
		o.local[strings.ToLower(d)] = true
	}
	return o
}

var _ Queue = (*Outbound)(nil)

// Enqueue DKIM-signs head followed by msg once, if the sender's domain
// has a key, stores it durably and wakes the workers. The signature and
// head are kept beside msg (store.EnqueuePrefixed), so that msg is not
// copied and, when local recipients got it too, it is stored once.
func (o *Outbound) Enqueue(ctx context.Context, from string, rcpts []string, head, msg []byte) error {
	env := &store.QueueEntry{From: from}
	for _, r := range rcpts {
		env.Rcpts = append(env.Rcpts, store.QueueRcpt{Addr: r})
	}
	return o.EnqueueEntry(ctx, env, head, msg)
}

// EnqueueEntry is Enqueue with the envelope's DSN and REQUIRETLS
// parameters (EnvelopeQueue).
func (o *Outbound) EnqueueEntry(ctx context.Context, env *store.QueueEntry, head, msg []byte) error {
	from := env.From
	var prefix []byte
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		if key := o.opts.DKIM[strings.ToLower(from[at+1:])]; key != nil {
			s, err := key.Signature(head, msg)
			if err != nil {
				// An unparsable header cannot be signed; send it as it is.
				o.log.Warn("not signed", "from", from, "err", err)
			} else {
				prefix = []byte(s)
			}
		}
	}
	e, err := o.opts.Store.EnqueueEntry(ctx, env, append(prefix, head...), msg)
	if err != nil {
		return err
	}
	o.log.Info("queued", "id", e.ID, "from", from, "rcpts", e.Pending(), "size", e.Size, "requiretls", e.RequireTLS)
	o.poke()
	return nil
}

// Run delivers due messages until ctx ends. Each due entry gets a worker
// of its own, up to Workers at once, and the loop never waits for a
// delivery: a remote host that stalls holds only the workers of its own
// entries (each for at most Timeout per step), while mail queued meanwhile
// goes out on the others. A finishing worker wakes the loop. When ctx ends,
// connections in progress are closed and Run returns once every worker has.
func (o *Outbound) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, o.opts.Workers)
	for {
		next, err := o.dispatch(ctx, slots, &wg, false)
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
	var wg sync.WaitGroup
	_, err := o.dispatch(ctx, make(chan struct{}, o.opts.Workers), &wg, true)
	wg.Wait()
	if err != nil {
		return time.Time{}, err
	}
	entries, err := o.opts.Store.QueueEntries(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, e := range entries {
		if next.IsZero() || e.Next.Before(next) {
			next = e.Next
		}
	}
	return next, nil
}

// dispatch starts a worker for each due entry not already being
// delivered, while a slot in slots is free; with wait, it waits for a
// slot instead of leaving the rest to the next round. It returns when the
// first entry not yet due falls due.
func (o *Outbound) dispatch(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup, wait bool) (time.Time, error) {
	entries, err := o.opts.Store.QueueEntries(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := o.opts.Now()
	var next time.Time
	for _, e := range entries {
		due := e.Next
		if h, ok := o.held.Load(e.ID); ok && h.(time.Time).After(due) {
			due = h.(time.Time)
		}
		if due.After(now) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		if _, busy := o.running.Load(e.ID); busy {
			continue
		}
		domains := o.destinations(e)
		if !wait && !o.takeDomains(domains) {
			continue // its domain has its share of workers already
		}
		if wait {
			slots <- struct{}{}
		} else {
			select {
			case slots <- struct{}{}:
			default:
				// Every worker is busy; the first to finish wakes Run.
				o.releaseDomains(domains)
				return next, nil
			}
		}
		o.running.Store(e.ID, struct{}{})
		wg.Go(func() {
			defer func() {
				if !wait {
					o.releaseDomains(domains)
				}
				o.running.Delete(e.ID)
				<-slots
				o.poke()
			}()
			if err := o.attempt(ctx, e); err != nil {
				// Not even the outcome could be saved (or the bounce
				// could not be stored): try again later, not at once.
				o.held.Store(e.ID, o.opts.Now().Add(o.opts.RetryInitial))
				o.log.Error("delivery attempt", "id", e.ID, "err", err)
				return
			}
			o.held.Delete(e.ID)
		})
	}
	return next, nil
}

// destinations are the domains of an entry's pending recipients (none
// through a relay, where everything goes to one host anyway).
func (o *Outbound) destinations(e *store.QueueEntry) []string {
	if o.opts.Relay != "" {
		return nil
	}
	var out []string
	for _, r := range e.Pending() {
		d := strings.ToLower(r[strings.LastIndexByte(r, '@')+1:])
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// takeDomains counts an entry against each of its domains, unless one of
// them has its share of workers already.
func (o *Outbound) takeDomains(domains []string) bool {
	share := max(1, o.opts.Workers/2)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range domains {
		if o.perDomain[d] >= share {
			return false
		}
	}
	for _, d := range domains {
		o.perDomain[d]++
	}
	return true
}

func (o *Outbound) releaseDomains(domains []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range domains {
		if o.perDomain[d]--; o.perDomain[d] <= 0 {
			delete(o.perDomain, d)
		}
	}
}

// poke wakes Run.
func (o *Outbound) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// result is the outcome for one recipient.
type result struct {
	perm   bool // failed for good
	ok     bool // delivered
	status string
	text   string
	// relayed: delivered to a host that does not take DSN parameters, so
	// reports stop there (a NOTIFY=SUCCESS gets a "relayed" report).
	relayed bool
}

// attempt tries the pending recipients of one entry, saves their outcome,
// and then tells the sender about permanent failures and expiry. The
// outcome is saved before the bounce is built, so that a bounce that
// cannot be stored (the disk is below its reserve, say) never causes a
// delivered recipient to get the message again: the failed recipients
// wait as RcptBounceDue, and later attempts retry only the bounce.
//
// The message is read into a reused message buffer (see getBuf), given
// back when the attempt is over: nothing keeps it beyond.
func (o *Outbound) attempt(ctx context.Context, e *store.QueueEntry) error {
	buf := getBuf(int(min(max(e.Size, 0), store.MaxBodySize+1<<20))) // bounded: a damaged record must not ask for more
	defer putBuf(buf)
	msg, err := o.opts.Store.AppendQueueContent(ctx, (*buf)[:0], e)
	if err != nil {
		return err
	}
	now := o.opts.Now()
	var relayed []dsnAction // NOTIFY=SUCCESS recipients handed to a host without DSN
	if pending := e.Pending(); len(pending) > 0 {
		results := map[string]result{}
		for _, group := range o.groups(pending) {
			for rcpt, r := range o.deliverGroup(ctx, group, e, msg) {
				results[rcpt] = r
			}
		}
		now = o.opts.Now()
		e.Attempts++
		expired := now.Sub(e.Created) >= o.opts.MaxAge
		for i := range e.Rcpts {
			r := &e.Rcpts[i]
			res, tried := results[r.Addr]
			if r.State != store.RcptPending || !tried {
				continue
			}
			r.LastError, r.Status = res.text, res.status
			o.observe(res, expired, now.Sub(e.Created))
			switch {
			case res.ok:
				r.State, r.Relayed = store.RcptDelivered, res.relayed
				o.log.Info("delivered", "id", e.ID, "from", e.From, "rcpt", r.Addr, "reply", res.text)
				if res.relayed && r.Notify.Wants(store.NotifySuccess) {
					relayed = append(relayed, dsnAction{rcpt: *r, action: "relayed"})
				}
			case res.perm:
				r.State = store.RcptBounceDue
				o.log.Warn("bounced", "id", e.ID, "from", e.From, "rcpt", r.Addr, "reply", res.text)
			case expired:
				r.State = store.RcptBounceDue
				r.Status = "4.4.7"
				r.LastError = "delivery time expired; last error: " + res.text
				o.log.Warn("expired", "id", e.ID, "from", e.From, "rcpt", r.Addr, "reply", res.text)
			default:
				o.log.Info("deferred", "id", e.ID, "from", e.From, "rcpt", r.Addr, "reply", res.text, "attempts", e.Attempts)
			}
		}
		e.Next = now.Add(o.backoff(e.Attempts))
	}
	due := e.BounceDue()
	if len(due) > 0 && len(e.Pending()) == 0 {
		// Only the bounce is left: if it cannot be stored now, it is
		// retried after the first retry delay.
		e.Next = now.Add(o.opts.RetryInitial)
	}
	// The outcome is saved even when ctx ended meanwhile: the remote
	// hosts have the message, and forgetting that would send it again.
	if err := o.opts.Store.UpdateQueueEntry(context.WithoutCancel(ctx), e); err != nil {
		return fmt.Errorf("save delivery results: %w", err)
	}
	if err := o.report(ctx, e, relayed, msg); err != nil {
		o.log.Warn("success report not sent", "id", e.ID, "err", err) // the delivery itself stands
	}
	if len(due) == 0 {
		return nil
	}
	if err := o.bounce(ctx, e, due, msg); err != nil {
		return fmt.Errorf("bounce (retried at %s): %w", e.Next.Format(time.RFC3339), err)
	}
	for i := range e.Rcpts {
		if e.Rcpts[i].State == store.RcptBounceDue {
			e.Rcpts[i].State = store.RcptFailed
		}
	}
	// A crash between the bounce and this save sends the bounce twice,
	// which is better than never.
	return o.opts.Store.UpdateQueueEntry(context.WithoutCancel(ctx), e)
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
func (o *Outbound) deliverGroup(ctx context.Context, rcpts []string, e *store.QueueEntry, msg []byte) map[string]result {
	from := e.From
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
	hosts, tp, failure := o.transportPolicy(ctx, domain, hosts)
	if failure != nil {
		return all(*failure)
	}
	last := result{status: "4.4.1", text: "no host answered"}
	if e.RequireTLS && o.opts.Relay != "" && o.opts.RelayTLS == RelayTLSNone {
		return all(result{perm: true, status: "5.7.30", text: "REQUIRETLS: the relay is reached without TLS"})
	}
	noRequireTLS := 0
	for _, addr := range hosts {
		required, err := tp.tlsFor(ctx, o, addr)
		if err != nil {
			last = result{status: "4.4.3", text: fmt.Sprintf("%s: %v", addr, err)}
			continue
		}
		if e.RequireTLS && required == nil && o.opts.Relay == "" {
			// RFC 8689 §4.2.1: without DANE or MTA-STS, the MX host's
			// certificate must still verify for its name.
			host, _, _ := net.SplitHostPort(addr)
			required = &requiredTLS{cfg: &tls.Config{ServerName: host, RootCAs: o.opts.MXRootCAs, MinVersion: tls.VersionTLS12}, why: "REQUIRETLS"}
		}
		out, err := o.session(ctx, addr, rcpts, from, msg, required, envelopeOf(e, rcpts))
		if errors.Is(err, errNoRequireTLS) {
			noRequireTLS++
		}
		if err == nil {
			return out
		}
		last = result{status: "4.4.1", text: fmt.Sprintf("%s: %v", addr, err)}
		var tlsErr *tlsRequiredError
		var reqErr *requiredTLSError
		if errors.As(err, &tlsErr) || errors.As(err, &reqErr) {
			last = result{status: "4.7.10", text: err.Error()}
		}
		o.log.Info("remote host failed", "host", addr, "err", err)
	}
	if noRequireTLS > 0 && noRequireTLS == len(hosts) {
		// RFC 8689 §5: no host would take it with REQUIRETLS.
		return all(result{perm: true, status: "5.7.30", text: "REQUIRETLS support required: " + last.text})
	}
	return all(last)
}

// envelopeOf is e's DSN parameters for a group of its recipients, as the
// SMTP client passes them on to a host that takes them.
func envelopeOf(e *store.QueueEntry, rcpts []string) *store.QueueEntry {
	env := &store.QueueEntry{Ret: e.Ret, EnvID: e.EnvID, RequireTLS: e.RequireTLS}
	for _, r := range e.Rcpts {
		if slices.Contains(rcpts, r.Addr) {
			env.Rcpts = append(env.Rcpts, r)
		}
	}
	return env
}
