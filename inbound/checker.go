package inbound

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
)

// maxDKIMSignatures bounds the signatures verified per message; more are
// ignored (and reported as such).
const maxDKIMSignatures = 10

// checkTimeout bounds all the checks of one message: a lookup still
// unanswered then fails as temporary (451), and the client retries.
const checkTimeout = 60 * time.Second

// FromPolicy says what happens to mail from outside whose From is in a
// local domain and that neither passes DKIM for that domain nor passes
// SPF for an aligned envelope domain.
type FromPolicy string

// The FromPolicy values ([[domains]] unauthenticated_from).
const (
	FromReject FromPolicy = "reject" // the default
	FromJunk   FromPolicy = "junk"
	FromAccept FromPolicy = "accept"
)

// Options configures a Checker.
type Options struct {
	Resolver Resolver
	// AuthservID names this host in Authentication-Results (RFC 8601
	// §2.5): the host name.
	AuthservID string
	Logger     *slog.Logger
	// DNSBL zones are asked about the client's address; a listing refuses
	// the message.
	DNSBL []string
	// Rspamd, when set, has every message scanned by rspamd.
	Rspamd *Rspamd
}

// Checker runs the inbound checks. It is safe for concurrent use.
type Checker struct {
	opts  Options
	local atomic.Pointer[map[string]FromPolicy]
}

// New returns a Checker; SetLocalDomains tells it the local domains.
func New(opts Options) *Checker {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Checker{opts: opts}
	c.SetLocalDomains(nil)
	return c
}

// SetLocalDomains replaces the local domains (lower-case) and the policy
// for mail that claims to come from each; a reload calls it.
func (c *Checker) SetLocalDomains(m map[string]FromPolicy) {
	cp := make(map[string]FromPolicy, len(m))
	for d, p := range m {
		if p == "" {
			p = FromReject
		}
		cp[strings.ToLower(d)] = p
	}
	c.local.Store(&cp)
}

// Message is what the checks look at.
type Message struct {
	IP       net.IP
	Helo     string
	MailFrom string // "" for the null sender
	Rcpts    []string
	// User is the authenticated user, if any (told to rspamd).
	User string
	// Data is the message as received. Check does not keep it.
	Data []byte
	// Envelope holds the envelope checks if Begin started them already
	// (for this IP, HELO and MailFrom); nil to run them in Check.
	Envelope *Envelope
}

// Envelope is the checks that need only the envelope (SPF and DNSBL),
// begun when the transaction has its first recipient so that their
// lookups overlap the rest of the transaction instead of adding to the
// wait after the message.
type Envelope struct {
	ip             net.IP
	helo, mailFrom string
	cancel         context.CancelFunc
	done           chan struct{}

	spf       SPFResult
	spfDomain string
	listed    *DNSBLListing
	failed    []string
}

// Begin starts the envelope checks for a transaction. Stop ends them
// when the transaction ends; Check waits for their outcome.
func (c *Checker) Begin(ip net.IP, helo, mailFrom string) *Envelope {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	e := &Envelope{ip: ip, helo: helo, mailFrom: mailFrom, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		var wg sync.WaitGroup
		if len(c.opts.DNSBL) > 0 && ip != nil {
			wg.Go(func() { e.listed, e.failed = checkDNSBL(ctx, c.opts.Resolver, c.opts.DNSBL, ip) })
		}
		e.spf, e.spfDomain, _ = SPF(ctx, c.opts.Resolver, ip, helo, mailFrom)
		wg.Wait()
	}()
	return e
}

// Stop abandons the envelope checks: lookups still running fail at once.
// Safe on nil and more than once.
func (e *Envelope) Stop() {
	if e != nil {
		e.cancel()
	}
}

// matches reports whether e was begun for m's envelope.
func (e *Envelope) matches(m *Message) bool {
	return e != nil && e.ip.Equal(m.IP) && e.helo == m.Helo && e.mailFrom == m.MailFrom
}

// Action is what to do with a message.
type Action int

