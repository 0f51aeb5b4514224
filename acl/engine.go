package acl

import (
	"fmt"
	"strings"
)

// Entry is one ACL entry of a mailbox: an identifier and its rights.
// Identifier is an account address, "group:NAME" or "anyone"; a leading
// "-" makes it a negative entry (RFC 4314 §2), whose rights are taken away.
type Entry struct {
	Identifier string
	Rights     Rights
}

// Negative reports whether the entry removes rights.
func (e Entry) Negative() bool { return strings.HasPrefix(e.Identifier, "-") }

// subject is the identifier without its negation.
func (e Entry) subject() string { return strings.TrimPrefix(e.Identifier, "-") }

// Anyone is the identifier meaning every member of the owner's groups.
const Anyone = "anyone"

// Rights returns what user may do on owner's mailbox named mailbox, given
// the mailbox's stored entries. The owner holds every right. Anyone else
// holds nothing unless the owner's plan allows sharing and the two share
// a group now: a plan change or a grantee leaving the group ends access at
// once, whatever was granted. Positive rights come from entries naming the
// user, a group of the owner's that the user is in, or anyone, and from
// the operator's [[share]] entries; negative entries then take rights away.
func (d *Directory) Rights(owner, user *Account, mailbox string, entries []Entry) Rights {
	if owner == nil || user == nil {
		return 0
	}
	if Fold(owner.Address) == Fold(user.Address) {
		return AllRights
	}
	if !owner.Plan.Share || !owner.SharesGroupWith(user) {
		return 0
	}
	var pos, neg Rights
	apply := func(e Entry) {
		if !d.identifies(owner, user, e.subject()) {
			return
		}
		if e.Negative() {
			neg |= e.Rights
		} else {
			pos |= e.Rights
		}
	}
	for _, e := range entries {
		apply(e)
	}
	for _, s := range d.shares {
		if Fold(s.Owner) != Fold(owner.Address) || (s.Mailbox != "" && s.Mailbox != mailbox) {
			continue
		}
		r, err := ParseRights(s.Rights)
		if err != nil {
			continue // config validation reports these
		}
		apply(Entry{Identifier: s.Grantee, Rights: r})
	}
	return pos &^ neg
}

// identifies reports whether an identifier names user on owner's
// mailboxes.
func (d *Directory) identifies(owner, user *Account, id string) bool {
	switch {
	case strings.EqualFold(id, Anyone):
		return true // already limited to the owner's groups
	case strings.HasPrefix(id, "group:"):
		g := strings.TrimPrefix(id, "group:")
		return owner.InGroup(g) && user.InGroup(g)
	}
	a, ok := d.Lookup(id)
	return ok && a == user
}

// CheckGrant says whether owner may grant identifier rights (RFC 4314
// SETACL) given the mailbox's current entries: the plan must allow sharing,
// the grantee must be within the owner's groups, and the number of
// distinct grantees across owner's mailboxes (others holds them) must stay
// within the plan's limit. The error is readable: it goes to the client.
// Removing rights is always allowed.
func (d *Directory) CheckGrant(owner *Account, identifier string, others []string) error {
	identifier = strings.TrimPrefix(identifier, "-")
	canon, err := d.CanonicalIdentifier(identifier)
	if err != nil {
		return err
	}
	if !owner.Plan.Share {
		return fmt.Errorf("%w: the %s plan does not allow sharing mailboxes", ErrDenied, owner.Plan.Name)
	}
	switch {
	case canon == Anyone:
	case strings.HasPrefix(canon, "group:"):
		if g := strings.TrimPrefix(canon, "group:"); !owner.InGroup(g) {
			return fmt.Errorf("%w: you are not in group %s; rights can only be granted within your groups", ErrDenied, g)
		}
	default:
		a, _ := d.Lookup(canon)
		if Fold(a.Address) == Fold(owner.Address) {
			return fmt.Errorf("%w: the owner always has every right", ErrDenied)
		}
		if !owner.SharesGroupWith(a) {
			return fmt.Errorf("%w: %s is not in any of your groups", ErrDenied, a.Address)
		}
	}
	if max := owner.Plan.MaxGrantees; max > 0 {
		seen := map[string]bool{Fold(canon): true}
		for _, o := range others {
			seen[Fold(strings.TrimPrefix(o, "-"))] = true
		}
		if len(seen) > max {
			return fmt.Errorf("%w: the %s plan allows at most %d grantees", ErrDenied, owner.Plan.Name, max)
		}
	}
	return nil
}

// CanonicalIdentifier checks an ACL identifier and returns its stored
// form: "anyone", "group:NAME" or an account's canonical address (an alias
// becomes its account).
func (d *Directory) CanonicalIdentifier(id string) (string, error) {
	neg := strings.HasPrefix(id, "-")
	base := strings.TrimPrefix(id, "-")
	var out string
	switch {
	case strings.EqualFold(base, Anyone):
		out = Anyone
	case strings.HasPrefix(strings.ToLower(base), "group:"):
		g := base[len("group:"):]
		if !d.groups[g] {
			return "", fmt.Errorf("%w: no group %q", ErrNoAccount, g)
		}
		out = "group:" + g
	default:
		a, ok := d.Lookup(base)
		if !ok {
			return "", fmt.Errorf("%w: %s", ErrNoAccount, base)
		}
		out = a.Address
	}
	if neg {
		return "-" + out, nil
	}
	return out, nil
}

// Grantable lists the rights identifier could be given (RFC 4314 LISTRIGHTS):
// none are always granted, and each right can be granted on its own.
func Grantable() []Rights {
	var out []Rights
	for i := range len(rightLetters) {
		out = append(out, Rights(1)<<i)
	}
	return out
}

// NewEntry builds an entry from its stored form; a rights string that no
// longer parses grants nothing.
func NewEntry(identifier, rights string) Entry {
	r, _ := ParseRights(rights)
	return Entry{Identifier: identifier, Rights: r}
}
