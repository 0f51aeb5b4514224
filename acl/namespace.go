package acl

import (
	"context"
	"errors"
	"strings"

	"mailroom/store"
)

// Namespaces (RFC 2342) as every protocol names mailboxes: a user's own
// mailboxes by their names, another person's under "Other Users/<address>/",
// a team account's under "Shared/<address>/". IMAP, SMTP send-as, the
// `mailroom` commands and ManageSieve resolve names and decide access
// here; none re-implements it.
const (
	OtherPrefix  = "Other Users/"
	SharedPrefix = "Shared/"
)

// MailboxStore is what resolving names needs from the store.
type MailboxStore interface {
	ACLStore
	MailboxByName(ctx context.Context, account, name string) (*store.Mailbox, error)
}

// Place is a mailbox as one user sees it: whose it is, the owner's name
// for it, the user's name for it and the rights the user holds there.
type Place struct {
	Owner   *Account
	Name    string
	Display string
	Mailbox *store.Mailbox
	Rights  Rights
}

// DisplayName is me's name for owner's mailbox name.
func DisplayName(me, owner *Account, name string) string {
	switch {
	case owner == me:
		return name
	case owner.Team:
		return SharedPrefix + owner.Address + "/" + name
	}
	return OtherPrefix + owner.Address + "/" + name
}

// Reachable reports whether owner could share anything with me: an
// account that never could answers as one that does not exist, so nobody
// learns which accounts exist.
func Reachable(me, owner *Account) bool {
	return owner == me || owner.Plan.Share && owner.SharesGroupWith(me)
}

// SplitName maps me's mailbox name to its owner and the owner's name for
// it. A name in another namespace that names no reachable account, or
// only the account's node, is store.ErrNoMailbox.
func (d *Directory) SplitName(me *Account, name string) (*Account, string, error) {
	for _, prefix := range []string{OtherPrefix, SharedPrefix} {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		addr, mbox, _ := strings.Cut(rest, "/")
		owner, ok := d.Lookup(addr)
		if !ok || owner == me || owner.Team != (prefix == SharedPrefix) || mbox == "" || !Reachable(me, owner) {
			return nil, "", store.ErrNoMailbox
		}
		return owner, mbox, nil
	}
	return me, name, nil
}

// Locate resolves me's mailbox name to the mailbox and me's rights there.
// A mailbox me may not look up ("l") answers exactly as one that does not
// exist (RFC 4314 §4).
func (d *Directory) Locate(ctx context.Context, st MailboxStore, me *Account, name string) (*Place, error) {
	owner, oname, err := d.SplitName(me, name)
	if err != nil {
		return nil, err
	}
	m, err := st.MailboxByName(ctx, owner.Address, oname)
	if err != nil {
		return nil, err
	}
	return d.PlaceOf(ctx, st, me, owner, m)
}

// PlaceOf is Locate for a mailbox already found (by ID: a selected one,
// perhaps renamed since).
func (d *Directory) PlaceOf(ctx context.Context, st MailboxStore, me, owner *Account, m *store.Mailbox) (*Place, error) {
	rights, err := d.MailboxRights(ctx, st, owner, me, m)
	if err != nil {
		return nil, err
	}
	if !rights.Has(RightLookup) {
		return nil, store.ErrNoMailbox
	}
	return &Place{Owner: owner, Name: m.Name, Display: DisplayName(me, owner, m.Name), Mailbox: m, Rights: rights}, nil
}

// ErrNotPermitted is a send-as refusal.
var ErrNotPermitted = errors.New("not permitted")

// SendAs decides whether me may send as addr: their own address or an
// alias, or an account on whose INBOX me holds "p" (a delegate answering
// for info@). It returns the account addr belongs to; ErrNotPermitted
// when me may not, another error when the decision could not be made.
func (d *Directory) SendAs(ctx context.Context, st MailboxStore, me *Account, addr string) (*Account, error) {
	owner, ok := d.Lookup(addr)
	if !ok || me == nil {
		return nil, ErrNotPermitted
	}
	if owner == me {
		return owner, nil
	}
	inbox, err := st.MailboxByName(ctx, owner.Address, store.Inbox)
	if err != nil {
		return nil, ErrNotPermitted
	}
	rights, err := d.MailboxRights(ctx, st, owner, me, inbox)
	if err != nil {
		return nil, err
	}
	if !rights.Has(RightPost) {
		return nil, ErrNotPermitted
	}
	return owner, nil
}

// AccountRights is what user holds on owner's account as a whole: the
// operator's shares that name no mailbox. With "k" there, user may create
// top-level mailboxes in it (a team's Orders or Archive).
func (d *Directory) AccountRights(owner, user *Account) Rights {
	return d.Rights(owner, user, "", nil)
}

// SendOnBehalf reports whether mail user sends as owner's address names
// user in a Sender: field: an operator share of owner's that identifies
// user says send = "on-behalf".
func (d *Directory) SendOnBehalf(owner, user *Account) bool {
	if owner == nil || user == nil || owner == user {
		return false
	}
	for _, s := range d.shares {
		if Fold(s.Owner) == Fold(owner.Address) && s.Send == "on-behalf" && !strings.HasPrefix(s.Grantee, "-") && d.identifies(owner, user, s.Grantee) {
			return true
		}
	}
	return false
}

// How \Seen is kept on a mailbox others read.
const (
	// SeenEntry is the mailbox's own setting, a METADATA entry (RFC
	// 5464) holding SeenShared or SeenPrivate; absent, the configuration
	// decides.
	SeenEntry = "/shared/vendor/mailroom/seen"
	// SeenShared: one \Seen for everyone, in the message (a team inbox).
	SeenShared = "shared"
	// SeenPrivate: each user other than the owner keeps their own
	// \Seen; the message's is the owner's (an assistant reading the
	// manager's mail).
	SeenPrivate = "private"
)

// SeenMode is how \Seen is kept on owner's mailbox named mailbox:
// explicit, the mailbox's own setting (METADATA or mailroom acl seen), if
// it is SeenShared or SeenPrivate; else the seen of an operator share of
// that mailbox, else of one of the whole account; else SeenShared for a
// team account (team = true, or one nobody logs in to) and SeenPrivate
// for a person's.
func (d *Directory) SeenMode(owner *Account, mailbox, explicit string) string {
	if explicit == SeenShared || explicit == SeenPrivate {
		return explicit
	}
	if mode := d.ConfiguredSeen(owner, mailbox); mode != "" {
		return mode
	}
	if owner.Team || !owner.CanLogin() {
		return SeenShared // nobody reads it as its owner: a team's
	}
	return SeenPrivate
}

// ConfiguredSeen is the seen of an operator share of owner's mailbox,
// else of one of owner's whole account; "" when no share says.
func (d *Directory) ConfiguredSeen(owner *Account, mailbox string) string {
	account := ""
	for _, s := range d.shares {
		if Fold(s.Owner) != Fold(owner.Address) || s.Seen == "" {
			continue
		}
		if s.Mailbox == mailbox {
			return s.Seen
		}
		if s.Mailbox == "" && account == "" {
			account = s.Seen
		}
	}
	return account
}

// PrivateSeen reports whether user keeps their own \Seen on owner's
// mailbox whose mode is mode (SeenMode): never the owner.
func PrivateSeen(owner, user *Account, mode string) bool {
	return mode == SeenPrivate && owner != nil && user != nil && Fold(owner.Address) != Fold(user.Address)
}
