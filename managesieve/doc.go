// Package managesieve serves ManageSieve (RFC 5804): mail clients
// (Thunderbird's Sieve add-on, Roundcube, sieve-connect, K-9) upload,
// check, list, activate, fetch, rename and delete the Sieve scripts the
// server runs at delivery (package sieve, stored by store/sieve.go).
//
// # Shape
//
// decode.go reads commands with explicit limits (maxLine outside
// literals, maxArgs, a literal limit of maxPreAuthLiteral before login
// and store.MaxSieveScriptSize plus slack after); encode.go owns quoting
// and literals; session.go has the dispatch table, one handler per
// command; auth.go the SASL exchange. One goroutine owns a connection.
//
// # Decisions
//
//   - Literals: the server reads {n+} and {n} alike and never sends a
//     continuation (RFC 5804 §4 has none). A literal over the limit cannot
//     be skipped safely, so it ends the connection with BYE
//     (QUOTA/MAXSIZE); other syntax errors get NO and the connection goes
//     on, up to maxErrors in a row.
//   - AUTHENTICATE PLAIN and LOGIN only after STARTTLS unless the listener
//     allows insecure auth; before that, SASL is advertised empty and
//     AUTHENTICATE gets NO (ENCRYPT-NEEDED). Credentials go through
//     acl.Live.Authenticate with a netlimit.Throttle and netlimit.Conns
//     configured like IMAP's, so failures slow down the next attempt for
//     the name and the address.
//   - Team scripts: a PLAIN authorization identity naming another account
//     is accepted when the user holds "a" (administer) on that account's
//     INBOX, evaluated by acl like IMAP SETACL; the session then manages
//     that account's scripts, and CAPABILITY says so with OWNER.
//   - PUTSCRIPT and CHECKSCRIPT compile with sieve.Compile: a syntax error
//     is NO with "line L, column C: ..." (RFC 5804 §2.6). The store
//     enforces the name rules (§1.6), the count and the size (HAVESPACE
//     answers from the same limits), and refuses to delete the active
//     script (NO (ACTIVE)).
//   - Response codes: NONEXISTENT, ALREADYEXISTS, ACTIVE, QUOTA/MAXSCRIPTS,
//     QUOTA/MAXSIZE, ENCRYPT-NEEDED, TRYLATER, TAG (NOOP). Store failures
//     are logged and answered TRYLATER without details.
package managesieve
