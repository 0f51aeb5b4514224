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
// either reading refuses it. Then Options.Inbound (package inbound) checks
// SPF, DKIM, DMARC and spam (inbound.go): its verdict refuses the message
// (5xx, 4xx), or picks INBOX or \Junk and adds Authentication-Results to
// each copy's prefix; Authentication-Results claiming our host name are
// cut out of the received bytes. It is otherwise stored as received.
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
// Memory: [limits] receiving bounds the bytes of messages being received
// at once over all connections (Options.MaxReceiving). A message takes
// that budget in 64 KiB steps as it arrives and holds it until its reply
// is decided; beyond it DATA gets 452 4.3.1 and the rest of the message is
// dropped as it arrives, not buffered. A client that announces SIZE= is
// refused at MAIL when that does not fit, and otherwise takes its
// announced size at once and gets a buffer of that size; any other
// message is read into pooled chunks and copied once into a buffer of its
// size. Message buffers are reused (readdata.go): in size classes at most
// a quarter larger than the message, given back when the message is
// stored and queued, held weakly so that a collection frees those no
// message took; a stream of large messages then costs one buffer, not
// one buffer of garbage each that the collector lets pile up to the size
// of the live heap. An announced size is never trusted without the budget (a
// client could announce the limit and send nothing). The received
// buffer is the only copy of the message the server makes: the header
// fields submission adds (Received, Date, Message-ID) are kept as a
// separate head, which goes into each local copy's prefix and, with the
// DKIM-Signature, into the queue entry's, so the client's bytes are never
// copied to make room in front of them and are stored once as the body
// shared by every copy. DKIM signing (dkim.go, RFC 6376 relaxed/relaxed)
// reads head and body where they are and canonicalises the body straight
// into the hash; go-msgauth's signer, used before, made two bytes of
// short-lived garbage per byte signed, and is now only the tests'
// verifier (with dkimpy, and FuzzDKIMSignature against it). The store writes large bodies in chunks
// that are slices of that buffer (store's doc.go), so nothing else of the
// message's size is allocated while it is stored.
//
// Outbound queue: each due entry gets a worker of its own, up to
// [outbound] workers at once; the loop that hands out entries never waits
// for a delivery, so a remote host that stalls holds only its own entries'
// workers, each wait on it bounded by the SMTP timeout (every deadline and
// every write of the message), and shutdown closes its connection. No
// recipient domain gets more than half the workers (at least one), so
// many messages for one stalled domain cannot hold them all. After
// an attempt the per-recipient outcome is saved in the queue entry before
// anything else; failed recipients wait as "bounce due" until the bounce
// (DSN) is stored, and later attempts retry only the bounce, so a bounce
// that cannot be stored (a full disk) never sends the message again to
// recipients that took it. A crash between storing the bounce and marking
// it stored sends the bounce twice rather than never.
//
// Smarthost TLS ([outbound] relay_tls): "starttls" (default) and
// "implicit" require TLS with a certificate verified against the system's
// roots or relay_ca_file; "none" is plaintext and never sends AUTH (the
// configuration refuses it together with relay_username). When the
// required TLS cannot be established nothing at all is sent: the entry
// waits with the reason (status 4.7.10) shown by "mailroom queue", and
// bounces only after max_age. Delivery to MX hosts keeps opportunistic
// STARTTLS without verification (as MX hosts do without DANE or MTA-STS),
// unless DANE (package dane: validated TLSA records of the MX host) or an
// MTA-STS policy in enforce mode (package mtasts: only the MX hosts it
// names, with a certificate verified for their name) require TLS
// (tlspolicy.go); then nothing goes without it and the entry waits
// (4.7.10).
//
// LMTP answers per recipient (RFC 2033); the listener is meant for a
// trusted MTA on loopback or a unix socket.
//
// Sieve (sieve.go) runs in deliverLocal per recipient before the commit
// and turns that recipient's one INBOX delivery into the deliveries its
// script asks for, all still in the transaction's one store.Deliver;
// vacation replies, redirects, duplicate marks and error notices wait in
// a list run only after the commit. docs/architecture.md, "Sieve", has
// the decisions.
//
// DSN (RFC 3461) and REQUIRETLS (RFC 8689), dsn.go, dsnsession.go:
//   - EHLO offers DSN and, over TLS, REQUIRETLS. MAIL's RET and ENVID and
//     each RCPT's NOTIFY and ORCPT are queued with the message (store
//     queue record v3) through EnvelopeQueue.
//   - Reports: a failure is reported unless the recipient's NOTIFY leaves
//     FAILURE out (or says NEVER); NOTIFY=SUCCESS gets "delivered" for a
//     local recipient at once, and "relayed" when the next host does not
//     take DSN parameters; one that does gets them passed on and reports
//     itself. RET=FULL returns the message, else its header; ENVID and
//     ORCPT are quoted. DELAY reports are not sent (RFC 3461 leaves them
//     optional).
//   - REQUIRETLS mail is delivered only over TLS whose certificate
//     verifies (DANE or MTA-STS where they apply, else PKIX for the MX
//     name) to a host that offers REQUIRETLS, with the flag passed on; no
//     host offering it is a 5.7.30 bounce; a certificate that does not
//     verify makes it wait. Local delivery needs nothing more.
package smtpd
