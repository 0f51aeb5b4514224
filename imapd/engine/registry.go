package engine

import (
	"context"
	"slices"
	"sync"

	"mailroom/store"
)

// Registry keeps, for every mailbox some session has selected, its
// current UID list, the keywords in use and who has claimed \Recent, and
// fans the store's committed changes out to those sessions. Wire Publish
// to store.Options.OnChange.
type Registry struct {
	mu    sync.Mutex
	boxes map[store.MailboxID]*shared // selected now, or kept (idle)
	// idle lists the mailboxes nobody has selected whose state is kept,
	// current through Publish, least recently used first: selecting one
	// again reads nothing from the store. Bounded by idleUIDs and
	// idleBoxes.
	idle []*shared
	// floors holds, for mailboxes nobody has selected now, the highest
	// UID whose \Recent was claimed (or that arrived before this
	// process): a message above it is recent. Only mailboxes that got mail
	// or were selected since start have one; at most one entry each.
	floors map[store.MailboxID]store.UID
	// watchers are the sessions' NOTIFY watchers: they see every change.
	watchers map[*watcher]struct{}
	// beforeLoad, if set, is called as a mailbox's state is about to be
	// read from the store (tests).
	beforeLoad func(store.MailboxID)
}

// Bounds of the idle mailboxes kept: UIDs in all (4 bytes each) and
// mailboxes.
const (
	idleUIDs  = 1 << 21
	idleBoxes = 256
)

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{boxes: map[store.MailboxID]*shared{}, floors: map[store.MailboxID]store.UID{}}
}

// shared is the state all sessions with one mailbox selected share.
type shared struct {
	id   store.MailboxID
	refs int

	mu       sync.Mutex
	uids     []store.UID // the mailbox's messages as of the last published change
	keywords []string    // sorted: every keyword set on some message (now or before)
	// recent is the highest UID whose \Recent some session has claimed
	// (RFC 3501 §2.3.2: a message is recent in exactly one session).
	// Kept in memory: after a restart only new mail is recent.
	recent  store.UID
	views   map[*view]struct{}
	deleted bool
	// loaded is closed once the state is read from the store; until then
	// loading is set and gone collects the UIDs Publish expunged (open
	// merges them). loadErr is set before loaded closes when the read
	// failed.
	loaded  chan struct{}
	loading bool
	gone    []store.UID
	loadErr error
	// dates caches the sent date (from the Date field, else the internal
	// date) of messages a SORT (DATE) has seen, ascending by UID: a
	// mailbox sorted by date again reads nothing. Dates never change;
	// entries of expunged messages are dropped with them.
	dates []uidDate
}

// uidDate is one message's sort date, in Unix seconds.
type uidDate struct {
	uid  store.UID
	date int64
}

// cachedDates returns the dates of uids (ascending) the cache has, and
// the UIDs it lacks.
func (sh *shared) cachedDates(uids []store.UID) (map[store.UID]int64, []store.UID) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	have := make(map[store.UID]int64, len(uids))
	var missing []store.UID
	j := 0
	for _, u := range uids {
		for j < len(sh.dates) && sh.dates[j].uid < u {
			j++
		}
		if j < len(sh.dates) && sh.dates[j].uid == u {
			have[u] = sh.dates[j].date
		} else {
			missing = append(missing, u)
		}
	}
	return have, missing
}

