package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// vacation (RFC 5230) with :seconds (RFC 6131).

const (
	defaultVacationDays = 7
	minVacationPeriod   = time.Second // :seconds 0 is raised to this (RFC 6131 §2 lets us)
	maxVacationDays     = 90
)

// vacationAction decides whether the message may be answered at all and
// records the action; the once-per-period rule is the caller's, keyed by
// Vacation.Key, since only the caller has storage.
func (in *interp) vacationAction(f *frame, c *instr) error {
	v := &Vacation{
		Subject: in.expand(f, c.tags["subject"].str()),
		From:    in.expand(f, c.tags["from"].str()),
		Mime:    c.has("mime"),
	}
	reason := in.expand(f, c.args[0].str())
	period := defaultVacationDays * 24 * time.Hour
	if d, ok := c.tags["days"]; ok {
		days := min(max(d.num, 1), maxVacationDays)
		period = time.Duration(days) * 24 * time.Hour
	}
	if s, ok := c.tags["seconds"]; ok {
		period = max(time.Duration(min(s.num, maxVacationDays*86400))*time.Second, minVacationPeriod)
	}
	v.Period = period
	v.Handle = in.expand(f, c.tags["handle"].str())
	if v.Handle == "" {
		// RFC 5230 §4.2: without :handle, the reason and the other
		// arguments identify the vacation.
		h := sha256.Sum256([]byte(reason + "\x00" + v.Subject + "\x00" + v.From))
		v.Handle = hex.EncodeToString(h[:8])
	}
	sender := in.env.Envelope.From
	v.To = sender
	v.Key = v.Handle + "\x00" + strings.ToLower(sender)
	if ids := in.headerValues("Message-ID", false); len(ids) > 0 {
		v.InReplyTo = ids[0]
	}
	if subj := in.headerValues("Subject", true); len(subj) > 0 {
		v.OrigSubject = subj[0]
	}
	own := append(append([]string(nil), in.env.UserAddresses...), in.expandList(f, c.tags["addresses"].strs)...)
	if why := in.noReplyReason(sender, own); why != "" {
		in.res.Notes = append(in.res.Notes, "vacation not sent: "+why)
		return nil
	}
	return in.act(c, Action{Kind: ActVacation, Reason: reason, Vacation: v})
}

// noReplyReason applies RFC 5230 §4.5-§4.6 and RFC 3834: no answer to
// the null sender, to ourselves, to automatic mail or lists, nor to mail
// that was not addressed to us by name.
func (in *interp) noReplyReason(sender string, own []string) string {
	ls := strings.ToLower(sender)
	local, _, _ := strings.Cut(ls, "@")
	switch {
	case sender == "":
		return "null sender"
	case local == "mailer-daemon" || local == "postmaster" || strings.HasPrefix(local, "owner-") ||
		strings.HasSuffix(local, "-request") || strings.HasPrefix(local, "bounce"):
		return "sender is a system address"
	}
	for _, a := range own {
		if strings.EqualFold(a, sender) {
			return "sender is the user"
		}
	}
	for _, v := range in.headerValues("Auto-Submitted", false) {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]), "no") {
			return "message is auto-submitted"
		}
	}
	for _, v := range in.headerValues("Precedence", false) {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "bulk", "list", "junk":
			return "message has Precedence " + v
		}
	}
	for _, h := range in.header {
		if n := strings.ToLower(h.Name); n == "list-id" || n == "list-unsubscribe" || n == "list-post" {
			return "message is from a list"
		}
	}
	// §4.5: only when one of our addresses is in a recipient field.
	for _, name := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range in.headerValues(name, true) {
			for _, a := range parseAddresses(v) {
				for _, o := range own {
					if strings.EqualFold(a, o) {
						return ""
					}
				}
			}
		}
	}
	return "none of the user's addresses is a recipient"
}
