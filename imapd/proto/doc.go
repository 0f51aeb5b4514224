// Package proto is the syntax layer of Mailroom's IMAP engine: a decoder
// that reads client commands into typed values, and an encoder that writes
// responses. It knows IMAP's lexical rules (RFC 9051 §4 and §9, RFC 3501
// for IMAP4rev1 clients, RFC 7888 LITERAL+/LITERAL-, RFC 3516 literal8,
// RFC 6855 UTF-8) and nothing of commands' meaning, mailboxes or users:
// imapd's command files give arguments their meaning.
//
// Decisions:
//
//   - One generic shape for arguments (atom, quoted, literal, list), read
//     for the whole command before it runs. Command handlers then check
//     their own grammar on values, with no I/O in between; a bracketed
//     section ("BODY[HEADER.FIELDS (To)]<0.9>") stays inside its atom.
//   - Limits (limits.go) are enforced while reading: line length, literal
//     size, total command size, list nesting and the number of values.
//     Lists are built with an explicit stack, so no input recurses.
//   - A synchronizing literal is asked for ("+") only after Hooks.Begin has
//     allowed the command in the connection's state and Hooks.Literal its
//     size; a refused one gets a tagged answer instead and the client never
//     sends it. A refused non-synchronizing literal is read and dropped up
//     to Limits.Discard, so the stream stays in step; past that, or for a
//     line over the limit, the error is Fatal: BYE and close, and nothing
//     more of that connection is read (hardening issue, point 4).
//   - Empty lines between commands are ignored, as other servers do; a
//     bare LF ends a line as CRLF does.
//   - The encoder picks the form of every string: quoted when short and
//     printable (UTF-8 only after ENABLE UTF8=ACCEPT), else a literal. No
//     string carries NUL (it becomes U+FFFD); message content with NUL goes
//     as literal8 (BINARY) and callers check HasNUL for plain literals.
//   - Mailbox names in modified UTF-7 (RFC 3501 §5.1.3) are decoded
//     strictly: one spelling per name, so a name read and written back is
//     the same bytes.
package proto
