package smtpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-smtp"

	"mailroom/store"
)

// deliverLocal files head followed by msg in every local recipient's
// INBOX in one store transaction (store.Deliver splits one too large for
// a transaction, a couple of thousand recipients) and returns only after
// it is durable.
// msg is stored as the body, head in each copy's prefix after that
// recipient's own fields. With status (LMTP), every recipient gets the
// outcome.
func (s *session) deliverLocal(head, msg []byte, status smtp.StatusCollector) error {
	accts, rcpts := dedupe(s.local, s.rcpts)
	if len(accts) == 0 {
		return nil
	}
	ctx := context.Background()
	st := s.srv.opts.Store
	now := s.srv.opts.Now()
	ds := make([]store.Delivery, 0, len(accts))
	var err error
	f := s.newFilter() // Sieve (sieve.go)
	for i, a := range accts {
		var inbox *store.Mailbox
		if inbox, err = s.deliveryMailbox(ctx, a.Address); err != nil {
			break
		}
		ds = append(ds, f.filter(ctx, a, rcpts[i], store.Delivery{Mailbox: inbox.ID, NewMessage: store.NewMessage{
			InternalDate: now,
			Prefix:       append(s.deliveryHeaders(rcpts[i], a.Address), head...),
		}}, msg)...)
	}
	if err == nil && len(ds) > 0 {
		_, err = st.Deliver(ctx, msg, ds)
	}
	if err == nil {
		err = f.commit(ctx)
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
		s.log.Info("delivered", append([]any{"from", s.from, "rcpts", rcpts, "size", len(head) + len(msg)}, s.trustLog()...)...)
	}
	if status != nil {
		for j, r := range s.rcpts {
			status.SetStatus(r, f.status(s.local[j], err))
		}
	}
	return f.result(accts, err, status != nil)
}

// deliveryHeaders are the header lines kept with one recipient's copy:
// Return-Path and Delivered-To always, the inbound checks' fields
// (Authentication-Results, spam) and the Received line on inbound
// listeners, which names that recipient.
func (s *session) deliveryHeaders(rcpt, account string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", s.from)
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", account)
	b.Write(s.trustHeader())
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

// prepareSubmission normalises line endings (see normalizeLineEndings),
// checks From and Sender against the authenticated user, and returns the
// fields to add in front of msg: Received, and Date and Message-ID when
// the client left them out. The client's bytes follow, otherwise
// unchanged; they are returned as msg, not copied behind the new fields.
func (s *session) prepareSubmission(msg []byte) (head, body []byte, err error) {
	msg = normalizeInPlace(msg) // msg is the session's own message buffer
	o, err := readOriginator(msg, true)
	if err != nil {
		if errors.Is(err, errHeaderTooLarge) {
			return nil, nil, smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "Message header too large")
		}
		return nil, nil, smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Malformed message header: %v", err)
	}
	if err := o.checkCounts(); err != nil {
		return nil, nil, smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Message refused: %v", err)
	}
	if err := s.checkOriginator(o); err != nil {
		return nil, nil, err
	}
	var add strings.Builder
	add.WriteString(s.received(""))
	if !o.date {
		fmt.Fprintf(&add, "Date: %s\r\n", s.srv.opts.Now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	if !o.messageID {
		fmt.Fprintf(&add, "Message-ID: <%s@%s>\r\n", randomID(16), s.srv.opts.Hostname)
	}
	if s.sentAs != nil && len(o.sender) == 0 {
		// A share with send = "on-behalf": the member is named as the
		// Sender (RFC 5322 §3.6.2), as Exchange's send-on-behalf does.
		dir := s.srv.opts.Directory.Load()
		if me, ok := dir.Lookup(s.user.Address); ok && dir.SendOnBehalf(s.sentAs, me) {
			fmt.Fprintf(&add, "Sender: <%s>\r\n", me.Address)
		}
	}
	return []byte(add.String()), msg, nil
}

// checkOriginator applies the send-as rule to a submitted header that
// has at most one From and one Sender (RFC 5322 §3.6.2): From must be
// there; every mailbox in it must be one the user may send as; a From of
// several mailboxes needs a Sender; and the Sender, one mailbox, must be
// the user's own address or alias.
func (s *session) checkOriginator(o originator) error {
	if len(o.from) == 0 {
		return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Message has no From: header")
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	addrs, err := p.ParseList(unfold(o.from[0]))
	if err != nil || len(addrs) == 0 {
		return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "From: header could not be parsed")
	}
	if len(addrs) > maxOriginators {
		return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "From: header names more than %d mailboxes", maxOriginators)
	}
	if len(addrs) > 1 && len(o.sender) == 0 {
		return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "From: names several mailboxes, so a Sender: header is required (RFC 5322 section 3.6.2)")
	}
	for _, a := range addrs {
		owner, err := s.checkSendAs("From: address", a.Address)
		if err != nil {
			return err
		}
		if owner.Address != s.user.Address && s.sentAs == nil {
			s.sentAs = owner
		}
	}
	if len(o.sender) == 1 {
		list, err := p.ParseList(unfold(o.sender[0]))
		if err != nil || len(list) != 1 {
			return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Sender: header must be exactly one mailbox")
		}
		a := list[0]
		// Sender names who actually sent: the user's own addresses only.
		if owner, ok := s.srv.opts.Directory.Load().Lookup(a.Address); !ok || owner.Address != s.user.Address {
			return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Sender: address <%s> is not an address of %s", a.Address, s.user.Address)
		}
	}
	return nil
}