// The actions, mildest first.
const (
	Accept   Action = iota
	Junk            // deliver to the recipient's \Junk mailbox
	TempFail        // 4xx: try again later
	Reject          // 5xx
)

func (a Action) String() string {
	return [...]string{"accept", "junk", "tempfail", "reject"}[a]
}

// Verdict is the outcome of the checks.
type Verdict struct {
	Action Action
	// Code, Enhanced and Reply are the SMTP reply for TempFail and
	// Reject; the text says what failed, never how we are configured.
	Code     int
	Enhanced [3]int
	Reply    string
	// Header holds the fields to put in front of the message:
	// Authentication-Results and any spam-filter fields, each ending in
	// CRLF.
	Header []byte
	// Why is the check that decided the action ("dmarc", "local-from",
	// "dnsbl", "rspamd"); empty for Accept.
	Why string

	SPF       SPFResult
	SPFDomain string
	DKIM      []string // "pass:d=example.com", one per signature
	From      string   // From domain
	DMARC     DMARCOutcome
	DNSBL     string // the zone that lists the client
	Spam      *SpamResult
	// Took is how long the checks took.
	Took time.Duration
}

// LogAttrs are the verdicts for the delivery's log line.
func (v *Verdict) LogAttrs() []any {
	attrs := []any{"checks_took", v.Took.Round(time.Microsecond), "action", v.Action.String(), "spf", string(v.SPF), "spf_domain", v.SPFDomain, "dkim", strings.Join(v.DKIM, ","),
		"header_from", v.From, "dmarc", v.DMARC.Result}
	if v.DMARC.Policy != "" {
		attrs = append(attrs, "dmarc_policy", v.DMARC.Policy)
	}
	if v.Why != "" {
		attrs = append(attrs, "why", v.Why)
	}
	if v.DNSBL != "" {
		attrs = append(attrs, "dnsbl", v.DNSBL)
	}
	if v.Spam != nil {
		attrs = append(attrs, "spam_action", v.Spam.Action, "spam_score", v.Spam.Score)
		if v.Spam.Err != "" {
			attrs = append(attrs, "spam_error", v.Spam.Err)
		}
	}
	return attrs
}

// decide raises the verdict's action to a, with its reply, unless it is
// already as severe.
func (v *Verdict) decide(a Action, why string, code int, enh [3]int, reply string) {
	if a <= v.Action {
		return
	}
	v.Action, v.Why, v.Code, v.Enhanced, v.Reply = a, why, code, enh, reply
}

// lookupTXT adapts the resolver to go-msgauth's lookup function. The
// error is passed on unwrapped: go-msgauth asserts *net.DNSError and
// net.Error on it directly to tell a missing record from a failure.
func (c *Checker) lookupTXT(ctx context.Context) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		return c.opts.Resolver.LookupTXT(ctx, strings.TrimSuffix(name, ".")+".")
	}
}

