// Package sieve compiles and runs Sieve mail filters (RFC 5228) with the
// extensions in Capability: fileinto, reject and ereject (RFC 5429),
// envelope, encoded-character, the i;octet, i;ascii-casemap and
// i;ascii-numeric comparators (RFC 4790), imap4flags (RFC 5232), copy
// (RFC 3894), body (RFC 5173), relational (RFC 5231), variables
// (RFC 5229), subaddress (RFC 5233), date and index (RFC 5260), vacation
// (RFC 5230) with vacation-seconds (RFC 6131), include (RFC 6609),
// editheader (RFC 5293), duplicate (RFC 7352) and mailbox (RFC 5490).
//
// Written from the RFCs; no code from other implementations.
//
// # Shape
//
// lexer.go turns source into tokens, parse.go into a syntax tree with
// the line and column of every node, compile.go checks the tree against
// spec.go's table of commands and tests (which extension each needs,
// its tags and positional arguments) and resolves every argument to its
// role: the result, a *Script, is immutable and shared by concurrent
// runs. interp.go runs a Script against an Env (the message, its
// envelope, callbacks for include, duplicate and mailboxexists) and
// returns a Result: the actions, the edited header, the duplicate keys
// to record. The package does no I/O of its own: storing, sending and
// remembering are the caller's, so it can be tested without a server.
//
// # Decisions
//
//   - Limits are explicit (Limits): at compile time script size, nesting,
//     string and list lengths, number of commands; at run time steps
//     (commands, tests, comparisons and wildcard backtracking all count),
//     actions, redirects, include depth and count, variables and their
//     length, header edits, body bytes examined. A compile limit is a
//     *SyntaxError; a run limit a *RuntimeError wrapping ErrLimit.
//   - Any run-time error yields a Result holding only the implicit keep
//     (RFC 5228 §2.10.6): a broken script never loses mail.
//   - Implicit keep (§2.10.2) is cancelled by fileinto and redirect
//     without :copy, discard, reject and ereject; keep and fileinto
//     "INBOX" are one action, and the same mailbox or address twice is
//     done once (§2.10.3), flags merged. The implicit keep carries the
//     imap4flags internal variable at the end of the script.
//   - :matches wildcards take as little as they can (leftmost-shortest),
//     which gives the match variables RFC 5229 §3.2 shows.
//   - :count always compares the count numerically, whatever the
//     comparator, since a count is a number.
//   - vacation decides here whether a message may be answered at all
//     (RFC 5230 §4.5/§4.6, RFC 3834): not to the null sender, system
//     senders, the user's own addresses, auto-submitted mail, lists
//     (List-Id, List-Post, List-Unsubscribe, Precedence bulk/list/junk),
//     nor when none of the user's addresses is in a recipient field. The
//     once-per-period rule is the caller's, keyed by Vacation.Key.
//     :days is clamped to 1..90; :seconds 0 becomes one second.
//   - reject/ereject: at most one per script, never with vacation, keep,
//     fileinto or redirect (RFC 5429 §2.1): such a script fails, and the
//     message is kept. The caller refuses the recipient when it can.
//   - editheader may not touch Received, Return-Path or Auto-Submitted
//     (RFC 5293 §9); attempts are ignored. Tests after an edit see it.
//   - duplicate returns keys to record, and the caller records them only
//     once delivery succeeded (RFC 7352 §3).
//   - include loads through Env.Loader at run time; each included script
//     has its own variables except those declared with global; return
//     ends only the included script; a missing script is an error unless
//     :optional.
//   - Header values are RFC 2047-decoded before comparison; address
//     tests parse with net/mail and fall back to a lenient split.
package sieve
