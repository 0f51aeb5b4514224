package engine

import (
	"slices"
	"strings"
	"sync"
	"time"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// NOTIFY (RFC 5465). NOTIFY SET names groups of mailboxes (PERSONAL,
// INBOXES, SUBSCRIBED, SUBTREE, MAILBOXES, and SELECTED) and the events
// wanted for each (MessageNew, MessageExpunge, FlagChange). The
// mailboxes of the groups are resolved when NOTIFY SET runs, among those
// the user may look up, shared ones included; a watcher registered with
// the Registry then notes every committed change to one of them, and the
// session tells them as STATUS responses: after each command, during
// IDLE, and between commands, when a goroutine waits for the client's
// next bytes so the session can write meanwhile. Rights are checked
// again for each notification: a mailbox the user may no longer read is
// not reported. For the selected mailbox, the SELECTED group decides:
// without one, its message events wait (RFC 5465 §3.1: as SELECTED NONE)
// until a later NOTIFY asks for them; with one, they are told as EXISTS,
// EXPUNGE or VANISHED and FETCH, MessageNew's fetch attributes included.
// Mailbox-name, subscription, annotation and metadata events are not
// supported: NOTIFY asking for them is refused with [BADEVENT].

// Event bits.
const (
	evNew     uint8 = 1 << iota // MessageNew
	evExpunge                   // MessageExpunge
	evFlags                     // FlagChange
)

// maxWatched bounds the mailboxes one NOTIFY may watch.
const maxWatched = 2000

// supportedEvents is BADEVENT's list.
const supportedEvents = "MessageNew MessageExpunge FlagChange"

// notifySpec is a session's NOTIFY SET.
type notifySpec struct {
	selected   uint8       // events for the selected mailbox
	selFetch   []fetchItem // MessageNew's fetch attributes for it
	watch      *watcher    // the other mailboxes
	immediate  bool        // SELECTED rather than SELECTED-DELAYED
	selDefined bool        // a SELECTED group was given
}

// watcher receives the Registry's changes for the mailboxes it watches.
type watcher struct {
	mu      sync.Mutex
	ids     map[store.MailboxID]uint8 // mailbox → events wanted
	names   map[store.MailboxID]string
	pending map[store.MailboxID]uint8
	wake    chan struct{}
	user    string // the session's user, lower case: only their own private \Seen changes concern it
}

// note records a change to a watched mailbox; it must not block (the
// store calls Publish with the mailbox locked).
func (w *watcher) note(c store.Change) {
	var ev uint8
	switch c.Kind {
	case store.ChangeAppend:
		ev = evNew
	case store.ChangeExpunge:
		ev = evExpunge
	case store.ChangeFlags:
		ev = evFlags
	case store.ChangeSeen:
		if c.User != w.user {
			return
		}
		ev = evFlags
	default:
		return
	}
	w.mu.Lock()
	want := w.ids[c.Mailbox]
	if want&ev != 0 {
		if w.pending == nil {
			w.pending = map[store.MailboxID]uint8{}
		}
		w.pending[c.Mailbox] |= ev
	}
	w.mu.Unlock()
	if want&ev != 0 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// take returns and clears the pending notifications.
func (w *watcher) take() map[store.MailboxID]uint8 {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending
	w.pending = nil
	return p
}

// watch registers w for every change; unwatch ends it.
func (r *Registry) watch(w *watcher) {
	r.mu.Lock()
	if r.watchers == nil {
		r.watchers = map[*watcher]struct{}{}
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
}

func (r *Registry) unwatch(w *watcher) {
	r.mu.Lock()
	delete(r.watchers, w)
	r.mu.Unlock()
}

// notifyGroup is one parsed event group.
type notifyGroup struct {
	filter string   // SELECTED, SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES
	names  []string // SUBTREE's and MAILBOXES' mailboxes
	events uint8
	fetch  []fetchItem
}

// cmdNotify is NOTIFY NONE and NOTIFY SET [STATUS] groups.
func cmdNotify(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) == 1 && cmd.Args[0].IsAtom("NONE") {
		c.stopNotify()
		return nil
	}
	if len(cmd.Args) < 2 || !cmd.Args[0].IsAtom("SET") {
		return syntax("NOTIFY takes NONE or SET [STATUS] (mailboxes events)...")
	}
	args := cmd.Args[1:]
	status := false
	if args[0].IsAtom("STATUS") {
		status, args = true, args[1:]
	}
	if len(args) == 0 {
		return syntax("NOTIFY SET needs at least one event group")
	}
	var groups []notifyGroup
	for _, a := range args {
		g, err := c.parseNotifyGroup(a)
		if err != nil {
			return err
		}
		groups = append(groups, g)
	}
	spec := &notifySpec{}
	w := &watcher{ids: map[store.MailboxID]uint8{}, names: map[store.MailboxID]string{}, wake: make(chan struct{}, 1), user: strings.ToLower(c.account.Address)}
	entries, err := c.visibleMailboxes()
	if err != nil {
		return err
	}
	var subs []string
	for _, g := range groups {
		switch g.filter {
		case "SELECTED", "SELECTED-DELAYED":
			if spec.selDefined {
				return syntax("SELECTED may be given once")
			}
			spec.selDefined, spec.selected, spec.selFetch = true, g.events, g.fetch
			spec.immediate = g.filter == "SELECTED"
			continue
		case "SUBSCRIBED":
			if subs == nil {
				if subs, err = c.srv.opts.Store.Subscriptions(c.ctx, c.account.Address); err != nil {
					return err
				}
			}
		}
		for name, e := range entries {
			if e.mailbox == nil || e.node || !g.covers(c, name, e, subs) {
				continue
			}
			if _, seen := w.ids[e.mailbox.ID]; seen {
				continue // the first group that covers a mailbox decides
			}
			w.ids[e.mailbox.ID], w.names[e.mailbox.ID] = g.events, name
		}
	}
	if len(w.ids) > maxWatched {
		return no("NOTIFICATIONOVERFLOW", "Too many mailboxes to watch")
	}
	c.stopNotify()
	c.notify = spec
	if len(w.ids) > 0 {
		spec.watch = w
		c.srv.opts.Registry.watch(w)
	}
	if status {
		c.initialStatus(w)
	}
	return nil
}

// covers reports whether the group includes the mailbox name (e an entry
// of visibleMailboxes).
func (g notifyGroup) covers(c *conn, name string, e *listEntry, subs []string) bool {
	own := strings.EqualFold(e.mailbox.Account, c.account.Address)
	switch g.filter {
	case "PERSONAL":
		return own
	case "INBOXES":
		return own && e.mailbox.Name == store.Inbox
	case "SUBSCRIBED":
		return slices.Contains(subs, name)
	case "SUBTREE":
		for _, n := range g.names {
			if name == n || strings.HasPrefix(name, n+"/") {
				return true
			}
		}
	case "MAILBOXES":
		return slices.Contains(g.names, name)
	}
	return false
}

// parseNotifyGroup reads "(" filter-mailboxes SP events ")".
func (c *conn) parseNotifyGroup(v proto.Value) (notifyGroup, error) {
	bad := syntax("An event group is (mailboxes events)")
	if v.Kind != proto.List || len(v.List) < 2 {
		return notifyGroup{}, bad
	}
	l := v.List
	g := notifyGroup{filter: l[0].Upper()}
	switch g.filter {
	case "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED":
		l = l[1:]
	case "SUBTREE", "MAILBOXES":
		if len(l) < 3 {
			return g, bad
		}
		names := []proto.Value{l[1]}
		if l[1].Kind == proto.List {
			names = l[1].List
		}
		if len(names) == 0 {
			return g, bad
		}
		for _, n := range names {
			name, err := c.mailboxArg(n)
			if err != nil {
				return g, err
			}
			g.names = append(g.names, name)
		}
		l = l[2:]
	default:
		return g, syntax("Unknown mailbox filter " + g.filter)
	}
	if len(l) != 1 {
		return g, bad
	}
	if l[0].IsAtom("NONE") {
		return g, nil
	}
	if l[0].Kind != proto.List || len(l[0].List) == 0 {
		return g, bad
	}
	evs := l[0].List
	for i := 0; i < len(evs); i++ {
		switch e := evs[i].Upper(); e {
		case "MESSAGENEW":
			g.events |= evNew
			if i+1 < len(evs) && evs[i+1].Kind == proto.List {
				i++
				if !strings.HasPrefix(g.filter, "SELECTED") {
					return g, syntax("Fetch attributes are for the selected mailbox only")
				}
				items, err := parseFetchItems(evs[i])
				if err != nil {
					return g, err
				}
				g.fetch = items
			}
		case "MESSAGEEXPUNGE":
			g.events |= evExpunge
		case "FLAGCHANGE":
			g.events |= evFlags
		case "ANNOTATIONCHANGE", "MAILBOXNAME", "SUBSCRIPTIONCHANGE", "MAILBOXMETADATACHANGE", "SERVERMETADATACHANGE":
			return g, no("BADEVENT ("+supportedEvents+")", "Event "+string(evs[i].Bytes)+" is not supported")
		default:
			return g, syntax("Unknown event " + string(evs[i].Bytes))
		}
	}
	// RFC 5465 §5 wants MessageNew and MessageExpunge together, and both
	// with FlagChange; like Dovecot, one alone is accepted.
	return g, nil
}

// stopNotify ends NOTIFY (NOTIFY NONE, a new NOTIFY SET, logout).
func (c *conn) stopNotify() {
	if c.notify != nil && c.notify.watch != nil {
		c.srv.opts.Registry.unwatch(c.notify.watch)
	}
	c.notify = nil
}

// initialStatus is NOTIFY SET STATUS: the state of each watched mailbox
// but the selected one, with the items its events concern.
func (c *conn) initialStatus(w *watcher) {
	ids := make([]store.MailboxID, 0, len(w.ids))
	for id := range w.ids {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b store.MailboxID) int { return strings.Compare(w.names[a], w.names[b]) })
	for _, id := range ids {
		var items []string
		ev := w.ids[id]
		if ev&(evNew|evExpunge) != 0 {
			items = append(items, "MESSAGES")
		}
		if ev&evNew != 0 {
			items = append(items, "UIDNEXT")
		}
		if ev&(evNew|evFlags) != 0 {
			items = append(items, "UIDVALIDITY")
		}
		if ev&evFlags != 0 || (ev != 0 && c.condstore) {
			items = append(items, "HIGHESTMODSEQ")
		}
		c.notifyStatus(id, w.names[id], items)
	}
}

// notifyStatus writes a STATUS for a watched mailbox other than the
// selected one, if the user may still read it.
func (c *conn) notifyStatus(id store.MailboxID, name string, items []string) {
	if len(items) == 0 || (c.sel != nil && c.sel.id == id) {
		return
	}
	m, err := c.srv.opts.Store.Mailbox(c.ctx, id)
	if err != nil {
		return // deleted meanwhile
	}
	dir := c.srv.opts.Directory.Load()
	me, owner := c.me(dir), dir
	if me == nil {
		return
	}
	acct, ok := owner.Lookup(m.Account)
	if !ok {
		return
	}
	rights, err := c.rightsOn(dir, me, acct, m)
	if err != nil || !rights.Has(acl.RightLookup|acl.RightRead) {
		return
	}
	c.writeStatus(name, m, items)
}

// announceNotify tells the changes to watched mailboxes noted since the
// last time.
func (c *conn) announceNotify() {
	if c.notify == nil || c.notify.watch == nil {
		return
	}
	w := c.notify.watch
	pending := w.take()
	if len(pending) == 0 {
		return
	}
	ids := make([]store.MailboxID, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b store.MailboxID) int { return strings.Compare(w.names[a], w.names[b]) })
	for _, id := range ids {
		ev := pending[id]
		var items []string
		if ev&(evNew|evExpunge) != 0 {
			items = append(items, "MESSAGES", "UIDNEXT", "UNSEEN")
		}
		if ev&evFlags != 0 {
			items = append(items, "UIDVALIDITY")
			if ev&(evNew|evExpunge) == 0 {
				items = append(items, "UNSEEN")
			}
		}
		if ev&evFlags != 0 || c.condstore {
			items = append(items, "HIGHESTMODSEQ")
		}
		c.notifyStatus(id, w.names[id], items)
	}
}

