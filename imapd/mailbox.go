package imapd

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailroom/acl"
	"mailroom/store"
)

func (s *session) Create(name string, opts *imap.CreateOptions) error {
	defer s.begin()()
	var use string
	if opts != nil && len(opts.SpecialUse) > 0 {
		if len(opts.SpecialUse) > 1 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"), Text: "One special-use attribute per mailbox"}
		}
		use = string(opts.SpecialUse[0])
	}
	dir := s.srv.opts.Directory.Load()
	me := s.me(dir)
	if me == nil {
		return s.mapErr("create", store.ErrNoMailbox)
	}
	owner, oname, err := s.splitName(dir, me, name)
	if err == nil && owner != me {
		err = s.needOnParent(me, owner, oname, acl.RightCreate, "create mailboxes")
	}
	if err != nil {
		return s.mapErr("create", err)
	}
	_, err = s.store().CreateMailbox(s.ctx(), owner.Address, oname, store.CreateOptions{
		SpecialUse: use, MaxMailboxes: s.srv.limits.Load().maxMailboxes,
	})
	return s.mapErr("create", err)
}

// needOnParent checks a right on the parent of owner's mailbox oname (RFC
// 4314: "k" on the parent to create or rename into). A top-level name in
// another user's namespace has no parent the user could hold it on.
func (s *session) needOnParent(me, owner *acl.Account, oname string, want acl.Rights, what string) error {
	sup := store.Superiors(strings.TrimSuffix(oname, "/"))
	if len(sup) == 0 {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm,
			Text: "Only the owner can create top-level mailboxes of " + owner.Address}
	}
	p, err := s.locate(s.displayName(me, owner, sup[len(sup)-1]))
	if err != nil {
		return err
	}
	return need(p, want, what)
}

func (s *session) Delete(name string) error {
	defer s.begin()()
	p, err := s.locate(name)
	if err == nil {
		err = need(p, acl.RightDelete, "delete the mailbox")
	}
	if err != nil {
		return s.mapErr("delete", err)
	}
	return s.mapErr("delete", s.store().DeleteMailbox(s.ctx(), p.owner.Address, p.name))
}

func (s *session) Rename(from, to string, _ *imap.RenameOptions) error {
	defer s.begin()()
	p, err := s.locate(from)
	if err == nil {
		err = need(p, acl.RightDelete, "rename the mailbox")
	}
	if err != nil {
		return s.mapErr("rename", err)
	}
	dir := s.srv.opts.Directory.Load()
	me := s.me(dir)
	owner, newName, err := s.splitName(dir, me, to)
	if err != nil || owner != p.owner {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "A mailbox can only be renamed within its owner's mailboxes"}
	}
	if owner != me {
		if err := s.needOnParent(me, owner, newName, acl.RightCreate, "create mailboxes"); err != nil {
			return s.mapErr("rename", err)
		}
	}
	return s.mapErr("rename", s.store().RenameMailbox(s.ctx(), owner.Address, p.name, newName))
}

func (s *session) Subscribe(name string) error {
	defer s.begin()()
	if _, err := s.locate(name); err != nil {
		return s.mapErr("subscribe", err)
	}
	return s.mapErr("subscribe", s.store().Subscribe(s.ctx(), s.account.Address, name))
}

func (s *session) Unsubscribe(name string) error {
	defer s.begin()()
	return s.mapErr("unsubscribe", s.store().Unsubscribe(s.ctx(), s.account.Address, name))
}

func (s *session) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	defer s.begin()()
	p, err := s.locate(name)
	if err == nil {
		err = need(p, acl.RightRead, "read the status")
	}
	if err != nil {
		return nil, s.mapErr("status", err)
	}
	return s.statusData(name, p.mailbox, opts), nil
}

func (s *session) statusData(name string, m *store.Mailbox, opts *imap.StatusOptions) *imap.StatusData {
	d := &imap.StatusData{Mailbox: name}
	if opts.NumMessages {
		d.NumMessages = &m.Messages
	}
	if opts.UIDNext {
		d.UIDNext = imap.UID(m.UIDNext)
	}
	if opts.UIDValidity {
		d.UIDValidity = m.UIDValidity
	}
	if opts.NumUnseen {
		d.NumUnseen = &m.Unseen
	}
	if opts.Size {
		d.Size = &m.Size
	}
	if opts.AppendLimit {
		l := s.AppendLimit()
		d.AppendLimit = &l
	}
	if opts.NumRecent {
		var zero uint32
		d.NumRecent = &zero
	}
	return d
}

