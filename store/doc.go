// Package store is Mailroom's database: mailboxes, messages, de-duplicated
// bodies, subscriptions, quota usage and (later) ACL entries and the
// outbound queue, all in one Badger database. It knows nothing of IMAP wire
// syntax or of who is logged in; it does what it is told, atomically.
//
// Keys are binary: one kind byte, then big-endian integers or
// NUL-terminated account names, so Badger's order is the order we iterate
// in (enc.go lists the kinds). Account names are folded to lower case in
// keys.
//
// Invariants:
//   - Every protocol-level change is one Badger transaction, committed with
//     SyncWrites before the call returns: a message is acknowledged only
//     once it is durable.
//   - A message is a record per mailbox (UID, flags, internal date in
//     seconds, modseq, size, per-delivery header prefix, and since record
//     version 2 the save date: when it entered that mailbox) plus the number of
//     a body stored once. Bodies are found by content through an index of
//     their SHA-256 (kindHash), so each record carries a short varint
//     rather than the 32-byte hash; this keeps fifty copies of a list post
//     within 5% of one copy on disk. A body's reference record (count,
//     size, hash) is changed in the same transaction as the records that
//     use it; the last reference deletes the body and its index entry. A
//     message's content is its prefix followed by its body, byte for byte
//     as it arrived.
//   - Body records start with a format byte: 0, the raw bytes; 1, a
//     manifest of segments, inline bytes or references to part bodies; 2,
//     a chunked body: its size and number of chunks, the bytes being the
//     values of kindChunk|id|n. Bodies over bodyChunk (256 KiB) are written
//     chunked: the chunks are slices of the caller's buffer, handed to
//     Badger without a copy, and Badger's value-log encoder then needs a
//     buffer of one chunk rather than of the whole body (a 20 MiB body
//     written raw cost 40 MiB of heap besides the caller's copy). An
//     inline segment of a manifest larger than a chunk (a forwarded
//     message/rfc822) is stored as a part of its own for the same reason.
//     Raw records of any size, as older stores hold, are still read. A
//     MIME leaf part of PartThreshold (16 KB) or more is stored once as a
//     raw body keyed by the SHA-256 of its encoded bytes, shared by every
//     message carrying it (a forwarded attachment costs its size once);
//     each manifest holds one reference per occurrence and releases them
//     when its own last reference goes. The splitter only slices the
//     original bytes, and a manifest is used only if its segments join to
//     the exact message, so content is always what arrived.
//   - Queue entries hold a body reference like messages do, and a prefix
//     (the DKIM-Signature) kept outside the body, so a message sent to local
//     and remote recipients is stored once. Each recipient's outcome is
//     saved in the entry; an entry stays until every recipient is delivered
//     or failed with the bounce stored (RcptBounceDue in between).
//   - A message is at most MaxBodySize bytes: a raw body is one Badger
//     value, and Badger refuses values larger than a value-log file
//     (256 MiB); chunked bodies keep the same limit. Larger ones get
//     ErrTooLarge, never Badger's own error.
//   - Each mailbox record carries UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and
//     the counters STATUS needs (messages, unseen, size), kept exact by the
//     same transactions; Check recomputes them all.
//   - A mod-sequence index (modseq.go) keeps one key per message at its
//     current mod-sequence, moved by every flag change in the same
//     transaction, and an expunge record (with its time) per expunged
//     message: ChangedSince answers CONDSTORE's CHANGEDSINCE and QRESYNC's
//     VANISHED with one range scan from the client's mod-sequence.
//     Expunge records are kept ExpungeRetention (90 days by default; the
//     background loop prunes them daily) and pruning raises the
//     mailbox's floor, below which the history is reported incomplete.
//     A store written before the index gets it at its next Open (its
//     expunge history starts then); Check and Repair cover it.
//   - Each mailbox's UIDs, the UIDs without \Seen and those with
//     \Deleted are also kept as 1,024-UID bitmaps, and the keywords ever
//     set in it as one list (uidset.go), written at commit by the
//     transactions that change them, only the blocks a change altered
//     (blocks of another size are rebuilt at Open): SELECT (OpenState), SEARCH on \Seen
//     and \Deleted, SELECT's first unseen message and EXPUNGE
//     (FlagState) read a few small values instead of every record.
//   - Private \Seen (seen.go): for a mailbox whose \Seen is kept per
//     user (the protocol layer decides), a user's read state is a bitmap
//     per 1,024-UID block (kindSeen|mailbox|user|block), apart from the
//     record, whose \Seen stays the owner's. StoreFlagsAs writes \Seen
//     there and the other flags to the record in one transaction; each
//     changed message gets a new mod-sequence (for every reader) and the
//     change is published as ChangeSeen naming the user. Expunges clear
//     the UIDs from every user's blocks, a mailbox's purge drops them,
//     PurgeAccount drops the account's in every mailbox; Check reports
//     blocks of mailboxes that are gone and bits of UIDs that are not
//     there, Repair removes them.
//   - The audit log (audit.go) keeps records keyed by time: what users did
//     in others' mailboxes, written in batches off the actions' paths,
//     pruned daily after AuditRetention (180 days by default).
//   - UIDVALIDITY is the creation time in seconds but always larger than
//     any handed out before, so a recreated name never reuses one.
//   - Writers take per-mailbox locks (in ID order) around commit and
//     publication, so OnChange sees each mailbox's changes in commit order.
//   - Deleting a mailbox frees its name and hides it in one transaction,
//     then purges its messages in batches; Open resumes an interrupted
//     purge. Large expunges are batched the same way, so no operation on a
//     big mailbox hits Badger's transaction size limit; a batch whose
//     bodies have more chunks to write or delete than one transaction
//     takes is split in two until it fits (inBatches). COPY and MOVE
//     split the same way; a delivery to more mailboxes than one
//     transaction holds (a couple of thousand) is split in halves that
//     share its one body (Deliver).
//   - A second process opening the directory gets ErrLocked; Close waits
//     for operations in progress, and later calls get ErrClosed.
//   - Check recomputes every counter and reference count from the records;
//     Repair fixes what disagrees, holding all other operations meanwhile.
//     Compact flattens the LSM tree and reclaims value-log space; a
//     background loop runs the value-log GC every five minutes.
//
// Mailbox names follow RFC 9051 §5.1: "/" is the delimiter, INBOX is
// case-insensitive (also as the first level of a name), CREATE makes
// missing superiors, DELETE of a name with inferiors is refused
// (ErrHasChildren, as §6.3.5 allows), RENAME moves inferiors and
// subscriptions along, and renaming INBOX moves its messages to the new
// name and leaves an empty INBOX.
//
// Annotations (metadata.go, IMAP METADATA) are keyed by mailbox id (0:
// the server) and user ("" for shared ones), with a per-account usage
// record kept in the same transactions; a mailbox's purge removes them in
// batches, and renaming INBOX copies them to the renamed mailbox.
//
// Derived data (BodyInfo, kindInfo|body|tag) is kept with a body by the
// protocol layers (imapd keeps each body's encoded ENVELOPE there); it is
// written only while the body exists, deleted with it, and fsck reports
// and repairs any left behind.
//
// Memory: Badger maps its value log into the process, so every body
// written or read stays in the resident set until the kernel needs the
// memory; Options.MappedBudget bounds those pages (resident.go: measured
// once a second, handed back with MADV_PAGEOUT over the budget).
package store