// Check runs every check on m and returns the verdict.
func (c *Checker) Check(ctx context.Context, m *Message) *Verdict {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	v := &Verdict{}
	defer func() { v.Took = time.Since(start) }()
	fields := headerFields(m.Data)
	v.From = fromDomain(m.Data, fields)
	env := m.Envelope
	if !env.matches(m) {
		env = c.Begin(m.IP, m.Helo, m.MailFrom)
		defer env.Stop()
	}
	// The lookups of the checks are independent: they run at once, so a
	// message waits for the slowest, not for their sum. DKIM, the one
	// that computes most, runs here (a new goroutine would grow its
	// stack for it on every message).
	var rec dmarcRecord
	dmarcDone := make(chan struct{})
	go func() {
		defer close(dmarcDone)
		rec = c.lookupDMARC(ctx, v.From)
	}()
	sigs, sigsErr := dkim.VerifyWithOptions(bytes.NewReader(m.Data), &dkim.VerifyOptions{LookupTXT: c.lookupTXT(ctx), MaxVerifications: maxDKIMSignatures})
	<-dmarcDone
	<-env.done
	v.SPF, v.SPFDomain = env.spf, env.spfDomain

	for _, f := range env.failed {
		c.opts.Logger.Warn("dnsbl lookup failed", "err", f)
	}
	if env.listed != nil {
		v.DNSBL = env.listed.Zone
		v.decide(Reject, "dnsbl", 554, [3]int{5, 7, 1}, fmt.Sprintf("Client address %s is listed by %s", m.IP, env.listed.Zone))
	}
	var results []authres.Result
	spfRes := &authres.SPFResult{Value: authres.ResultValue(v.SPF)}
	if m.MailFrom != "" {
		spfRes.From = m.MailFrom
	} else {
		spfRes.Helo = m.Helo
	}
	results = append(results, spfRes)

	if sigsErr != nil && sigsErr != dkim.ErrTooManySignatures {
		// The header could not be read; no signature is counted.
		sigs = nil
	}
	if len(sigs) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
		v.DKIM = []string{"none"}
	}
	for _, s := range sigs {
		r := dkimResult(s.Err)
		results = append(results, &authres.DKIMResult{Value: r, Domain: s.Domain, Identifier: s.Identifier})
		v.DKIM = append(v.DKIM, string(r)+":d="+s.Domain)
	}

	v.DMARC = evalDMARC(v.From, rec, v.SPF, v.SPFDomain, sigs)
	results = append(results, &authres.DMARCResult{Value: authres.ResultValue(v.DMARC.Result), From: v.From})
	switch {
	case v.DMARC.Result == "temperror":
		v.decide(TempFail, "dmarc", 451, [3]int{4, 4, 3}, "Temporary DNS failure checking the sender's DMARC policy, try again later")
	case v.DMARC.Result == "fail" && v.DMARC.Policy == "reject":
		v.decide(Reject, "dmarc", 550, [3]int{5, 7, 1}, fmt.Sprintf("Message refused by the DMARC policy of %s", v.From))
	case v.DMARC.Result == "fail" && v.DMARC.Policy == "quarantine":
		v.decide(Junk, "dmarc", 0, [3]int{}, "")
	}
	c.checkLocalFrom(v, sigs)

	if c.opts.Rspamd != nil && v.Action < TempFail {
		v.Spam = c.opts.Rspamd.Check(ctx, m)
		c.applySpam(v)
	}
	var h bytes.Buffer
	h.WriteString(formatAuthResults(c.opts.AuthservID, results))
	if v.Spam != nil {
		h.Write(v.Spam.Header)
	}
	v.Header = h.Bytes()
	return v
}

// checkLocalFrom refuses mail from outside whose From is in a local
// domain unless DKIM passes for that domain or SPF passes for an aligned
// envelope domain, whatever the domain publishes in DMARC: nobody outside
// may write as us.
func (c *Checker) checkLocalFrom(v *Verdict, sigs []*dkim.Verification) {
	policy, local := (*c.local.Load())[v.From]
	if !local || policy == FromAccept {
		return
	}
	temp := false
	if aligned(v.SPFDomain, v.From, "r") {
		switch v.SPF {
		case SPFPass:
			return
		case SPFTempError:
			temp = true
		}
	}
	for _, s := range sigs {
		if aligned(s.Domain, v.From, "r") {
			if s.Err == nil {
				return
			}
			temp = temp || dkim.IsTempFail(s.Err)
		}
	}
	switch {
	case temp:
		v.decide(TempFail, "local-from", 451, [3]int{4, 4, 3}, "Temporary DNS failure checking the sender, try again later")
	case policy == FromJunk:
		v.decide(Junk, "local-from", 0, [3]int{}, "")
	default:
		v.decide(Reject, "local-from", 550, [3]int{5, 7, 1}, fmt.Sprintf("From: address in %s is not authenticated; this domain's mail comes from its own servers", v.From))
	}
}

// dkimResult maps a verification error to its RFC 8601 result.
func dkimResult(err error) authres.ResultValue {
	switch {
	case err == nil:
		return authres.ResultPass
	case dkim.IsTempFail(err):
		return authres.ResultTempError
	case dkim.IsPermFail(err):
		return authres.ResultPermError
	}
	return authres.ResultFail
}
