package acl

import (
	"context"
	"strings"

	"mailroom/store"
)

// ACLStore is what changing a mailbox's ACL needs from the store.
type ACLStore interface {
	Mailboxes(ctx context.Context, account string) ([]*store.Mailbox, error)
	ACL(ctx context.Context, id store.MailboxID) ([]store.ACLEntry, error)
	SetACL(ctx context.Context, id store.MailboxID, identifier, rights string) error
}

// MailboxRights evaluates user's rights on owner's mailbox m from its
// stored entries and the operator's shares (Rights). IMAP commands and
// SMTP send-as both ask here.
func (d *Directory) MailboxRights(ctx context.Context, st ACLStore, owner, user *Account, m *store.Mailbox) (Rights, error) {
	if owner != nil && user != nil && Fold(owner.Address) == Fold(user.Address) {
		return AllRights, nil
	}
	stored, err := st.ACL(ctx, m.ID)
	if err != nil {
		return 0, err
	}
	entries := make([]Entry, 0, len(stored))
	for _, e := range stored {
		entries = append(entries, NewEntry(e.Identifier, e.Rights))
	}
	return d.Rights(owner, user, m.Name, entries), nil
}

// Grantees returns every identifier owner has granted anything to, on any
// of their mailboxes or by the operator's shares (what max_grantees
// counts).
func (d *Directory) Grantees(ctx context.Context, st ACLStore, owner *Account) ([]string, error) {
	var out []string
	boxes, err := st.Mailboxes(ctx, owner.Address)
	if err != nil {
		return nil, err
	}
	for _, m := range boxes {
		entries, err := st.ACL(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			out = append(out, e.Identifier)
		}
	}
	for _, sh := range d.shares {
		if Fold(sh.Owner) == Fold(owner.Address) {
			out = append(out, sh.Grantee)
		}
	}
	return out, nil
}

// SetRights changes identifier's entry on owner's mailbox (RFC 4314
// SETACL): mod replaces the rights, "+rights" adds to them, "-rights"
// takes them away. Granting anything the entry did not hold is gated by
// CheckGrant; taking rights away never is. It returns the entry's new
// rights (none: the entry is removed). Both SETACL and `mailroom acl
// grant` come here, so the rules are the same from IMAP and from the
// operator.
func (d *Directory) SetRights(ctx context.Context, st ACLStore, owner *Account, mailbox store.MailboxID, identifier, mod string) (Rights, error) {
	op := byte(0)
	if mod != "" && (mod[0] == '+' || mod[0] == '-') {
		op, mod = mod[0], mod[1:]
	}
	change, err := ParseRights(mod)
	if err != nil {
		return 0, err
	}
	current, err := st.ACL(ctx, mailbox)
	if err != nil {
		return 0, err
	}
	var old Rights
	for _, e := range current {
		if strings.EqualFold(e.Identifier, identifier) {
			old, _ = ParseRights(e.Rights)
		}
	}
	next := change
	switch op {
	case '+':
		next = old | change
	case '-':
		next = old &^ change
	}
	if next&^old != 0 && !strings.HasPrefix(identifier, "-") {
		others, err := d.Grantees(ctx, st, owner)
		if err != nil {
			return 0, err
		}
		if err := d.CheckGrant(owner, identifier, others); err != nil {
			return 0, err
		}
	}
	return next, st.SetACL(ctx, mailbox, identifier, next.String())
}

// VisibleStore is what Visible reads.
type VisibleStore interface {
	Mailboxes(ctx context.Context, account string) ([]*store.Mailbox, error)
	SharedMailboxes(ctx context.Context) ([]store.SharedMailbox, error)
}

// VisibleMailbox is a mailbox user may look up, with user's rights on it.
type VisibleMailbox struct {
	Owner   *Account
	Mailbox *store.Mailbox
	Rights  Rights
}

// Visible returns every mailbox user may look up (RightLookup): their
// own, and other accounts' through stored ACL entries or the operator's
// shares, in the same terms as MailboxRights. Accounts no share names
// are not listed one by one: only their mailboxes with ACL entries can
// grant anything, and those are read in one pass (a LIST in a
// 50-account organisation read all 50 accounts' mailboxes and ACLs).
func (d *Directory) Visible(ctx context.Context, st VisibleStore, user *Account) ([]VisibleMailbox, error) {
	if user == nil {
		return nil, nil
	}
	own, err := st.Mailboxes(ctx, user.Address)
	if err != nil {
		return nil, err
	}
	out := make([]VisibleMailbox, 0, len(own))
	for _, m := range own {
		out = append(out, VisibleMailbox{Owner: user, Mailbox: m, Rights: AllRights})
	}
	shared, err := st.SharedMailboxes(ctx)
	if err != nil {
		return nil, err
	}
	acls := make(map[store.MailboxID][]store.ACLEntry, len(shared))
	byOwner := map[string][]*store.Mailbox{}
	for _, sm := range shared {
		acls[sm.Mailbox.ID] = sm.ACL
		o := Fold(sm.Mailbox.Account)
		byOwner[o] = append(byOwner[o], sm.Mailbox)
	}
	for _, owner := range d.Accounts() {
		if owner == user || Fold(owner.Address) == Fold(user.Address) || !owner.Plan.Share || !owner.SharesGroupWith(user) {
			continue
		}
		boxes := byOwner[Fold(owner.Address)]
		if d.sharesOf(owner) {
			if boxes, err = st.Mailboxes(ctx, owner.Address); err != nil {
				return nil, err
			}
		}
		for _, m := range boxes {
			stored := acls[m.ID]
			entries := make([]Entry, 0, len(stored))
			for _, e := range stored {
				entries = append(entries, NewEntry(e.Identifier, e.Rights))
			}
			if r := d.Rights(owner, user, m.Name, entries); r.Has(RightLookup) {
				out = append(out, VisibleMailbox{Owner: owner, Mailbox: m, Rights: r})
			}
		}
	}
	return out, nil
}

// sharesOf reports whether the operator's shares grant anything on
// owner's mailboxes.
func (d *Directory) sharesOf(owner *Account) bool {
	for _, s := range d.shares {
		if Fold(s.Owner) == Fold(owner.Address) {
			return true
		}
	}
	return false
}
