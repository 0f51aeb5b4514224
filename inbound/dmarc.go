package inbound

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// DMARCOutcome is the DMARC evaluation of a message (RFC 7489 §6.6).
type DMARCOutcome struct {
	// Result is pass, fail, none (no record), temperror or permerror.
	Result string
	// Policy is the policy that applies to a failing message, after sp=
	// and pct=: none, quarantine or reject ("" unless Result is fail).
	Policy string
	Reason string
}

// orgDomain is the organisational domain of d (RFC 7489 §3.2): one label
// more than its public suffix, from the public suffix list compiled into
// golang.org/x/net/publicsuffix. A public suffix is its own.
func orgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// aligned reports whether an authenticated domain is aligned with the
// From domain (RFC 7489 §3.1): equal in strict mode, with the same
// organisational domain in relaxed mode.
func aligned(authDomain, from string, mode dmarc.AlignmentMode) bool {
	authDomain = strings.ToLower(strings.TrimSuffix(authDomain, "."))
	if authDomain == from {
		return true
	}
	return mode != dmarc.AlignmentStrict && orgDomain(authDomain) == orgDomain(from)
}

// dmarcRecord is the outcome of the DMARC record lookup.
type dmarcRecord struct {
	rec   *dmarc.Record
	atOrg bool // found at the organisational domain, not the From domain
	err   error
}

// lookupDMARC finds the From domain's record, then its organisational
// domain's (RFC 7489 §6.6.3).
func (c *Checker) lookupDMARC(ctx context.Context, from string) dmarcRecord {
	if from == "" {
		return dmarcRecord{}
	}
	opts := &dmarc.LookupOptions{LookupTXT: c.lookupTXT(ctx)}
	rec, err := dmarc.LookupWithOptions(from, opts)
	if org := orgDomain(from); errors.Is(err, dmarc.ErrNoPolicy) && org != from {
		rec, err = dmarc.LookupWithOptions(org, opts)
		return dmarcRecord{rec: rec, atOrg: true, err: err}
	}
	return dmarcRecord{rec: rec, err: err}
}

// evalDMARC evaluates the record found for the From domain: pass when SPF
// or a DKIM signature passes for an aligned domain; otherwise the
// record's policy, unless a lookup the outcome depends on failed
// temporarily.
func evalDMARC(from string, r dmarcRecord, spf SPFResult, spfDomain string, sigs []*dkim.Verification) DMARCOutcome {
	if from == "" {
		return DMARCOutcome{Result: "permerror", Reason: "no usable From domain"}
	}
	rec, err, atOrg := r.rec, r.err, r.atOrg
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return DMARCOutcome{Result: "none"}
	case dmarc.IsTempFail(err):
		return DMARCOutcome{Result: "temperror", Reason: "DMARC record lookup failed"}
	case err != nil:
		return DMARCOutcome{Result: "permerror", Reason: "bad DMARC record"}
	}
	temp := false
	if aligned(spfDomain, from, rec.SPFAlignment) {
		switch spf {
		case SPFPass:
			return DMARCOutcome{Result: "pass"}
		case SPFTempError:
			temp = true
		}
	}
	for _, s := range sigs {
		if !aligned(s.Domain, from, rec.DKIMAlignment) {
			continue
		}
		if s.Err == nil {
			return DMARCOutcome{Result: "pass"}
		}
		if dkim.IsTempFail(s.Err) {
			temp = true
		}
	}
	if temp {
		return DMARCOutcome{Result: "temperror", Reason: "an aligned check failed temporarily"}
	}
	policy := rec.Policy
	if atOrg && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	// pct (RFC 7489 §6.6.4): outside the sample, one step milder.
	if rec.Percent != nil && *rec.Percent < 100 && rand.IntN(100) >= *rec.Percent {
		switch policy {
		case dmarc.PolicyReject:
			policy = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			policy = dmarc.PolicyNone
		}
	}
	return DMARCOutcome{Result: "fail", Policy: string(policy), Reason: "no aligned SPF or DKIM pass"}
}
