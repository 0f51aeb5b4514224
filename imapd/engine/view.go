package engine

import (
	"slices"
	"sync"

	"mailroom/store"
)

// view is one session's selected mailbox: its own sequence numbering
// (uids[n-1] is message n) and the changes committed since it last told
// the client. Pending changes are kept as sets keyed by UID, so they are
// bounded by the mailbox's size however long the client stays silent.
type view struct {
	sh       *shared
	id       store.MailboxID
	display  string // the name the client selected it by
	readOnly bool   // EXAMINE, or no right to change anything
	// withdrawn: the user lost read access; the view gets no more changes
	// and stays withdrawn until deselected.
	withdrawn bool

	uids   []store.UID
	recent map[store.UID]bool // \Recent in this session
	told   map[string]bool    // the keywords the client was told in FLAGS
	// seenUser, when not empty, keeps \Seen privately here (its
	// lower-case address): the view shows \Seen from seen, its own state,
	// loaded at SELECT and kept current by its ChangeSeen changes (under
	// mu), instead of the message records' (the owner's).
	seenUser string
	seen     seenSet
	// loading: the user's \Seen is being read; backlog keeps the
	// ChangeSeen messages published meanwhile (under mu).
	loading bool
	backlog []store.Message

	mu sync.Mutex
	// wake is signalled (without blocking) after every queued change, for
	// IDLE.
	wake        chan struct{}
	newUIDs     []store.UID                 // appended, not yet announced
	expunged    map[store.UID]bool          // announced, now expunged, not yet announced as such
	flags       map[store.UID]store.Message // flag changes not yet announced (flags, modseq)
	newKeywords bool                        // FLAGS must be sent again
	deleted     bool                        // the mailbox is gone
	// track makes the view also note the UIDs whose flags the session
	// changed itself (in touched): its search contexts (RFC 5267 UPDATE)
	// must see those too.
	track   bool
	touched map[store.UID]bool
}

// newView selects mailbox sh for a session: the view starts from the
// shared UID list, claiming \Recent for messages no session has claimed
// unless the session only examines. With seenUser set, loadSeen reads
// that user's private \Seen after the view is registered (no lock is
// held while the store is read); the user's \Seen changes published
// meanwhile are applied again on top of what it read, in their order, so
// none is missed and none goes back.
func newView(sh *shared, id store.MailboxID, display string, readOnly bool, seenUser string, loadSeen func() ([]store.UID, error)) (*view, error) {
	v := &view{sh: sh, id: id, display: display, readOnly: readOnly, wake: make(chan struct{}, 1), recent: map[store.UID]bool{}, seenUser: seenUser}
	if seenUser != "" {
		v.seen, v.loading = seenSet{}, true
	}
	sh.mu.Lock()
	v.uids = slices.Clone(sh.uids)
	// Messages no session has claimed are recent here; EXAMINE shows them
	// so without claiming them (RFC 3501 §6.3.2).
	for i := len(v.uids) - 1; i >= 0 && v.uids[i] > sh.recent; i-- {
		v.recent[v.uids[i]] = true
	}
	if n := len(sh.uids); n > 0 && !readOnly {
		sh.recent = max(sh.recent, sh.uids[n-1])
	}
	sh.views[v] = struct{}{}
	sh.mu.Unlock()
	if seenUser == "" {
		return v, nil
	}
	uids, err := loadSeen()
	if err != nil {
		v.close()
		return nil, err
	}
	seen := seenSet{}
	for _, u := range uids {
		seen.set(u, true)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, m := range v.backlog {
		seen.set(m.UID, m.Flags.Sys&store.FlagSeen != 0)
	}
	v.seen, v.backlog, v.loading = seen, nil, false
	for u, m := range v.flags {
		v.overlayLocked(&m.Flags, u)
		v.flags[u] = m
	}
	return v, nil
}

// close deselects: the view stops receiving changes.
func (v *view) close() {
	v.sh.mu.Lock()
	delete(v.sh.views, v)
	v.sh.mu.Unlock()
}

// withdraw stops all changes to the view and drops what is pending.
func (v *view) withdraw() {
	if v.withdrawn {
		return
	}
	v.withdrawn = true
	v.close()
	v.mu.Lock()
	v.newUIDs, v.expunged, v.flags, v.newKeywords, v.touched = nil, nil, nil, false, nil
	v.mu.Unlock()
}

// queue records a change for the client; sh.mu is held (called from
// Registry.Publish).
func (v *view) queue(c store.Change, newKeyword bool) {
	own := c.Origin == v
	if c.Kind == store.ChangeSeen && c.User != v.seenUser {
		return // another user's own \Seen
	}
	if c.SeenOnly && v.seenUser != "" {
		return // the owner's \Seen: nothing changed for this user
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.newKeywords = v.newKeywords || newKeyword
	switch c.Kind {
	case store.ChangeAppend:
		for _, m := range c.Messages {
			last := store.UID(0)
			if n := len(v.newUIDs); n > 0 {
				last = v.newUIDs[n-1]
			} else if n := len(v.uids); n > 0 {
				last = v.uids[n-1]
			}
			if m.UID > last {
				v.newUIDs = append(v.newUIDs, m.UID)
			}
		}
	case store.ChangeSeen:
		for _, m := range c.Messages {
			v.seen.set(m.UID, m.Flags.Sys&store.FlagSeen != 0)
		}
		if v.loading {
			v.backlog = append(v.backlog, c.Messages...)
		}
		fallthrough
	case store.ChangeFlags:
		if own {
			// The session answers its own STORE; its search contexts
			// still need to know.
			if v.track {
				if v.touched == nil {
					v.touched = map[store.UID]bool{}
				}
				for _, m := range c.Messages {
					v.touched[m.UID] = true
				}
			}
			break
		}
		for _, m := range c.Messages {
			if v.flags == nil {
				v.flags = map[store.UID]store.Message{}
			}
			f := m.Flags
			v.overlayLocked(&f, m.UID)
			v.flags[m.UID] = store.Message{UID: m.UID, Flags: f, ModSeq: m.ModSeq}
		}
	case store.ChangeExpunge:
		for _, u := range c.UIDs {
			if i, found := slices.BinarySearch(v.newUIDs, u); found {
				v.newUIDs = slices.Delete(v.newUIDs, i, i+1) // never announced
				continue
			}
			if _, found := slices.BinarySearch(v.uids, u); found {
				if v.expunged == nil {
					v.expunged = map[store.UID]bool{}
				}
				v.expunged[u] = true
			}
			delete(v.flags, u)
			delete(v.touched, u)
			v.seen.set(u, false)
		}
	case store.ChangeDeleted:
		v.deleted = true
	}
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// seq returns the sequence number of uid in the view, or 0.
func (v *view) seq(uid store.UID) uint32 {
	if i, found := slices.BinarySearch(v.uids, uid); found {
		return uint32(i + 1)
	}
	return 0
}

// pending takes the queued changes the client may be told now: expunges
// only when allowExpunge (RFC 9051 §7.5.1: not during FETCH, STORE or
// SEARCH, nor outside a command).
func (v *view) pending(allowExpunge bool) (expunged []store.UID, newUIDs []store.UID, flags map[store.UID]store.Message, newKeywords, deleted bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if allowExpunge && len(v.expunged) > 0 {
		expunged = make([]store.UID, 0, len(v.expunged))
		for u := range v.expunged {
			expunged = append(expunged, u)
		}
		slices.Sort(expunged)
		v.expunged = nil
	}
	newUIDs, v.newUIDs = v.newUIDs, nil
	flags, v.flags = v.flags, nil
	newKeywords, v.newKeywords = v.newKeywords, false
	return expunged, newUIDs, flags, newKeywords, v.deleted
}

// takeTouched returns, once, the UIDs whose flags the session changed
// itself since it last asked (with track on).
func (v *view) takeTouched() []store.UID {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]store.UID, 0, len(v.touched))
	for u := range v.touched {
		out = append(out, u)
	}
	v.touched = nil
	slices.Sort(out)
	return out
}

// setTrack turns the noting of the session's own flag changes on or off.
func (v *view) setTrack(on bool) {
	v.mu.Lock()
	v.track = on
	if !on {
		v.touched = nil
	}
	v.mu.Unlock()
}

// supersede drops a pending flag change of uid that the client has just
// been told something as new or newer about (mod-sequence up to modseq),
// so an older state never follows a newer one (RFC 7162: MODSEQ only
// grows).
func (v *view) supersede(uid store.UID, modseq uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if f, ok := v.flags[uid]; ok && f.ModSeq <= modseq {
		delete(v.flags, uid)
	}
}

// takeNewKeywords reports, once, that a keyword appeared since FLAGS was
// last sent.
func (v *view) takeNewKeywords() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.newKeywords
	v.newKeywords = false
	return n
}

