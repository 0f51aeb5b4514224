package smtpd

import (
	"context"
	"errors"
	"net"

	"github.com/emersion/go-smtp"

	"mailroom/inbound"
	"mailroom/store"
)

// checkTrust runs the inbound checks (package inbound) on a message from
// outside (MX, LMTP; never submission) and returns it with any
// Authentication-Results field that claims this host removed. A message
// refused or deferred gets the checks' SMTP reply; otherwise the verdict
// is kept for deliverLocal: the mailbox (INBOX or \Junk) and the fields
// in front of every copy (see deliveryHeaders).
func (s *session) checkTrust(msg []byte) ([]byte, error) {
	s.trust = nil
	c := s.srv.opts.Inbound
	if c == nil {
		return msg, nil
	}
	v := c.Check(context.Background(), &inbound.Message{IP: s.clientIP(), Helo: s.conn.Hostname(), MailFrom: s.from, Rcpts: s.rcpts, Data: msg, Envelope: s.envChecks})
	switch v.Action {
	case inbound.Reject, inbound.TempFail:
		s.log.Info("refused", append([]any{"from", s.from, "rcpts", s.rcpts, "code", v.Code}, v.LogAttrs()...)...)
		return nil, smtpErr(v.Code, smtp.EnhancedCode(v.Enhanced), "%s", v.Reply)
	}
	s.trust = v
	// The message is in the session's own buffer (see readData): the
	// fields are cut out of it there, without a copy.
	return inbound.StripAuthResults(msg, s.srv.opts.Hostname), nil
}

// beginChecks starts the envelope checks (SPF, DNSBL) of a transaction
// from outside once it has a local recipient, so that their lookups run
// while the client sends the message.
func (s *session) beginChecks() {
	c := s.srv.opts.Inbound
	if c == nil || s.mode == ModeSubmission || s.envChecks != nil {
		return
	}
	s.envChecks = c.Begin(s.clientIP(), s.conn.Hostname(), s.from)
}

// clientIP is the client's address; nil on a unix socket (LMTP).
func (s *session) clientIP() net.IP {
	if a, ok := s.conn.Conn().RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return nil
}

// trustHeader is the fields the checks put in front of each copy.
func (s *session) trustHeader() []byte {
	if s.trust == nil {
		return nil
	}
	return s.trust.Header
}

// trustLog is the checks' verdicts for the delivery's log line.
func (s *session) trustLog() []any {
	if s.trust == nil {
		return nil
	}
	return s.trust.LogAttrs()
}

// deliveryMailbox is where an account's copy goes: its INBOX, or its
// \Junk mailbox when the checks say so (created, named Junk, if the
// account has none; an existing "Junk" without the attribute is used).
func (s *session) deliveryMailbox(ctx context.Context, account string) (*store.Mailbox, error) {
	st := s.srv.opts.Store
	if s.trust == nil || s.trust.Action != inbound.Junk {
		return st.Inbox(ctx, account)
	}
	if _, err := st.Inbox(ctx, account); err != nil { // the account's first mail
		return nil, err
	}
	boxes, err := st.Mailboxes(ctx, account)
	if err != nil {
		return nil, err
	}
	for _, m := range boxes {
		if m.SpecialUse == store.SpecialJunk {
			return m, nil
		}
	}
	m, err := st.CreateMailbox(ctx, account, "Junk", store.CreateOptions{SpecialUse: store.SpecialJunk})
	if errors.Is(err, store.ErrExists) {
		m, err = st.MailboxByName(ctx, account, "Junk")
	}
	return m, err
}
