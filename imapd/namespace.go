package imapd

import (
	"context"
	"strings"

	"github.com/emersion/go-imap/v2"

	"mailroom/acl"
	"mailroom/store"
)

// Namespaces (RFC 2342): the user's own mailboxes have no prefix; other
// accounts' mailboxes appear as Other Users/<address>/<name>, team
// accounts' as Shared/<address>/<name>.
const (
	otherPrefix  = "Other Users/"
	sharedPrefix = "Shared/"
)

// place is a mailbox as one session sees it.
type place struct {
	owner   *acl.Account
	name    string // the owner's name for it
	display string // the session's name for it
	mailbox *store.Mailbox
	rights  acl.Rights
}

// me returns the logged-in account as the current directory has it, so
// that a reload's changes to groups and plans apply to open sessions.
func (s *session) me(dir *acl.Directory) *acl.Account {
	if a, ok := dir.Lookup(s.account.Address); ok {
		return a
	}
	return nil
}

func (s *session) displayName(me, owner *acl.Account, name string) string {
	if owner == me {
		return name
	}
	if owner.Team {
		return sharedPrefix + owner.Address + "/" + name
	}
	return otherPrefix + owner.Address + "/" + name
}

// splitName maps a client's mailbox name to its owner and the owner's
// name for it. A name inside another namespace that names no account, an
// account out of reach, or only the account's node is ErrNoMailbox.
func (s *session) splitName(dir *acl.Directory, me *acl.Account, name string) (*acl.Account, string, error) {
	for _, prefix := range []string{otherPrefix, sharedPrefix} {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		addr, mbox, _ := strings.Cut(rest, "/")
		owner, ok := dir.Lookup(addr)
		if !ok || owner == me || !reachable(me, owner) || owner.Team != (prefix == sharedPrefix) || mbox == "" {
			return nil, "", store.ErrNoMailbox
		}
		return owner, mbox, nil
	}
	return me, name, nil
}

// reachable reports whether any of owner's mailboxes could be shared with
// me: owner's plan allows sharing and they have a group in common (as
// acl.Directory.Rights requires). An account out of reach is treated
// everywhere as one that does not exist, so that a user of another group
// cannot tell which addresses, team accounts or groups exist.
func reachable(me, owner *acl.Account) bool {
	return owner == me || (owner.Plan.Share && owner.SharesGroupWith(me))
}

// rightsOn evaluates the session user's rights on owner's mailbox m.
func (s *session) rightsOn(dir *acl.Directory, me, owner *acl.Account, m *store.Mailbox) (acl.Rights, error) {
	return s.rightsOnCtx(s.ctx(), dir, me, owner, m)
}

func (s *session) rightsOnCtx(ctx context.Context, dir *acl.Directory, me, owner *acl.Account, m *store.Mailbox) (acl.Rights, error) {
	if owner == me {
		return acl.AllRights, nil
	}
	stored, err := s.store().ACL(ctx, m.ID)
	if err != nil {
		return 0, err
	}
	entries := make([]acl.Entry, 0, len(stored))
	for _, e := range stored {
		entries = append(entries, acl.NewEntry(e.Identifier, e.Rights))
	}
	return dir.Rights(owner, me, m.Name, entries), nil
}

// locate resolves a client's mailbox name. A mailbox the user may not look
// up is reported exactly like one that does not exist (RFC 4314 §4).
func (s *session) locate(name string) (*place, error) {
	dir := s.srv.opts.Directory.Load()
	me := s.me(dir)
	if me == nil {
		return nil, store.ErrNoMailbox
	}
	owner, oname, err := s.splitName(dir, me, name)
	if err != nil {
		return nil, err
	}
	m, err := s.store().MailboxByName(s.ctx(), owner.Address, oname)
	if err != nil {
		return nil, err
	}
	rights, err := s.rightsOn(dir, me, owner, m)
	if err != nil {
		return nil, err
	}
	if !rights.Has(acl.RightLookup) {
		return nil, store.ErrNoMailbox
	}
	return &place{owner: owner, name: m.Name, display: s.displayName(me, owner, m.Name), mailbox: m, rights: rights}, nil
}

// need returns NOPERM unless p grants every right in want.
func need(p *place, want acl.Rights, what string) error {
	if p.rights.Has(want) {
		return nil
	}
	missing := want &^ p.rights
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm,
		Text: "You may not " + what + " in " + p.display + " (missing rights: " + missing.String() + ")"}
}

// errWithdrawn answers commands on a selected mailbox the user may no
// longer read.
var errWithdrawn = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm,
	Text: "Access to the selected mailbox has been withdrawn"}

// selectedRights re-evaluates the rights on the selected mailbox, so a
// revocation applies to a session that already has it open. Losing "l" or
// "r" (by SETACL, DELETEACL, a reload, or the mailbox's deletion) ends the
// selection for good: see selectionLost.
func (s *session) selectedRights() (*place, error) {
	if s.sel.withdrawn.Load() {
		return nil, errWithdrawn
	}
	p, err := s.selectedPlace(s.ctx())
	switch {
	case err == errWithdrawn:
		s.withdraw()
	case err != nil:
		return nil, s.internal("rights", err)
	}
	return p, err
}

// selectedPlace resolves the selected mailbox as it is now; errWithdrawn
// if the user may no longer read it. It may run on the IDLE goroutine, so
// it touches no command state.
func (s *session) selectedPlace(ctx context.Context) (*place, error) {
	dir := s.srv.opts.Directory.Load()
	me := s.me(dir)
	// By ID: the mailbox may have been renamed since it was selected.
	m, err := s.store().Mailbox(ctx, s.sel.mailbox.ID)
	if err != nil || me == nil {
		return nil, errWithdrawn
	}
	owner, ok := dir.Lookup(m.Account)
	if !ok {
		return nil, errWithdrawn
	}
	rights, err := s.rightsOnCtx(ctx, dir, me, owner, m)
	if err != nil {
		return nil, err
	}
	if !rights.Has(acl.RightLookup | acl.RightRead) {
		return nil, errWithdrawn
	}
	return &place{owner: owner, name: m.Name, display: s.displayName(me, owner, m.Name), mailbox: m, rights: rights}, nil
}

// selectionLost reports whether the user has lost access to the selected
// mailbox. It runs before every update is sent (after each command, in
// NOOP and in IDLE after each change), so once a revocation is committed,
// no later change of the mailbox reaches the session. The selection then
// acts as gone, like Dovecot's and Cyrus's after the mailbox is deleted:
// updates stop, commands on it answer NO [NOPERM], CLOSE and UNSELECT
// leave it; a new SELECT is needed even if access comes back. An account's
// own mailboxes are not re-read.
func (s *session) selectionLost(ctx context.Context) bool {
	if s.sel.withdrawn.Load() {
		return true
	}
	dir := s.srv.opts.Directory.Load()
	if me := s.me(dir); me != nil && acl.Fold(me.Address) == acl.Fold(s.sel.mailbox.Account) {
		return false
	}
	_, err := s.selectedPlace(ctx)
	switch {
	case err == errWithdrawn:
		s.withdraw()
		return true
	case err != nil:
		// The rights could not be read: hold this round of updates back.
		if ctx.Err() == nil {
			s.log.Error("rights of the selected mailbox", "err", err)
		}
		return true
	}
	return false
}

func (s *session) withdraw() {
	if !s.sel.withdrawn.Swap(true) {
		s.sel.detach()
		s.log.Info("access to the selected mailbox withdrawn", "mailbox", s.sel.display)
	}
}