// isExpunged reports whether uid was expunged but not yet announced.
func (v *view) isExpunged(uid store.UID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.expunged[uid]
}

// keywords returns the keywords in use in the mailbox.
func (v *view) keywords() []string {
	v.sh.mu.Lock()
	defer v.sh.mu.Unlock()
	return slices.Clone(v.sh.keywords)
}

// claimRecent claims \Recent for newly announced messages, if no other
// session has (the first session to see them gets them).
func (v *view) claimRecent(uids []store.UID) {
	if v.readOnly || len(uids) == 0 {
		return
	}
	v.sh.mu.Lock()
	defer v.sh.mu.Unlock()
	for _, u := range uids {
		if u > v.sh.recent {
			v.recent[u] = true
		}
	}
	v.sh.recent = max(v.sh.recent, uids[len(uids)-1])
}

// overlay shows m's \Seen as the view's user sees it: with private
// \Seen, from the user's own state.
func (v *view) overlay(m *store.Message) {
	if v.seenUser == "" {
		return
	}
	v.mu.Lock()
	v.overlayLocked(&m.Flags, m.UID)
	v.mu.Unlock()
}

func (v *view) overlayLocked(f *store.Flags, uid store.UID) {
	if v.seenUser == "" {
		return
	}
	f.Sys &^= store.FlagSeen
	if v.seen.has(uid) {
		f.Sys |= store.FlagSeen
	}
}

// seenUIDs returns, with private \Seen, which of uids (ascending) the
// user has seen.
func (v *view) seenUIDs(uids []store.UID) []store.UID {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []store.UID
	for _, u := range uids {
		if v.seen.has(u) {
			out = append(out, u)
		}
	}
	return out
}

// seenSet is a set of UIDs as bitmaps of 1,024 UIDs, present blocks
// only: a user's private \Seen in a view.
type seenSet map[uint32]*[16]uint64

func (s seenSet) has(u store.UID) bool {
	b := s[uint32(u)/1024]
	return b != nil && b[uint32(u)%1024/64]&(1<<(uint32(u)%64)) != 0
}

func (s seenSet) set(u store.UID, on bool) {
	if s == nil {
		return
	}
	b := s[uint32(u)/1024]
	if b == nil {
		if !on {
			return
		}
		b = new([16]uint64)
		s[uint32(u)/1024] = b
	}
	if on {
		b[uint32(u)%1024/64] |= 1 << (uint32(u) % 64)
	} else {
		b[uint32(u)%1024/64] &^= 1 << (uint32(u) % 64)
	}
}