// cacheDates adds dates to the cache.
func (sh *shared) cacheDates(add []uidDate) {
	if len(add) == 0 {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.dates = append(sh.dates, add...)
	slices.SortFunc(sh.dates, func(a, b uidDate) int { return int(int64(a.uid) - int64(b.uid)) })
	sh.dates = slices.CompactFunc(sh.dates, func(a, b uidDate) bool { return a.uid == b.uid })
}

// open returns the shared state of mailbox id, loading it if no session
// has it open. The store is read without the registry's lock held (a
// store operation waiting on that lock must not wait on this read): the
// entry is registered first, marked loading, so changes committed
// meanwhile reach it through Publish; they are merged with what the
// store said, idempotently by UID. A second session opening the same
// mailbox waits for the load.
func (r *Registry) open(ctx context.Context, st *store.Store, id store.MailboxID) (*shared, error) {
	r.mu.Lock()
	if sh := r.boxes[id]; sh != nil {
		if sh.refs == 0 {
			r.unidleLocked(sh)
		}
		sh.refs++
		r.mu.Unlock()
		if err := sh.waitLoaded(ctx); err != nil {
			if ctx.Err() != nil {
				r.release(sh)
			}
			return nil, err // else the loader took the entry away
		}
		return sh, nil
	}
	floor, hasFloor := r.floors[id]
	sh := &shared{id: id, refs: 1, views: map[*view]struct{}{}, loaded: make(chan struct{}), loading: true}
	r.boxes[id] = sh
	r.mu.Unlock()

	// The UIDs and keywords come from the store's UID blocks and keyword
	// list, not from the message records: a few small values even for a
	// large mailbox. The keywords are those ever set in the mailbox.
	if r.beforeLoad != nil {
		r.beforeLoad(id)
	}
	state, err := st.OpenState(ctx, id)
	if err != nil {
		r.mu.Lock()
		if r.boxes[id] == sh {
			delete(r.boxes, id)
		}
		r.mu.Unlock()
		sh.loadErr = err
		close(sh.loaded)
		return nil, err
	}
	sh.mu.Lock()
	// What Publish added while loading is in sh.uids and sh.keywords;
	// what it expunged, in sh.gone.
	uids := slices.DeleteFunc(state.UIDs, func(u store.UID) bool {
		_, found := slices.BinarySearch(sh.gone, u)
		return found
	})
	for _, u := range sh.uids {
		if i, found := slices.BinarySearch(uids, u); !found {
			uids = slices.Insert(uids, i, u)
		}
	}
	sh.uids = uids
	for _, k := range state.Keywords {
		sh.addKeywordLocked(k)
	}
	if hasFloor {
		sh.recent = floor
	} else if n := len(state.UIDs); n > 0 {
		// Messages stored before this load are not recent; those that
		// arrived during it are.
		sh.recent = state.UIDs[n-1]
	}
	sh.loading, sh.gone = false, nil
	sh.mu.Unlock()
	close(sh.loaded)
	return sh, nil
}

// waitLoaded waits until sh's state is read from the store, and returns
// the error of that read, or ctx's.
func (sh *shared) waitLoaded(ctx context.Context) error {
	select {
	case <-sh.loaded:
		return sh.loadErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Registry) release(sh *shared) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sh.refs--; sh.refs > 0 {
		return
	}
	sh.mu.Lock()
	deleted := sh.deleted
	sh.mu.Unlock()
	if deleted {
		delete(r.boxes, sh.id)
		return
	}
	r.idle = append(r.idle, sh)
	for len(r.idle) > 0 && (r.idleUIDsLocked() > idleUIDs || len(r.idle) > idleBoxes) {
		r.evictLocked(r.idle[0])
	}
}

// idleUIDsLocked counts the UIDs the idle entries hold.
func (r *Registry) idleUIDsLocked() int {
	n := 0
	for _, sh := range r.idle {
		sh.mu.Lock()
		n += len(sh.uids) + 3*len(sh.dates) // a cached date takes about three UIDs' room
		sh.mu.Unlock()
	}
	return n
}

// unidleLocked takes sh off the idle list (it is selected again).
func (r *Registry) unidleLocked(sh *shared) {
	if i := slices.Index(r.idle, sh); i >= 0 {
		r.idle = slices.Delete(r.idle, i, i+1)
	}
}

// evictLocked forgets an idle mailbox's state, keeping its \Recent floor.
func (r *Registry) evictLocked(sh *shared) {
	r.unidleLocked(sh)
	delete(r.boxes, sh.id)
	sh.mu.Lock()
	if !sh.deleted {
		r.floors[sh.id] = sh.recent
	}
	sh.mu.Unlock()
}

// Forget drops the kept state of mailbox id if nobody has it selected,
// as a restart would: the next SELECT reads it from the store again.
func (r *Registry) Forget(id store.MailboxID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sh := r.boxes[id]; sh != nil && sh.refs == 0 {
		r.evictLocked(sh)
	}
}

// recentCount returns how many messages of mailbox id are \Recent for
// the next session to select it (STATUS RECENT).
func (r *Registry) recentCount(ctx context.Context, st *store.Store, id store.MailboxID) (uint32, error) {
	r.mu.Lock()
	if sh := r.boxes[id]; sh != nil {
		r.mu.Unlock()
		if err := sh.waitLoaded(ctx); err != nil {
			return 0, err
		}
		sh.mu.Lock()
		defer sh.mu.Unlock()
		i, _ := slices.BinarySearch(sh.uids, sh.recent+1)
		return uint32(len(sh.uids) - i), nil
	}
	floor, ok := r.floors[id]
	r.mu.Unlock()
	if !ok {
		return 0, nil
	}
	var n uint32
	err := st.Messages(ctx, id, floor+1, 0, func(*store.Message) error { n++; return nil })
	return n, err
}

// addKeywordLocked records a keyword and reports whether it is new.
func (sh *shared) addKeywordLocked(k string) bool {
	i, found := slices.BinarySearch(sh.keywords, k)
	if !found {
		sh.keywords = slices.Insert(sh.keywords, i, k)
	}
	return !found
}

// Publish applies a committed change to the mailbox's shared state and
// queues it for every session that has the mailbox selected. The store
// calls it in commit order per mailbox.
func (r *Registry) Publish(c store.Change) {
	r.mu.Lock()
	for w := range r.watchers {
		w.note(c)
	}
	sh := r.boxes[c.Mailbox]
	if sh != nil && sh.refs == 0 && c.Kind == store.ChangeDeleted {
		// An idle entry of a deleted mailbox is forgotten.
		r.evictLocked(sh)
		delete(r.floors, c.Mailbox)
		r.mu.Unlock()
		return
	}
	if sh == nil {
		switch {
		case c.Kind == store.ChangeDeleted:
			delete(r.floors, c.Mailbox)
		case c.Kind == store.ChangeAppend && len(c.Messages) > 0:
			if _, ok := r.floors[c.Mailbox]; !ok {
				r.floors[c.Mailbox] = c.Messages[0].UID - 1
			}
		}
	}
	r.mu.Unlock()
	if sh == nil {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	newKeyword := false
	switch c.Kind {
	case store.ChangeAppend:
		for _, m := range c.Messages {
			if i, found := slices.BinarySearch(sh.uids, m.UID); !found {
				sh.uids = slices.Insert(sh.uids, i, m.UID)
			}
			for _, k := range m.Flags.Keywords {
				newKeyword = sh.addKeywordLocked(k) || newKeyword
			}
		}
	case store.ChangeFlags:
		for _, m := range c.Messages {
			for _, k := range m.Flags.Keywords {
				newKeyword = sh.addKeywordLocked(k) || newKeyword
			}
		}
	case store.ChangeExpunge:
		if len(sh.dates) > 0 {
			sh.dates = slices.DeleteFunc(sh.dates, func(d uidDate) bool {
				_, found := slices.BinarySearch(c.UIDs, d.uid)
				return found
			})
		}
		sh.uids = slices.DeleteFunc(sh.uids, func(u store.UID) bool {
			_, found := slices.BinarySearch(c.UIDs, u)
			return found
		})
		if sh.loading {
			for _, u := range c.UIDs {
				if i, found := slices.BinarySearch(sh.gone, u); !found {
					sh.gone = slices.Insert(sh.gone, i, u)
				}
			}
		}
	case store.ChangeDeleted:
		sh.deleted = true
	}
	for v := range sh.views {
		v.queue(c, newKeyword)
	}
}
