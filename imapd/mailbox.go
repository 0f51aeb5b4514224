package imapd

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailroom/store"
)

func (s *session) Create(name string, opts *imap.CreateOptions) error {
	defer s.srv.busy()()
	var use string
	if opts != nil && len(opts.SpecialUse) > 0 {
		if len(opts.SpecialUse) > 1 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"), Text: "One special-use attribute per mailbox"}
		}
		use = string(opts.SpecialUse[0])
	}
	_, err := s.store().CreateMailbox(s.ctx(), s.account.Address, name, store.CreateOptions{
		SpecialUse: use, MaxMailboxes: s.srv.opts.MaxMailboxes,
	})
	return s.mapErr("create", err)
}

func (s *session) Delete(name string) error {
	defer s.srv.busy()()
	return s.mapErr("delete", s.store().DeleteMailbox(s.ctx(), s.account.Address, name))
}

func (s *session) Rename(from, to string, _ *imap.RenameOptions) error {
	defer s.srv.busy()()
	return s.mapErr("rename", s.store().RenameMailbox(s.ctx(), s.account.Address, from, to))
}

func (s *session) Subscribe(name string) error {
	defer s.srv.busy()()
	if _, err := s.mailbox(name); err != nil {
		return s.mapErr("subscribe", err)
	}
	return s.mapErr("subscribe", s.store().Subscribe(s.ctx(), s.account.Address, name))
}

func (s *session) Unsubscribe(name string) error {
	defer s.srv.busy()()
	return s.mapErr("unsubscribe", s.store().Unsubscribe(s.ctx(), s.account.Address, name))
}

func (s *session) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	defer s.srv.busy()()
	m, err := s.mailbox(name)
	if err != nil {
		return nil, s.mapErr("status", err)
	}
	return s.statusData(name, m, opts), nil
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
	mailbox    *store.Mailbox // nil: subscribed but not existing
	subscribed bool
	children   bool
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imap.ListOptions) error {
	defer s.srv.busy()()
	if opts == nil {
		opts = &imap.ListOptions{}
	}
	if len(patterns) == 0 && !opts.SelectSubscribed {
		// RFC 9051 §6.3.9: an empty pattern (go-imap drops it) asks for
		// the delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: store.Delimiter})
	}
	boxes, err := s.store().Mailboxes(s.ctx(), s.account.Address)
	if err != nil {
		return s.internal("list", err)
	}
	subs, err := s.store().Subscriptions(s.ctx(), s.account.Address)
	if err != nil {
		return s.internal("list", err)
	}
	entries := map[string]*listEntry{}
	for _, m := range boxes {
		entries[m.Name] = &listEntry{name: m.Name, mailbox: m}
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
		if e.mailbox == nil {
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
		if !opts.SelectSubscribed && e.mailbox == nil {
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
	if e.mailbox == nil {
		d.Attrs = append(d.Attrs, imap.MailboxAttrNonExistent)
	} else {
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
	if opts.ReturnStatus != nil && e.mailbox != nil {
		d.Status = s.statusData(e.name, e.mailbox, opts.ReturnStatus)
	}
	return d
}
