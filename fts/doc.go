// Package fts is Mailroom's full-text index, so IMAP SEARCH BODY and TEXT
// need not read every message of a large mailbox.
//
// The index is bleve (github.com/blevesearch/bleve/v2, scorch), in its own
// directory beside the store (data_dir/fts), holding per message its
// mailbox and its text: the decoded address and subject fields and the
// text of its text parts in their charsets (part.BodyText), cut into
// lower-case words with no stemming and no stop words.
//
// Decisions:
//   - The index follows the store's committed changes (Indexer.Note,
//     wired to store.Options.OnChange beside the IMAP registry) and works
//     in the background: delivery never waits for it. Each mailbox has a
//     watermark, the highest UID indexed, moved in the batch that indexes
//     up to it; expunges and deleted mailboxes are removed. Mailboxes
//     stored before the index existed are indexed when a search first
//     asks (Touch). The index can be deleted at any time; it is rebuilt.
//   - The index only narrows: SEARCH reads the messages it names plus
//     every message above the watermark, and matches each in full, so a
//     result is never wrong and never misses a message not yet indexed.
//     A word is found as a word or the start of one; a string found only
//     inside a longer word is missed (as with Dovecot's full-text search).
//     A word in more than MaxCandidates messages narrows too little: the
//     mailbox is read as without an index.
//   - Batches: the indexer lets changes gather for a second after the
//     first, then indexes what is waiting, 500 messages or 4 MiB of
//     their text a batch (bleve holds a batch in memory); each
//     batch is a segment bleve merges later. The merge planner counts
//     segments as their size down to 10 messages (bleve's default floor,
//     2,000, made a small index merge continually).
//   - Attachments other than text/* are not indexed.
package fts
