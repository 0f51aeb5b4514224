// Package mailfile reads and writes the on-disk mail formats other
// servers and clients keep: Maildir (with Maildir++ subfolders) and mbox
// (mboxrd). cmd/mailroom's import and export use it.
//
// Decisions:
//   - Files hold LF line endings, as Dovecot, Postfix and mail clients
//     write them; the store holds CRLF, as IMAP sends. ToCRLF and ToLF
//     convert, so a Maildir or mbox written by export from an import of
//     LF files is byte-identical to its source; a source whose files
//     have CRLF endings comes back byte for byte with mailroom export
//     -crlf (which writes what the store holds).
//   - Maildir flags are the letters after ":2,": D \Draft, F \Flagged,
//     P $Forwarded, R \Answered, S \Seen, T \Deleted; a..z are keywords
//     named by the folder's dovecot-keywords file (Dovecot's convention).
//     The internal date is the file's modification time (Dovecot's too);
//     export sets it.
//   - Maildir++ folder ".A.B" is the mailbox "A/B", its name in modified
//     UTF-7 as IMAP servers write them.
//   - mbox is read as mboxrd: a message starts at a "From " line at the
//     start of the file or after an empty line; ">From ", ">>From " …
//     lose one ">" (and get it back on export). The From line's date is
//     the internal date; Status and X-Status give flags, X-Keywords
//     keywords; the headers themselves stay in the message. A directory
//     of mbox files is a folder tree, Thunderbird's ".sbd" directories
//     included.
//   - Limits: a message larger than MaxMessage is reported, not read; a
//     From line longer than 1000 bytes is not a separator. FuzzMbox
//     checks the reader.
package mailfile