// checkInbound refuses mail from outside (MX, LMTP) with more than one
// From or Sender field. The header is read leniently, both as it came and
// with bare CRs and LFs taken as line ends, and a message is refused if
// either reading finds a second field: a reader that splits lines either
// way must not see an originator that the other hid.
//
// Only the header is normalised for the second reading (up to where it
// ends when bare CRs and LFs are line ends): the whole message was copied
// before, for a bare LF anywhere in its body.
func checkInbound(msg []byte) error {
	views := [][]byte{msg}
	head := msg[:normalizedHeaderEnd(msg)]
	if n := normalizeLineEndings(head); len(n) != len(head) {
		views = append(views, n)
	}
	for _, v := range views {
		o, err := readOriginator(v, false)
		if err != nil {
			return smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "Message header too large")
		}
		if err := o.checkCounts(); err != nil {
			return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "Message refused: %v", err)
		}
	}
	return nil
}

// normalizedHeaderEnd is the offset in msg just past the empty line that
// ends its header when a bare CR and a bare LF end a line as CRLF does,
// or len(msg) when there is none. Normalising msg up to there gives the
// header normalizeLineEndings(msg) has, and the empty line after it.
func normalizedHeaderEnd(msg []byte) int {
	empty := true // the line so far is empty
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c != '\r' && c != '\n' {
			empty = false
			continue
		}
		if c == '\r' && i+1 < len(msg) && msg[i+1] == '\n' {
			i++
		}
		if empty {
			return i + 1
		}
		empty = true
	}
	return len(msg)
}

// fileSentCopy files a message (head followed by msg) sent as another
// account (a team address) in that account's Sent mailbox, marked read,
// so the whole team sees the reply. The message has been accepted
// already: a failure here is logged, not returned.
func (s *session) fileSentCopy(head, msg []byte) {
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
		// The team's copy names the member who sent it (the team-workflows
		// issue's attribution); nothing outside sees this field.
		prefix := append([]byte("X-Mailroom-Sent-By: "+s.user.Address+"\r\n"), head...)
		_, err = st.Append(ctx, sent.ID, msg, store.NewMessage{Flags: store.Flags{Sys: store.FlagSeen}, InternalDate: s.srv.opts.Now(), Prefix: prefix}, 0)
	}
	if err != nil {
		s.log.Error("filing the sent copy", "account", owner, "err", err)
		return
	}
	s.log.Info("filed sent copy", "account", owner, "by", s.user.Address)
}
