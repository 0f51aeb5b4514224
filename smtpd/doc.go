// Package smtpd is Mailroom's SMTP side: the inbound MX, authenticated
// submission, LMTP, and local delivery, on github.com/emersion/go-smtp.
//
// Relay rules (never an open relay): on MX and LMTP a recipient must be an
// account or alias of a local domain (550 5.1.1 otherwise) and anything
// else is refused with 554 5.7.1. The decision rests on the domain after
// the last '@' of the path, with a trailing dot dropped and case folded;
// source routes are ignored (RFC 5321 §4.1.1.3), so "@a:b@c" is b@c,
// "user%other@local" and "\"x@remote\"@local" are merely unknown local
// parts, and address literals are never local.
//
// Submission requires AUTH (PLAIN or LOGIN, only over TLS unless the
// listener allows insecure auth). Send-as (RFC 5322 §3.6.2 applied to
// what one user may claim):
//   - Line endings are normalised first: every bare CR and bare LF
//     becomes CRLF, so the header that is checked is the header every
//     reader sees, whichever way it splits lines, and what is signed and
//     relayed has no "<CR>.<CRLF>" for a remote server to take as the end
//     of the message. Only that is changed in the client's bytes.
//   - The header is read by scanHeader (header.go): field names compared
//     case-insensitively, the obsolete "From :" form understood, with
//     limits (1 MiB, 10,000 fields; 552 5.3.4 beyond). A line that is
//     neither a field nor a continuation is refused (550 5.6.0): a reader
//     that skipped it might see fields this one did not.
//   - Exactly one From and at most one Sender, else 550 5.6.0 naming the
//     field. The envelope sender and every From mailbox must be an
//     address the user may send as: their own, an alias, or an account on
//     whose INBOX they hold "p" (550 5.7.1 naming the address). A From of
//     several mailboxes (at most 50) needs a Sender (550 5.6.0), and a
//     Sender, one mailbox, must be the user's own address or alias.
//
// Submission adds Received, and Date and Message-ID when missing, in
// front of the client's bytes. Remote recipients go to the outbound queue
// (DKIM signing normalises line endings too, for any other caller).
//
// Mail from outside (MX, LMTP) with more than one From or Sender is
// refused with 550 5.6.0; its header is read leniently, both as received
// and with bare CRs and LFs as line ends, and a second field found by
// either reading refuses it. It is otherwise stored as received. (Whether
// the one From is true is the inbound-trust checks' business.)
//
// Message size: limits.message_size is one inclusive limit for DATA,
// BDAT and a declared SIZE= (552 5.3.4 above it). The session enforces
// it, not go-smtp, whose DATA reader refuses a message of exactly its
// limit; so EHLO advertises SIZE without a number (RFC 1870 allows it).
//
// Local delivery: all local recipients of a message are delivered in one
// store transaction (one stored body), and DATA is answered only after it
// is durable. Each copy carries its own Return-Path and Delivered-To (and,
// on MX/LMTP, the Received line naming that recipient) as a per-delivery
// prefix kept outside the shared body. Two recipients that are the same
// account (an address and its alias) get one copy. A mailbox at or over
// its plan's quota is refused at RCPT with 452 4.2.2; a message that
// passes RCPT is delivered even if it takes the mailbox past the quota.
//
// postmaster@ every local domain is an alias that cmd/mailroom adds to the
// configured account (config.Postmasters), so it is matched like any
// address, case-insensitively; the bare <Postmaster> of RFC 5321 §4.1.1.3
// is postmaster@ the host name when that is a local domain, else @ the
// first local domain.
//
// LMTP answers per recipient (RFC 2033); the listener is meant for a
// trusted MTA on loopback or a unix socket.
package smtpd
