package acl

import (
	"context"

	"mailroom/store"
)

// AuditReader decides which audit records a user may read: every record
// of their own account, and the records of another account's mailbox on
// which they hold RightAdmin (for a record naming no mailbox, such as a
// send-as, the account's INBOX). A team account has no password of its
// own: its log is read by the members the operator or an owner trusted
// with "a". A record of a mailbox renamed or deleted since is the owner's
// alone.
type AuditReader struct {
	d     *Directory
	st    ACLStore
	user  *Account
	boxes map[string]map[string]*store.Mailbox // owner -> name -> mailbox
	may   map[store.MailboxID]bool
}

// AuditReader returns the reader deciding for user, with the rights of
// this directory and the ACLs in st; it keeps what it looked up, so one
// serves one request.
func (d *Directory) AuditReader(st ACLStore, user *Account) *AuditReader {
	return &AuditReader{d: d, st: st, user: user, boxes: map[string]map[string]*store.Mailbox{}, may: map[store.MailboxID]bool{}}
}

// May reports whether the user may read rec.
func (a *AuditReader) May(ctx context.Context, rec store.AuditRecord) (bool, error) {
	if Fold(rec.Account) == Fold(a.user.Address) {
		return true, nil
	}
	owner, ok := a.d.Lookup(rec.Account)
	if !ok {
		return false, nil // no longer configured: nobody's but the operator's
	}
	key := Fold(owner.Address)
	boxes := a.boxes[key]
	if boxes == nil {
		list, err := a.st.Mailboxes(ctx, owner.Address)
		if err != nil {
			return false, err
		}
		boxes = make(map[string]*store.Mailbox, len(list))
		for _, m := range list {
			boxes[m.Name] = m
		}
		a.boxes[key] = boxes
	}
	name := rec.Mailbox
	if name == "" {
		name = "INBOX"
	}
	m := boxes[name]
	if m == nil {
		return false, nil
	}
	if may, ok := a.may[m.ID]; ok {
		return may, nil
	}
	r, err := a.d.MailboxRights(ctx, a.st, owner, a.user, m)
	if err != nil {
		return false, err
	}
	a.may[m.ID] = r.Has(RightAdmin)
	return a.may[m.ID], nil
}
