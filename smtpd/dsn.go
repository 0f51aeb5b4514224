package smtpd

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"mailroom/store"
)

// bounce tells the sender which recipients failed, with an RFC 3464
// delivery status notification. A bounce is never bounced: failures of
// mail from the null sender are only logged. A local sender gets it in
// their INBOX at once; a remote one through the queue, from <>.
func (o *Outbound) bounce(ctx context.Context, e *store.QueueEntry, failed []store.QueueRcpt, msg []byte) error {
	if e.From == "" {
		o.log.Warn("bounce of a bounce dropped", "id", e.ID)
		return nil
	}
	dsn := o.buildDSN(e, failed, msg)
	at := strings.LastIndexByte(e.From, '@')
	if at > 0 && o.local[strings.ToLower(e.From[at+1:])] && o.opts.Directory != nil {
		if acct, ok := o.opts.Directory.Load().Lookup(e.From); ok {
			inbox, err := o.opts.Store.Inbox(ctx, acct.Address)
			if err != nil {
				return err
			}
			prefix := fmt.Sprintf("Return-Path: <>\r\nDelivered-To: %s\r\n", acct.Address)
			_, err = o.opts.Store.Deliver(ctx, dsn, []store.Delivery{{Mailbox: inbox.ID, NewMessage: store.NewMessage{Prefix: []byte(prefix)}}})
			return err
		}
	}
	_, err := o.opts.Store.Enqueue(ctx, "", []string{e.From}, dsn)
	return err
}

// buildDSN writes a multipart/report (RFC 6522) with a human-readable
// part, the message/delivery-status part (RFC 3464) and the original
// message's header.
func (o *Outbound) buildDSN(e *store.QueueEntry, failed []store.QueueRcpt, msg []byte) []byte {
	now := o.opts.Now()
	boundary := "mailroom-dsn-" + randomID(12)
	host := o.opts.Hostname
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host)
	fmt.Fprintf(&b, "To: <%s>\r\n", e.From)
	b.WriteString("Subject: Undelivered Mail Returned to Sender\r\n")
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", randomID(16), host)
	b.WriteString("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a MIME-encapsulated delivery status notification.\r\n\r\n")

	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
	fmt.Fprintf(&b, "This is the mail system at %s.\r\n\r\n", host)
	b.WriteString("Your message could not be delivered to the following recipients:\r\n\r\n")
	for _, r := range failed {
		fmt.Fprintf(&b, "<%s>: %s\r\n", r.Addr, oneLine(r.LastError))
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", host)
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", e.Created.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	for _, r := range failed {
		status := r.Status
		if status == "" || status[0] == '2' {
			status = "5.0.0"
		}
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: %s\r\n", r.Addr, status)
		if strings.Contains(r.LastError, " said: ") {
			fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", oneLine(r.LastError[strings.Index(r.LastError, " said: ")+7:]))
		} else {
			fmt.Fprintf(&b, "Diagnostic-Code: x-mailroom; %s\r\n", oneLine(r.LastError))
		}
		fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	b.Write(msg[:headerEnd(msg)])
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// headerEnd is the length of msg's header without the empty line.
func headerEnd(msg []byte) int {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return i + 2
	}
	if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		return i + 1
	}
	return len(msg)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
