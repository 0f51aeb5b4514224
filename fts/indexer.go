package fts

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"

	"mailroom/imapd/part"
	"mailroom/store"
)

// A batch holds at most batchSize messages and batchText bytes of their
// text (always at least one message): bleve keeps a batch's analysed
// words in memory until it is a segment, about three and a half times
// the text (500 messages of imaptest's mail held 27 MB), so 500 large
// messages would have held hundreds of megabytes.
const (
	batchSize = 500
	batchText = 4 << 20
)

// budget is what is left of a batch.
type budget struct{ docs, text int }

func (b *budget) full() bool { return b.docs <= 0 || b.text <= 0 }

// DefaultSettle is how long the indexer lets changes gather.
const DefaultSettle = time.Second

// Indexer keeps the index current from the store's committed changes:
// Note (wired to store.Options.OnChange beside the IMAP registry) only
// records what changed, without blocking; Run indexes in the background,
// so delivery never waits for it. New messages are indexed from each
// mailbox's watermark up; expunged ones and deleted mailboxes are
// removed. Messages stored before the index existed are indexed when a
// search first asks for their mailbox (Touch).
type Indexer struct {
	idx *Index
	st  *store.Store
	log *slog.Logger

	mu       sync.Mutex
	dirty    map[store.MailboxID]bool
	expunged map[store.MailboxID][]store.UID
	gone     []store.MailboxID
	wake     chan struct{}
	// OnIndexed, if set, is called after each piece of work is committed
	// (tests wait on it).
	OnIndexed func()
	// Settle is how long Run waits after a change before indexing
	// (NewIndexer: DefaultSettle). Searches never wait for it: what is
	// above a mailbox's watermark is searched in the store.
	Settle time.Duration
}

// NewIndexer returns an indexer writing to idx from st.
func NewIndexer(idx *Index, st *store.Store, log *slog.Logger) *Indexer {
	return &Indexer{idx: idx, st: st, log: log, Settle: DefaultSettle, dirty: map[store.MailboxID]bool{}, expunged: map[store.MailboxID][]store.UID{}, wake: make(chan struct{}, 1)}
}

// Note records a committed change; it never blocks.
func (ix *Indexer) Note(c store.Change) {
	ix.mu.Lock()
	switch c.Kind {
	case store.ChangeAppend:
		ix.dirty[c.Mailbox] = true
	case store.ChangeExpunge:
		ix.expunged[c.Mailbox] = append(ix.expunged[c.Mailbox], c.UIDs...)
	case store.ChangeDeleted:
		ix.gone = append(ix.gone, c.Mailbox)
		delete(ix.dirty, c.Mailbox)
		delete(ix.expunged, c.Mailbox)
	default:
		ix.mu.Unlock()
		return
	}
	ix.mu.Unlock()
	ix.signal()
}

// Touch asks for a mailbox to be brought up to date (a search found its
// watermark behind).
func (ix *Indexer) Touch(mailbox store.MailboxID) {
	ix.mu.Lock()
	ix.dirty[mailbox] = true
	ix.mu.Unlock()
	ix.signal()
}

func (ix *Indexer) signal() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

// Run indexes until ctx ends. After a change it waits Settle for more
// to arrive, so a burst of deliveries becomes one index batch rather than
// one per message (each batch is a segment bleve writes and merges).
func (ix *Indexer) Run(ctx context.Context) {
	settle := time.NewTimer(0)
	<-settle.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-ix.wake:
		}
		if ix.Settle > 0 {
			settle.Reset(ix.Settle)
			select {
			case <-ctx.Done():
				settle.Stop()
				return
			case <-settle.C:
			}
		}
		for ctx.Err() == nil && ix.step(ctx) {
			if ix.OnIndexed != nil {
				ix.OnIndexed()
			}
		}
	}
}

