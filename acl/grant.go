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
