// Package imapd is Mailroom's IMAP server (RFC 3501 IMAP4rev1 and RFC 9051
// IMAP4rev2, with the extensions its CAPABILITY lists): the options and
// registry cmd/mailroom wires, in front of Mailroom's own protocol engine.
// The engine is in three packages, each with its own decisions in doc.go:
//
//   - imapd/proto: the decoder (commands into values, with limits on line
//     and literal size, nesting and number of values; no recursion) and
//     the encoder (atom, quoted string, literal or literal8, chosen by
//     content), modified UTF-7, sequence sets;
//   - imapd/part: a stored message as a tree of MIME parts, as offsets into
//     its bytes; ENVELOPE, BODYSTRUCTURE, body sections and BINARY;
//   - imapd/engine: the connection loop, per-state dispatch and one file
//     per command family, over store and acl.
//
// Decisions that hold across them:
//
// Live updates: the store publishes each committed change in commit order
// per mailbox (Registry.Publish). A session with the mailbox selected
// keeps its own sequence numbering and the changes not yet told, by UID
// (bounded by the mailbox's size); it tells them after each command,
// EXPUNGE only where RFC 9051 §7.5.1 allows (not during FETCH, STORE or
// SEARCH by number), and at once in IDLE. A session's own flag changes
// are tagged (store.WithOrigin) so it is not sent a duplicate FETCH.
// \Recent (IMAP4rev1) is claimed by the first session to select a mailbox
// after the message arrived, kept in memory: after a restart only new mail
// is recent. IMAP4rev2 sessions (ENABLE IMAP4rev2) see no \Recent.
//
// Errors: store and acl sentinels become NO with RFC 5530 response codes
// in one table (engine/response.go); anything else is logged and
// answered NO [SERVERBUG]. Syntax errors and limits are BAD; a command
// over the limits is refused before its literals are asked for, a line
// over them ends the connection with BYE [LIMIT] and nothing after it is
// read. A panic ends one connection, never the server.
//
// Namespaces and rights (RFC 2342, RFC 4314): other accounts' mailboxes
// are Other Users/<address>/<name>, team accounts' Shared/<address>/<name>.
// Each command resolves its mailbox and evaluates rights anew against the
// current directory, so revocations and reloads reach open sessions.
// Rights per command follow RFC 4314 §4: l to see, r for SELECT/EXAMINE/
// STATUS/FETCH/SEARCH, s/w/t for the flags they govern (flags the user may
// not change are left as they were), i for APPEND and COPY/MOVE into, t
// and e to MOVE out, e for EXPUNGE, k on the parent to CREATE or RENAME
// into another user's tree, x to DELETE or RENAME away, a for the ACL
// commands. Without l a mailbox answers exactly as a missing one, whatever
// other rights are held (docs/architecture.md). Flags are per message, so
// \Seen on a shared mailbox is the team's.
//
// Revocation (modelled on Dovecot and Cyrus, which treat a selected
// mailbox deleted under a session as gone): before any update of the
// selected mailbox is sent, the user's rights are evaluated again. Once
// "l" or "r" is gone the selection is withdrawn for good: no more EXISTS,
// EXPUNGE or FETCH of it, commands on it answer NO [NOPERM], IDLE stays
// silent until DONE, CLOSE or UNSELECT leave it. The connection stays open
// (BYE is kept for the RFC 9051 §7.1.5 cases).
//
// SELECT is READ-ONLY when the user holds none of "s", "w", "t", "i" and
// "e", as EXAMINE always is. CLOSE always succeeds and leaves the mailbox
// (RFC 9051 §6.4.2); it expunges only in a read-write selection and with
// "e".
//
// Outsiders: an account that could never share with the user (another
// group, or a plan without sharing) is treated as if it did not exist, in
// mailbox names and as an ACL identifier; so is a group the owner is not
// in: the same code and text as for a made-up one.
//
// Every command runs under a context cancelled when the connection ends,
// and, while it runs, when the client hangs up (internal/hangup): an
// abandoned SEARCH or FETCH stops at the next message. FETCH reads only
// the records asked for; SEARCH BODY/TEXT decode each message's text once
// and match it in linear time.
//
// Messages are served as they are: a section is the exact stored bytes;
// a literal never carries NUL, so BODY[] sends NUL as 0x80 (as Dovecot
// does) and BINARY[] the exact octets in a literal8.
package imapd
