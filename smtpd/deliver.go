package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"mailroom/store"
)

// deliverLocal files msg in every local recipient's INBOX in one store
// transaction and returns only after it is durable. With status (LMTP),
// every recipient gets the outcome.
func (s *session) deliverLocal(msg []byte, status smtp.StatusCollector) error {
	accts, rcpts := dedupe(s.local, s.rcpts)
	if len(accts) == 0 {
		return nil
	}
	ctx := context.Background()
	st := s.srv.opts.Store
	now := s.srv.opts.Now()
	ds := make([]store.Delivery, 0, len(accts))
	var err error
	for i, a := range accts {
		var inbox *store.Mailbox
		if inbox, err = st.Inbox(ctx, a.Address); err != nil {
			break
		}
		ds = append(ds, store.Delivery{Mailbox: inbox.ID, NewMessage: store.NewMessage{
			InternalDate: now,
			Prefix:       s.deliveryHeaders(rcpts[i], a.Address),
		}})
	}
	if err == nil {
		_, err = st.Deliver(ctx, msg, ds)
	}
	if err != nil {
		s.log.Error("delivery failed", "from", s.from, "rcpts", rcpts, "err", err)
		switch {
		case errors.Is(err, store.ErrTooLarge):
			err = smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "Message too large")
		case errors.Is(err, store.ErrNoSpace):
			err = errNoSpace
		default:
			err = errTempFailure
		}
	} else {
		s.log.Info("delivered", "from", s.from, "rcpts", rcpts, "size", len(msg))
	}
	if status != nil {
		for _, r := range s.rcpts {
			status.SetStatus(r, err)
		}
	}
	return err
}

// deliveryHeaders are the header lines kept with one recipient's copy:
// Return-Path and Delivered-To always, and the Received line on inbound
// listeners, which names that recipient.
func (s *session) deliveryHeaders(rcpt, account string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", s.from)
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", account)
	if s.mode != ModeSubmission {
		b.WriteString(s.received(rcpt))
	}
	return b.Bytes()
}

// received builds a Received header (RFC 5321 §4.4).
func (s *session) received(rcpt string) string {
	with := "ESMTP"
	if s.mode == ModeLMTP {
		with = "LMTP"
	}
	if _, tls := s.conn.TLSConnectionState(); tls {
		with += "S"
	}
	if s.user != nil {
		with += "A"
	}
	helo := s.conn.Hostname()
	if helo == "" {
		helo = "unknown"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (Mailroom) with %s id %s", sanitize(helo), s.remoteIP(), s.srv.opts.Hostname, with, randomID(8))
	if rcpt != "" {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", rcpt)
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", s.srv.opts.Now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	return b.String()
}

// sanitize keeps a client-supplied name from breaking a header line.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f || r == '(' || r == ')' {
			return '_'
		}
		return r
	}, s)
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var wordDecoder = &mime.WordDecoder{}

// prepareSubmission checks From and Sender against the authenticated user
// and adds Received, and Date and Message-ID when the client left them
// out. The client's bytes follow unchanged.
func (s *session) prepareSubmission(msg []byte) ([]byte, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		return nil, smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Message header could not be parsed")
	}
	from := h.Get("From")
	if from == "" {
		return nil, smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Message has no From: header")
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	addrs, err := p.ParseList(from)
	if err != nil || len(addrs) == 0 {
		return nil, smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "From: header could not be parsed")
	}
	for _, a := range addrs {
		owner, err := s.checkSendAs("From: address", a.Address)
		if err != nil {
			return nil, err
		}
		if owner.Address != s.user.Address && s.sentAs == nil {
			s.sentAs = owner
		}
	}
	if sender := h.Get("Sender"); sender != "" {
		a, err := p.Parse(sender)
		if err != nil {
			return nil, smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Sender: header could not be parsed")
		}
		// Sender names who actually sent: the user's own addresses only.
		if owner, ok := s.srv.opts.Directory.Load().Lookup(a.Address); !ok || owner.Address != s.user.Address {
			return nil, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Sender: address <%s> is not an address of %s", a.Address, s.user.Address)
		}
	}
	var add strings.Builder
	add.WriteString(s.received(""))
	if !h.Has("Date") {
		fmt.Fprintf(&add, "Date: %s\r\n", s.srv.opts.Now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	if !h.Has("Message-Id") {
		fmt.Fprintf(&add, "Message-ID: <%s@%s>\r\n", randomID(16), s.srv.opts.Hostname)
	}
	out := make([]byte, 0, add.Len()+len(msg))
	return append(append(out, add.String()...), msg...), nil
}

// fileSentCopy files a message sent as another account (a team address)
// in that account's Sent mailbox, marked read, so the whole team sees the
// reply. The message has been accepted already: a failure here is logged,
// not returned.
func (s *session) fileSentCopy(msg []byte) {
	ctx := context.Background()
	st := s.srv.opts.Store
	owner := s.sentAs.Address
	boxes, err := st.Mailboxes(ctx, owner)
	var sent *store.Mailbox
	for _, m := range boxes {
		if m.SpecialUse == store.SpecialSent {
			sent = m
		}
	}
	if err == nil && sent == nil {
		sent, err = st.CreateMailbox(ctx, owner, "Sent", store.CreateOptions{SpecialUse: store.SpecialSent})
		if errors.Is(err, store.ErrExists) {
			sent, err = st.MailboxByName(ctx, owner, "Sent")
		}
	}
	if err == nil {
		_, err = st.Append(ctx, sent.ID, msg, store.NewMessage{Flags: store.Flags{Sys: store.FlagSeen}, InternalDate: s.srv.opts.Now()}, 0)
	}
	if err != nil {
		s.log.Error("filing the sent copy", "account", owner, "err", err)
		return
	}
	s.log.Info("filed sent copy", "account", owner, "by", s.user.Address)
}