// listEntry is one name LIST may return.
type listEntry struct {
	name       string
	mailbox    *store.Mailbox // nil: subscribed but not existing, or virtual
	rights     acl.Rights     // the user's rights on mailbox
	virtual    bool           // a namespace node: Other Users/<address>
	subscribed bool
	children   bool
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imap.ListOptions) error {
	defer s.begin()()
	if opts == nil {
		opts = &imap.ListOptions{}
	}
	if len(patterns) == 0 && !opts.SelectSubscribed {
		// RFC 9051 §6.3.9: an empty pattern (go-imap drops it) asks for
		// the delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: store.Delimiter})
	}
	entries, err := s.visibleMailboxes()
	if err != nil {
		return s.internal("list", err)
	}
	subs, err := s.store().Subscriptions(s.ctx(), s.account.Address)
	if err != nil {
		return s.internal("list", err)
	}
	for _, n := range subs {
		e := entries[n]
		if e == nil {
			e = &listEntry{name: n}
			entries[n] = e
		}
		e.subscribed = true
	}
	for n, e := range entries {
		if e.mailbox == nil && !e.virtual {
			continue
		}
		for _, sup := range store.Superiors(n) {
			if p := entries[sup]; p != nil {
				p.children = true
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)

	matches := func(name string) bool {
		for _, p := range patterns {
			if imapserver.MatchList(name, store.Delimiter, ref, p) {
				return true
			}
		}
		return false
	}
	written := map[string]bool{}
	for _, n := range names {
		e := entries[n]
		if !matches(n) {
			continue
		}
		if opts.SelectSubscribed && !e.subscribed {
			continue
		}
		if !opts.SelectSubscribed && e.mailbox == nil && !e.virtual {
			continue
		}
		if opts.SelectSpecialUse && (e.mailbox == nil || e.mailbox.SpecialUse == "") {
			continue
		}
		if err := w.WriteList(s.listData(e, opts)); err != nil {
			return err
		}
		written[n] = true
	}
	if opts.SelectSubscribed && opts.SelectRecursiveMatch {
		// RFC 5258 §3.5: a parent that matches the pattern but is not
		// itself subscribed is returned with CHILDINFO when a child is.
		for _, n := range names {
			e := entries[n]
			if !e.subscribed || written[n] {
				continue
			}
			for _, sup := range store.Superiors(n) {
				if written[sup] || !matches(sup) {
					continue
				}
				pe := entries[sup]
				if pe == nil {
					pe = &listEntry{name: sup}
				}
				d := s.listData(pe, opts)
				d.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
				if err := w.WriteList(d); err != nil {
					return err
				}
				written[sup] = true
			}
		}
	}
	return nil
}

func (s *session) listData(e *listEntry, opts *imap.ListOptions) *imap.ListData {
	d := &imap.ListData{Mailbox: e.name, Delim: store.Delimiter}
	switch {
	case e.virtual:
		d.Attrs = append(d.Attrs, imap.MailboxAttrNoSelect, imap.MailboxAttrHasChildren)
	case e.mailbox == nil:
		d.Attrs = append(d.Attrs, imap.MailboxAttrNonExistent)
	default:
		if e.children {
			d.Attrs = append(d.Attrs, imap.MailboxAttrHasChildren)
		} else {
			d.Attrs = append(d.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if e.mailbox.SpecialUse != "" {
			d.Attrs = append(d.Attrs, imap.MailboxAttr(e.mailbox.SpecialUse))
		}
	}
	if e.subscribed && (opts.ReturnSubscribed || opts.SelectSubscribed) {
		d.Attrs = append(d.Attrs, imap.MailboxAttrSubscribed)
	}
	// RETURN (STATUS) gives what STATUS would: nothing without "r" (RFC
	// 5819 §2: a mailbox whose status cannot be had gets no STATUS).
	if opts.ReturnStatus != nil && e.mailbox != nil && !e.virtual && e.rights.Has(acl.RightRead) {
		d.Status = s.statusData(e.name, e.mailbox, opts.ReturnStatus)
	}
	return d
}

// visibleMailboxes returns, by the session's names, every mailbox the user
// may look up: their own, and those of accounts that share a group with
// them and may share, on which they hold "l"; plus the namespace nodes
// above the latter.
func (s *session) visibleMailboxes() (map[string]*listEntry, error) {
	dir := s.srv.opts.Directory.Load()
	me := s.me(dir)
	entries := map[string]*listEntry{}
	if me == nil {
		return entries, nil
	}
	for _, owner := range dir.Accounts() {
		if owner != me && (!owner.Plan.Share || !owner.SharesGroupWith(me)) {
			continue
		}
		boxes, err := s.store().Mailboxes(s.ctx(), owner.Address)
		if err != nil {
			return nil, err
		}
		for _, m := range boxes {
			rights, err := s.rightsOn(dir, me, owner, m)
			if err != nil {
				return nil, err
			}
			if !rights.Has(acl.RightLookup) {
				continue
			}
			name := s.displayName(me, owner, m.Name)
			entries[name] = &listEntry{name: name, mailbox: m, rights: rights}
			if owner != me {
				for _, sup := range store.Superiors(name) {
					if entries[sup] == nil && strings.Count(sup, "/") <= 1 {
						entries[sup] = &listEntry{name: sup, virtual: true}
					}
				}
			}
		}
	}
	return entries, nil
}
