// Package imapd is Mailroom's IMAP server: go-imap/v2's imapserver handles
// the wire protocol, and a session here implements each command over the
// store (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1, with the extensions in
// Server.caps).
//
// Live updates: the store publishes each committed change (Registry.Publish)
// in commit order per mailbox. The registry keeps, for every mailbox some
// session has selected, the current UID list and a go-imap MailboxTracker;
// each session has a SessionTracker that translates sequence numbers
// between its view and the current one. Changes are applied idempotently by
// UID, so a SELECT that loads the list while a commit is being published
// sees each message once. A session's own flag changes are tagged with its
// tracker (store.WithOrigin) so it is not sent a duplicate FETCH.
//
// Errors: store sentinels become NO with RFC 5530 response codes
// (NONEXISTENT, ALREADYEXISTS, HASCHILDREN, OVERQUOTA, TRYCREATE, ...);
// anything else is logged and answered with a generic SERVERBUG NO.
//
// Namespaces and rights (RFC 2342, RFC 4314): other accounts' mailboxes
// are Other Users/<address>/<name>, team accounts' Shared/<address>/<name>.
// Each command resolves its mailbox and evaluates rights anew against the
// current directory (acl.Directory.Rights), so revocations and reloads
// reach open sessions. Rights per command follow RFC 4314 §4: l to see,
// r for SELECT/EXAMINE/STATUS/FETCH/SEARCH, s/w/t for the flags they
// govern (flags the user may not change are left as they were), i for
// APPEND and COPY/MOVE into, t and e to MOVE out, e for EXPUNGE, k on the
// parent to CREATE or RENAME into another user's tree, x to DELETE or
// RENAME away, a for the ACL commands. Without l a mailbox answers exactly
// as a missing one, whatever other rights are held (docs/architecture.md). Flags are
// per message, so \Seen on a shared mailbox is the team's.
//
// Revocation (RFC 4314 gives no rule; modelled on Dovecot and Cyrus, which
// treat a selected mailbox deleted under a session as gone): before any
// update of the selected mailbox is sent (after a command, in NOOP, in
// IDLE after each change) a delegate's rights are evaluated again. Once
// "l" or "r" is gone (SETACL, DELETEACL, mailroom acl revoke, a reload),
// the selection is withdrawn for good: no more EXISTS, EXPUNGE or FETCH of
// it, commands on it answer NO [NOPERM], IDLE stays silent until DONE, and
// CLOSE or UNSELECT leave it. The connection stays open (BYE is kept for
// the RFC 9051 §7.1.5 cases); a new SELECT is needed even if access comes
// back.
//
// SELECT is READ-ONLY when the user holds none of "s", "w", "t", "i" and
// "e" (RFC 4314 §4, \Seen being shared here), as EXAMINE always is; a
// read-only selection changes no flags, not even \Seen by FETCH. go-imap
// always answers SELECT with READ-WRITE, so codeConn rewrites that one
// response code. CLOSE always succeeds and leaves the mailbox (RFC 9051
// §6.4.2); it expunges only in a read-write selection and with "e".
//
// Outsiders: an account that could never share with the user (another
// group, or a plan without sharing) is treated as if it did not exist, in
// mailbox names and as an ACL identifier; so is a group the owner is not
// in. A user of another group gets the same code and text for an existing
// address, a team account or a group as for a made-up one.
//
// Every command runs under a context (session.ctx) that is cancelled when
// the connection ends, and while the command runs, when the client hangs
// up (see hangup.go): an abandoned SEARCH or FETCH stops at the next
// message. SEARCH BODY/TEXT fold the text once per message (Unicode simple
// folding) and search it with bytes.Index: linear in the message size.
//
// The extension layer (conn.go) answers ID and the ACL family, terminates
// STARTTLS and coalesces output; see extConn.
//
// Input limits (wire.go): the layer reads every command whole before
// go-imap or its own parser sees it, and refuses, without parsing, one
// nested more than 100 lists deep (BAD), with an argument literal over
// 4 KiB or 64 KiB of them (NO [TOOBIG], before any "+"), or over 48 KiB
// of lines (BYE [LIMIT]; nothing more of that connection is read). Before
// login only CAPABILITY, NOOP, LOGOUT, STARTTLS, AUTHENTICATE, LOGIN and
// ID are read at all. A refused non-synchronizing literal (RFC 7888 §4)
// is read and thrown away with the rest of its command, up to 64 MiB,
// then refused; past that the connection is closed with BYE [TOOBIG].
// go-imap answers its untyped parse errors with NO [SERVERBUG] "Internal
// server error"; when it has not handed the command to the session
// (enteredSession), the layer turns that response into BAD [CLIENTBUG].
//
// Output: the layer follows go-imap's responses line by line and never
// looks into a literal; it rewrites CAPABILITY only in "* CAPABILITY"
// responses and in the response code of a status response, never in
// message data such as an ENVELOPE Subject.
//
// Messages that do not parse are stored and served as they are: ENVELOPE
// and BODYSTRUCTURE fall back to empty or text/plain values rather than
// failing the command.
package imapd
