// Package part reads a stored message as a tree of MIME entities and
// derives what IMAP serves from it: ENVELOPE and BODYSTRUCTURE/BODY (RFC
// 9051 §7.5.2), body sections (§6.4.5) and decoded BINARY content (RFC
// 3516), the text SEARCH reads and the PREVIEW (RFC 8970).
//
// Decisions:
//
//   - A Part is offsets into the message's bytes, not a copy: every
//     section (BODY[], HEADER, TEXT, MIME, a part's body) is a slice of
//     exactly what arrived, bare LFs and odd headers included. Only
//     HEADER.FIELDS is assembled, from the fields' raw lines.
//   - Parsing never fails and is bounded (MaxDepth, MaxParts,
//     MaxFields, MaxAddresses): a broken message is served as what it
//     looks like (a multipart without parts is text/plain), never refused.
//   - ENVELOPE follows what IMAP clients and Dovecot's imaptest expect:
//     values unfolded but not decoded, groups as (NIL NIL name NIL) …
//     (NIL NIL NIL NIL), a comment after a bare address as its name,
//     source routes in the adl field, MISSING_MAILBOX/MISSING_DOMAIN for
//     absent parts, Sender and Reply-To defaulting to From.
//   - Header field names are matched case-insensitively and may carry
//     white space before the colon (RFC 5322 §4.5 obsolete syntax).
//   - text/* parts without a charset are given RFC 2045's us-ascii
//     explicitly in BODYSTRUCTURE.
//   - PREVIEW is computed when asked, from at most the first 16 KiB of
//     the first text/plain part (else text/html, markup, style, script
//     and title removed; block tags become spaces, inline ones nothing),
//     white space folded, 256 characters. Attachments and attached
//     messages are not the message's text. Computing it is cheap enough
//     that LAZY changes nothing.
package part
