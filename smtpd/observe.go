package smtpd

import (
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-smtp"
)

// Observer is told what the server does, for metrics. Its methods are
// called on the serving goroutines and must not block. Protocols are
// "mx", "submission" and "lmtp" (Mode.String); a reason is an SMTP
// enhanced status code such as "5.1.1", a small fixed set.
type Observer interface {
	// Connection: a client connected.
	Connection(protocol string)
	// Login: an AUTH ended, accepted or not.
	Login(protocol string, ok bool)
	// Received: a message was accepted (its reply was 250): local
	// recipients' copies are durable, remote ones queued; took is the
	// time from the start of DATA to the reply.
	Received(protocol string, local, remote int, took time.Duration)
	// Rejected: a command of a transaction was refused (stage "mail",
	// "rcpt" or "data").
	Rejected(protocol, stage, reason string)
	// Outbound: a delivery attempt to one remote recipient ended with
	// result "delivered", "deferred", "bounced" or "expired"; queued is
	// the time since the message was queued.
	Outbound(result string, queued time.Duration)
}

// nopObserver is the Observer of a server given none.
type nopObserver struct{}

func (nopObserver) Connection(string)                        {}
func (nopObserver) Login(string, bool)                       {}
func (nopObserver) Received(string, int, int, time.Duration) {}
func (nopObserver) Rejected(string, string, string)          {}
func (nopObserver) Outbound(string, time.Duration)           {}

func (s *Server) observer() Observer {
	if s.opts.Observer == nil {
		return nopObserver{}
	}
	return s.opts.Observer
}

// observeReply reports a refused command of the session's transaction;
// err is what the command returned.
func (s *session) observeReply(stage string, err error) {
	if err == nil {
		return
	}
	s.srv.observer().Rejected(s.mode.String(), stage, reasonOf(err))
}

// startData notes the start of DATA (or LMTP's DATA); the function it
// returns reports its outcome, given the command's error.
func (s *session) startData() func(*error) {
	start := time.Now()
	return func(err *error) {
		if *err != nil {
			s.observeReply("data", *err)
			return
		}
		s.srv.observer().Received(s.mode.String(), len(s.local), len(s.remote), time.Since(start))
	}
}

// reasonOf is the enhanced status code of an SMTP reply, or "other".
func reasonOf(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.EnhancedCode[0] > 0 {
		return fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return "other"
}

// observe reports one recipient's attempt, classified as attempt does.
func (o *Outbound) observe(res result, expired bool, queued time.Duration) {
	obs := o.opts.Observer
	if obs == nil {
		return
	}
	switch {
	case res.ok:
		obs.Outbound("delivered", queued)
	case res.perm:
		obs.Outbound("bounced", queued)
	case expired:
		obs.Outbound("expired", queued)
	default:
		obs.Outbound("deferred", queued)
	}
}
