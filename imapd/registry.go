package imapd

import (
	"context"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailroom/imapd/engine"
	"mailroom/store"
)

// Registry keeps one tracker per mailbox that some session has selected,
// with the mailbox's current UID list, and feeds both from the store's
// change events. Wire Publish to store.Options.OnChange.
type Registry struct {
	mu    sync.Mutex
	boxes map[store.MailboxID]*openMailbox
	eng   *engine.Registry // the engine's, fed the same changes
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{boxes: map[store.MailboxID]*openMailbox{}, eng: engine.NewRegistry()}
}

// Engine returns the registry the IMAP engine uses, fed by Publish.
func (r *Registry) Engine() *engine.Registry {
	if r == nil {
		return nil
	}
	return r.eng
}

// openMailbox is the shared state of a selected mailbox. uids is the
// mailbox's message list as of the last published commit; sequence
// number n is uids[n-1].
type openMailbox struct {
	id      store.MailboxID
	tracker *imapserver.MailboxTracker
	refs    int

	mu      sync.RWMutex
	uids    []store.UID
	deleted bool
	// wake has one channel per selected session, signalled after every
	// published change so that IDLE polls (see session.Idle).
	wake map[chan struct{}]struct{}
}

func (b *openMailbox) watch() chan struct{} {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.wake[ch] = struct{}{}
	b.mu.Unlock()
	return ch
}

func (b *openMailbox) unwatch(ch chan struct{}) {
	b.mu.Lock()
	delete(b.wake, ch)
	b.mu.Unlock()
}

// open returns the mailbox's shared state, loading its UID list if no
// session has it open yet. Loading under the registry lock means a commit
// published meanwhile waits; its events are applied idempotently.
func (r *Registry) open(ctx context.Context, st *store.Store, id store.MailboxID) (*openMailbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.boxes[id]; b != nil {
		b.refs++
		return b, nil
	}
	uids, err := st.UIDs(ctx, id)
	if err != nil {
		return nil, err
	}
	b := &openMailbox{id: id, uids: uids, refs: 1, tracker: imapserver.NewMailboxTracker(uint32(len(uids))), wake: map[chan struct{}]struct{}{}}
	r.boxes[id] = b
	return b, nil
}

func (r *Registry) release(b *openMailbox) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b.refs--; b.refs == 0 {
		delete(r.boxes, b.id)
	}
}

// Publish applies a committed change to the open mailbox it concerns.
func (r *Registry) Publish(c store.Change) {
	r.eng.Publish(c)
	r.mu.Lock()
	b := r.boxes[c.Mailbox]
	r.mu.Unlock()
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() {
		for ch := range b.wake {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	source, _ := c.Origin.(*imapserver.SessionTracker)
	switch c.Kind {
	case store.ChangeAppend:
		for _, m := range c.Messages {
			if len(b.uids) == 0 || m.UID > b.uids[len(b.uids)-1] {
				b.uids = append(b.uids, m.UID)
				// One step per message: the tracker's sequence-number
				// translation assumes EXISTS grows by one at a time.
				b.tracker.QueueNumMessages(uint32(len(b.uids)))
			}
		}
	case store.ChangeFlags:
		for _, m := range c.Messages {
			if i, ok := slices.BinarySearch(b.uids, m.UID); ok {
				b.tracker.QueueMessageFlags(uint32(i+1), imap.UID(m.UID), imapFlags(m.Flags), source)
			}
		}
	case store.ChangeExpunge:
		for _, uid := range c.UIDs {
			if i, ok := slices.BinarySearch(b.uids, uid); ok {
				b.uids = slices.Delete(b.uids, i, i+1)
				b.tracker.QueueExpunge(uint32(i + 1))
			}
		}
	case store.ChangeDeleted:
		b.deleted = true
		for i := len(b.uids); i > 0; i-- {
			b.tracker.QueueExpunge(uint32(i))
		}
		b.uids = nil
	}
}

func imapFlags(f store.Flags) []imap.Flag {
	names := f.Names()
	out := make([]imap.Flag, len(names))
	for i, n := range names {
		out[i] = imap.Flag(n)
	}
	return out
}

func storeFlags(fs []imap.Flag) store.Flags {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	return store.ParseFlags(names)
}
