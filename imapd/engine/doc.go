// Package engine is Mailroom's own IMAP protocol engine: the server
// behind imapd.Server. (It was built beside the go-imap-based server it
// replaced; its files may move into imapd itself.)
//
// Shape: one goroutine per connection (conn.serve) reads a command with
// imapd/proto's decoder, dispatches it through the table in commands.go
// by name and state (RFC 9051 §3, §6), and writes responses with
// imapd/proto's encoder; handlers return a *Response (or nil for OK) and
// store/acl sentinels become response codes in response.go only.
//
// Decisions:
//
//   - A command not allowed in the current state, or unknown, is refused
//     by the decoder's Begin hook before its arguments are parsed and
//     before any literal is asked for; so is a literal over its limit
//     (APPENDLIMIT for APPEND's message, the decoder's own otherwise).
//   - A line or command over the decoder's limits ends the connection
//     with BYE [LIMIT]; nothing read after it runs.
//   - Output is flushed after a command unless more pipelined input is
//     already buffered, so a pipelining client gets one write per batch.
//   - STARTTLS throws away plain text pipelined behind it.
//   - Login failures all answer NO [AUTHENTICATIONFAILED] with the same
//     text; the throttle (internal/netlimit) delays the next attempt.
//   - AUTHENTICATE offers PLAIN (go-sasl's server), LOGIN for clients
//     that want the legacy mechanism, and SCRAM-SHA-256 (RFC 7677, no
//     channel binding so no -PLUS; acl.SCRAMServer, scram.go) for
//     accounts with a scram_sha256 credential: the login throttle's delay
//     comes before the salt is sent, a wrong proof or a malformed message
//     after the user is named counts as a failed login, and an unknown
//     user or one without a credential gets a stable made-up salt and the
//     same NO [AUTHENTICATIONFAILED].
//   - The registry keeps the state of mailboxes nobody has selected any
//     more (UID list, keywords, \Recent), current through Publish, up to
//     256 mailboxes and 2 M UIDs, least recently used out first: a
//     repeated SELECT reads nothing from the store.
//   - A FETCH of whole messages (BODY[], RFC822) writes those over 1 MiB
//     from the store piece by piece (store.WriteContent: the layout in one
//     short transaction, each 256 KiB chunk in one of its own, copied out
//     before it is written), so a large message is never held whole and no
//     transaction waits on the client; smaller ones are read in batches.
//   - CREATE gives a new mailbox its parent's ACL (store InheritACL, RFC
//     4314 §5.1.1); a top-level one in someone else's account needs "k"
//     from an account-wide grant (acl.AccountRights).
//   - Extensions beyond the base: QUOTA (one root per account with a plan
//     quota, the owner's shown to delegates, SETQUOTA refused), CONDSTORE
//     (enabled by ENABLE, SELECT (CONDSTORE) or the first command that
//     uses it; UNCHANGEDSINCE is checked in the store's transaction; a
//     queued flag update is dropped once the client was told a newer
//     state, so MODSEQ never goes back), QRESYNC (SELECT's QRESYNC
//     parameter, UID FETCH (CHANGEDSINCE n VANISHED) and CHANGEDSINCE are
//     answered from the store's mod-sequence index, not a scan; live
//     expunges become VANISHED; with the expunge history pruned, every
//     absent UID the client knew is reported), CONTEXT=SEARCH and
//     CONTEXT=SORT (RETURN (UPDATE) keeps up to 16 contexts a session,
//     re-matching only the messages a change touched; a SORT context is
//     sorted again and tells positions, removals last first; PARTIAL
//     with RFC 9394's negative ranges), NOTIFY (watched mailboxes are
//     resolved at NOTIFY SET among those the user may look up; the
//     Registry hands every change to the session's watcher; STATUS is
//     told after commands, in IDLE and between commands, where a
//     goroutine waits for the client's next bytes; rights are checked per
//     notification; no MailboxName/SubscriptionChange events), OBJECTID
//     (objectid.go: MAILBOXID from the never-reused mailbox ID, EMAILID
//     from the stored body and the delivery prefix, THREADID NIL),
//     SAVEDATE (the store records when a message entered its mailbox;
//     NIL in FETCH for older records, whose internal date SEARCH uses),
//     SORT/SORT=DISPLAY/ESORT (ties in
//     mailbox order; a group's name sorts as its address), THREAD
//     (ORDEREDSUBJECT and REFERENCES per RFC 5256), MULTIAPPEND (one
//     store transaction; the messages of one APPEND share a byte budget
//     checked before their literals are read), CATENATE (URL parts must
//     name a message the user may read; the destination is checked first),
//     UIDONLY (RFC 9586, uidonly.go: commands with sequence numbers and
//     sequence-set SEARCH keys refused with BAD [UIDREQUIRED], UIDFETCH
//     responses, VANISHED for expunges; the session still keeps its UID
//     list for EXISTS).
//   - METADATA/METADATA-SERVER (RFC 5464, metadata.go): server ("") and
//     mailbox entries, /private per user and /shared per mailbox, in the
//     store by mailbox id (RENAME keeps them, DELETE purges them); "l"
//     and one of "rswip" to read or set, "w" too for a mailbox's /shared
//     entries, shared server entries read-only; values up to 16 KiB
//     (a larger literal is refused before it is sent), 1000 entries and
//     1 MiB per account; /shared/vendor/mailroom/seen is Mailroom's
//     ("shared" or "private", set by the owner or with "a", no "w"
//     needed; see below); no unsolicited METADATA.
//   - Shared or private \Seen (seen.go): a mailbox's mode is its
//     METADATA entry /shared/vendor/mailroom/seen, else the
//     configuration's (a [[share]]'s seen, else shared for a team
//     account or one without a password, private for a person's:
//     acl.Directory.SeenMode), read at
//     SELECT (a change applies at the next SELECT) and at each STATUS.
//     In private mode a user other than the owner sees \Seen from their
//     own state (store/seen.go), loaded into the view at SELECT while the
//     mailbox's changes wait, kept current by ChangeSeen: FETCH FLAGS,
//     SEARCH/ESEARCH SEEN and UNSEEN, SORT, SELECT's first unseen, STATUS
//     UNSEEN (also LIST-STATUS and NOTIFY's) and QRESYNC's FETCH follow
//     it; STORE and FETCH BODY[]'s implicit \Seen write \Seen to it and
//     the other flags to the record, in one transaction, answered with
//     the user's flags. A ChangeSeen reaches only that user's views and
//     NOTIFY watchers; a record change reaches everyone, each view
//     showing its own \Seen, except one of \Seen alone (the owner's
//     read, store.Change.SeenOnly), which private views skip.
//     CONDSTORE: a private \Seen change gives the message a new
//     mod-sequence in the record, so FETCH MODSEQ, CHANGEDSINCE, SEARCH
//     MODSEQ and HIGHESTMODSEQ see it for every reader (others find a
//     newer MODSEQ with the flags they had: a spurious resync, never a
//     missed one; likewise a delegate after the owner's read). APPEND's
//     \Seen is the user's own (store.NewMessage.SeenBy); COPY and MOVE
//     put into the target what the record carries (the owner's \Seen).
//   - COMPRESS=DEFLATE (RFC 4978, compress.go): once authenticated, once
//     per connection (then NO [COMPRESSIONACTIVE]), above TLS (STARTTLS
//     after it is refused). A flate writer (~1.2 MB) is taken from the
//     server's pool for each response batch and given back at its flush
//     (a sync flush: proto.Encoder.Sync), so an idle compressed
//     connection costs only its inflater (~45 KB: internal/inflate,
//     which, unlike compress/flate, returns each block as it ends, so
//     clients using zlib's partial flush, isync, are answered); each
//     batch starts with an empty dictionary.
//   - IMAP4rev1 \Recent is kept in memory; ENABLE IMAP4rev2 drops it and
//     makes SEARCH answer ESEARCH.
//   - Each body's encoded ENVELOPE is kept with it (store.BodyInfo) once a
//     FETCH computed it; a background keeper writes it after the answer,
//     dropping work when busy. A mailbox's first full ENVELOPE listing
//     pays for it (100k messages: ~2 s instead of 1.2 s), later ones do
//     not (~0.74 s); computing it at delivery is the next step.
//   - Every FETCH line that shows flags first makes sure FLAGS named
//     their keywords for this session (a change may be visible in the
//     store before it is published to the session).
//   - Server.Close interrupts reads: a connection waiting for a command
//     or in IDLE gets BYE [UNAVAILABLE] and ends; one running a command
//     finishes it first (its context is the connection's, not the
//     server's).
package engine
