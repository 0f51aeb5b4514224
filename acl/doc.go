// Package acl is Mailroom's directory and rights engine.
//
// The directory holds the accounts, aliases, plans and groups of one
// configuration. It is immutable: a reload builds a new Directory and the
// caller swaps it in whole, so a session sees one consistent view.
//
// Addresses: an account's canonical address keeps the local part as the
// operator wrote it and lower-cases the domain. Lookups fold case on both
// parts, as every mail client and server in practice does (RFC 5321 §2.4
// allows case-sensitive local parts; nobody relies on it).
//
// Passwords: new hashes are argon2id in the PHC string format; bcrypt
// hashes ($2a$, $2b$, $2y$) are accepted too. A failed login costs the same
// hashing work whether or not the account exists (ErrAuthFailed in every
// case), so timing does not reveal which addresses are real.
//
// SCRAM-SHA-256 (scram.go, RFC 7677/5802): an account may carry a second
// credential, "SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey", from
// which no password can be read back and which SCRAMServer checks a
// client's proof against; names without one get made-up keys derived
// from a per-process secret, stable across reloads, so the salt sent
// does not tell which accounts exist. SASLprep is not applied: passwords
// are used as the UTF-8 the client sends, as clients do for ASCII.
//
// Rights (RFC 4314 §2.1): l r s w i p k x t e a, with the obsolete c and d
// mapped as §2.1.1 says. The owner holds every right on its own mailboxes.
// Grants are limited to members of a group the owner belongs to, and to
// owners whose plan allows sharing (docs/architecture.md, "Delegation").
//
// Decisions recorded here:
//   - Gating is applied twice: when a grant is made (CheckGrant, with a
//     reason for the client) and at every evaluation (Rights), so grants
//     made before a reload stop working the moment the grantee leaves the
//     group or the owner's plan stops sharing; they come back if the
//     configuration does.
//   - "anyone" means anyone in the owner's groups, never beyond.
//     "group:NAME" applies only if both the owner and the user are in NAME.
//   - Negative entries ("-bob@example.test") remove rights after all
//     positive ones are added, from SETACL and [[share]] alike.
//   - max_grantees counts distinct identifiers across all of the owner's
//     mailboxes and [[share]] entries; a group or anyone counts once.
//     Taking rights away is never refused.
//   - Identifiers are stored canonical: an alias becomes its account's
//     address; group names keep their case.
//   - LISTRIGHTS: only the owner holds rights automatically; each right can
//     be granted on its own.
//   - Logins go through Live.Authenticate. At most MaxHashes (default
//     GOMAXPROCS) password hashes run at once: argon2id is CPU-bound, so
//     more at once finish no sooner and each holds 19 MiB; the rest wait
//     under the caller's context, so a client that hangs up stops waiting.
//   - A verified login is remembered for 5 minutes (DefaultCredentialTTL),
//     at most 10,000 of them, keyed by the *Account and an HMAC-SHA256 of
//     the password under a per-process random key: no password, nor a
//     hash usable outside the process, is kept. Only successes are cached,
//     so a wrong password always costs a full hash (as for an unknown
//     account). A reload (Live.Store) forgets every entry, and entries of
//     an old directory could not match anyway, so a changed password stops
//     working at once. A reconnecting client costs ~1 µs instead of ~30 ms.
//   - Names are resolved here for every protocol (namespace.go): the
//     "Other Users/" and "Shared/" namespaces, Locate (name to mailbox and
//     rights; what the user may not look up does not exist), DisplayName,
//     Reachable, SendAs (own address, alias, or "p" on the account's
//     INBOX) and AccountRights (the operator's shares naming no mailbox:
//     with "k", a grantee creates top-level folders in a team account)
//     and SendOnBehalf (a share's send = "on-behalf": a member's mail as
//     the owner carries Sender: member) and SeenMode (how \Seen is kept
//     on a mailbox: its own setting, the SeenEntry METADATA entry, else a
//     share's seen for that mailbox, else one for the whole account, else
//     shared for a team account or one without a password and private
//     for a person's; PrivateSeen:
//     never for the owner).
//     IMAP, SMTP submission and the commands ask; none repeats it.
//   - Changing an ACL goes through Directory.SetRights (grant.go), from
//     IMAP SETACL and from `mailroom acl grant` alike: one place decides
//     replace/add/remove and gates anything new with CheckGrant and the
//     plan's max_grantees (Grantees). acl reaches the store through the
//     small ACLStore interface it declares.
package acl