// step does one batch of work and reports whether there may be more.
func (ix *Indexer) step(ctx context.Context) bool {
	ix.mu.Lock()
	gone, expunged := ix.gone, ix.expunged
	ix.gone, ix.expunged = nil, map[store.MailboxID][]store.UID{}
	dirty := make([]store.MailboxID, 0, len(ix.dirty))
	for id := range ix.dirty {
		dirty = append(dirty, id)
	}
	clear(ix.dirty)
	ix.mu.Unlock()
	for _, id := range gone {
		if err := ix.idx.dropMailbox(ctx, id); err != nil {
			ix.log.Warn("full-text index: dropping a mailbox", "mailbox", id, "err", err)
		}
	}
	b := ix.idx.idx.NewBatch()
	for id, uids := range expunged {
		for _, u := range uids {
			b.Delete(docID(id, u))
		}
	}
	left := budget{docs: batchSize, text: batchText}
	for _, id := range dirty {
		if left.full() || ctx.Err() != nil {
			ix.Touch(id) // the next batch
			continue
		}
		more, err := ix.indexFrom(ctx, b, id, &left)
		if err != nil {
			if ctx.Err() == nil {
				ix.log.Warn("full-text index", "mailbox", id, "err", err)
			}
			continue
		}
		if more {
			ix.Touch(id) // the rest in the next batch, other mailboxes between
		}
	}
	if b.Size() == 0 { // index and internal operations
		return len(gone) > 0
	}
	if err := ix.idx.idx.Batch(b); err != nil {
		ix.log.Warn("full-text index", "err", err)
	}
	return true
}

// indexFrom adds messages of mailbox above its watermark to b while left
// allows, moving the watermark in the same batch, and says whether more
// are waiting.
func (ix *Indexer) indexFrom(ctx context.Context, b *bleve.Batch, mailbox store.MailboxID, left *budget) (more bool, err error) {
	wm, err := ix.idx.Watermark(mailbox)
	if err != nil {
		return false, err
	}
	last := wm
	errFull := context.Canceled // any sentinel: stops the scan
	err = ix.st.MessagesWithContent(ctx, mailbox, wm+1, 0, func(m *store.Message, content []byte) error {
		if left.full() {
			more = true
			return errFull
		}
		text := strings.Join(Words(Text(content)), " ")
		if err := b.Index(docID(mailbox, m.UID), doc{M: mailboxTerm(mailbox), T: text}); err != nil {
			return err
		}
		last = m.UID
		left.docs--
		left.text -= len(text)
		return nil
	})
	if err != nil && err != errFull {
		return false, err
	}
	if last != wm {
		b.SetInternal(watermarkKey(mailbox), []byte(strconv.FormatUint(uint64(last), 10)))
	}
	return more, nil
}

// Text is what is indexed of a message: its header fields decoded
// (addresses, subject) and the text of its text parts.
func Text(content []byte) string {
	root := part.Parse(content)
	var b strings.Builder
	for _, f := range root.Header {
		switch strings.ToLower(f.Name) {
		case "from", "to", "cc", "bcc", "subject", "reply-to", "sender":
			b.WriteString(part.DecodeWords(part.Unfold(f.Value)))
			b.WriteByte('\n')
		}
	}
	b.Write(part.BodyText(content, root))
	return b.String()
}

// dropMailbox removes every document of a deleted mailbox.
func (x *Index) dropMailbox(ctx context.Context, mailbox store.MailboxID) error {
	for {
		uids, _, _, err := x.all(ctx, mailbox)
		if err != nil || len(uids) == 0 {
			if err == nil {
				x.idx.DeleteInternal(watermarkKey(mailbox))
			}
			return err
		}
		b := x.idx.NewBatch()
		for _, u := range uids {
			b.Delete(docID(mailbox, u))
		}
		if err := x.idx.Batch(b); err != nil {
			return err
		}
	}
}

// all returns up to batchSize UIDs indexed for mailbox.
func (x *Index) all(ctx context.Context, mailbox store.MailboxID) ([]store.UID, store.UID, bool, error) {
	uids, wm, _, err := x.candidates(ctx, mailbox, nil, batchSize)
	slices.Sort(uids)
	return uids, wm, true, err
}

// Candidates asks the index (see Index.Candidates); with Touch it makes
// the Indexer what the IMAP engine's SEARCH asks.
func (ix *Indexer) Candidates(ctx context.Context, mailbox store.MailboxID, words []string) ([]store.UID, store.UID, bool, error) {
	return ix.idx.Candidates(ctx, mailbox, words)
}