// notifyWake is signalled when a watched mailbox changes (nil: no
// NOTIFY).
func (c *conn) notifyWake() <-chan struct{} {
	if c.notify == nil || c.notify.watch == nil {
		return nil
	}
	return c.notify.watch.wake
}

// waitForCommand is the wait for the client's next command while NOTIFY
// is on: a goroutine waits for its first bytes, and meanwhile the session
// tells what changed as it changes. Without NOTIFY, the session only
// reads.
func (c *conn) waitForCommand() {
	if c.notify == nil || c.br.Buffered() > 0 || c.state == loggedOut {
		return
	}
	ready := make(chan struct{})
	go func() {
		c.br.Peek(1) // an error is the decoder's to find
		close(ready)
	}()
	var selWake <-chan struct{}
	if c.sel != nil && c.notify.selected != 0 {
		selWake = c.sel.wake
	}
	for {
		c.announce(c.notify.immediate)
		if err := c.enc.Flush(); err != nil || c.state == loggedOut {
			c.nc.SetReadDeadline(time.Now())
			<-ready
			return
		}
		select {
		case <-ready:
			return
		case <-selWake:
		case <-c.notifyWake():
		case <-c.srv.ctx.Done():
			c.nc.SetReadDeadline(time.Now())
			<-ready
			return
		}
	}
}

// fetchNew writes FETCH with NOTIFY's MessageNew attributes (and the UID)
// for new messages of the selected mailbox. Nothing is marked \Seen: the
// client did not ask to read them.
func (c *conn) fetchNew(uids []store.UID, items []fetchItem) error {
	if !c.uidOnly && !slices.ContainsFunc(items, func(it fetchItem) bool { return it.name == "UID" }) {
		items = append([]fetchItem{{name: "UID", echo: "UID"}}, items...)
	}
	needContent := slices.ContainsFunc(items, func(it fetchItem) bool { return it.content() })
	write := func(m *store.Message, content []byte) error {
		c.writeFetch(m, content, items, false)
		return c.enc.Err()
	}
	if needContent {
		return c.recordsWithContent(uids, write)
	}
	return c.records(uids, func(m *store.Message) error { return write(m, nil) })
}
