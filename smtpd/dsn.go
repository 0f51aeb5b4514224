package smtpd

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"mailroom/acl"
	"mailroom/store"
)

// Delivery status notifications (RFC 3464) for the submitter: failures
// (bounces), and, where the submitter asked with NOTIFY=SUCCESS (RFC
// 3461), delivery to a local mailbox ("delivered") and hand-over to a
// host that does not pass DSNs on ("relayed"). NOTIFY=NEVER, or a NOTIFY
// without FAILURE, silences the bounce; RET=HDRS returns only the header
// (also the default), RET=FULL the whole message; ENVID and ORCPT are
// quoted back. A report is never about a report: nothing is sent to the
// null sender.

// dsnAction is one line of a report: a recipient and what became of it.
type dsnAction struct {
	rcpt   store.QueueRcpt
	action string // "failed", "delivered", "relayed"
}

// report is what a DSN needs of the message and its envelope.
type report struct {
	hostname string
	from     string
	arrived  time.Time
	ret      string
	envID    string
	msg      []byte
	now      time.Time
}

// build writes a multipart/report (RFC 6522): a human-readable part, the
// message/delivery-status part (RFC 3464), and the original message's
// header or, with RET=FULL, the message.
func (r *report) build(actions []dsnAction) []byte {
	boundary := "mailroom-dsn-" + randomID(12)
	host := r.hostname
	failed := false
	for _, a := range actions {
		failed = failed || a.action == "failed"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host)
	fmt.Fprintf(&b, "To: <%s>\r\n", r.from)
	if failed {
		b.WriteString("Subject: Undelivered Mail Returned to Sender\r\n")
	} else {
		b.WriteString("Subject: Successful Mail Delivery Report\r\n")
	}
	fmt.Fprintf(&b, "Date: %s\r\n", r.now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", randomID(16), host)
	b.WriteString("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a MIME-encapsulated delivery status notification.\r\n\r\n")

	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
	fmt.Fprintf(&b, "This is the mail system at %s.\r\n\r\n", host)
	for _, a := range actions {
		switch a.action {
		case "failed":
			fmt.Fprintf(&b, "Your message could not be delivered to <%s>: %s\r\n", a.rcpt.Addr, oneLine(a.rcpt.LastError))
		case "delivered":
			fmt.Fprintf(&b, "Your message was delivered to <%s>.\r\n", a.rcpt.Addr)
		case "relayed":
			fmt.Fprintf(&b, "Your message for <%s> was handed to %s, which sends no further reports.\r\n", a.rcpt.Addr, oneLine(a.rcpt.LastError))
		}
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", host)
	if r.envID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", oneLine(r.envID))
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", r.arrived.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	for _, a := range actions {
		rc := a.rcpt
		b.WriteString("\r\n")
		if rc.ORcpt != "" {
			fmt.Fprintf(&b, "Original-Recipient: %s\r\n", oneLine(rc.ORcpt))
		}
		status := rc.Status
		switch {
		case a.action != "failed":
			status = "2.0.0"
		case status == "" || status[0] == '2':
			status = "5.0.0"
		}
		fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", rc.Addr, a.action, status)
		if a.action == "failed" {
			if i := strings.Index(rc.LastError, " said: "); i >= 0 {
				fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", oneLine(rc.LastError[i+7:]))
			} else {
				fmt.Fprintf(&b, "Diagnostic-Code: x-mailroom; %s\r\n", oneLine(rc.LastError))
			}
		}
		fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", r.now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	if r.ret == "FULL" {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/rfc822\r\n\r\n", boundary)
		b.Write(r.msg)
		if !bytes.HasSuffix(r.msg, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	} else {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
		b.Write(r.msg[:headerEnd(r.msg)])
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// sendReport delivers a report to the submitter: into their INBOX when
// the address is a local account's, else through the queue from <>.
func sendReport(ctx context.Context, st *store.Store, dir *acl.Live, isLocal func(domain string) bool, to string, dsn []byte) error {
	at := strings.LastIndexByte(to, '@')
	if at > 0 && isLocal(strings.ToLower(to[at+1:])) && dir != nil {
		if acct, ok := dir.Load().Lookup(to); ok {
			inbox, err := st.Inbox(ctx, acct.Address)
			if err != nil {
				return err
			}
			prefix := fmt.Sprintf("Return-Path: <>\r\nDelivered-To: %s\r\n", acct.Address)
			_, err = st.Deliver(ctx, dsn, []store.Delivery{{Mailbox: inbox.ID, NewMessage: store.NewMessage{Prefix: []byte(prefix)}}})
			return err
		}
	}
	_, err := st.Enqueue(ctx, "", []string{to}, dsn)
	return err
}

// bounce tells the sender which recipients failed (those that asked for
// no failure report are left out). A bounce is never bounced: failures of
// mail from the null sender are only logged.
func (o *Outbound) bounce(ctx context.Context, e *store.QueueEntry, failed []store.QueueRcpt, msg []byte) error {
	if e.From == "" {
		o.log.Warn("bounce of a bounce dropped", "id", e.ID)
		return nil
	}
	var actions []dsnAction
	for _, r := range failed {
		if r.Notify.Wants(store.NotifyFailure) {
			actions = append(actions, dsnAction{rcpt: r, action: "failed"})
		}
	}
	return o.report(ctx, e, actions, msg)
}

// report sends a DSN about e's recipients, if there is anything to say.
func (o *Outbound) report(ctx context.Context, e *store.QueueEntry, actions []dsnAction, msg []byte) error {
	if len(actions) == 0 || e.From == "" {
		return nil
	}
	r := report{hostname: o.opts.Hostname, from: e.From, arrived: e.Created, ret: e.Ret, envID: e.EnvID, msg: msg, now: o.opts.Now()}
	return sendReport(ctx, o.opts.Store, o.opts.Directory, func(d string) bool { return o.local[d] }, e.From, r.build(actions))
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
