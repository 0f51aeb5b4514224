package imapd

import (
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"

	"mailroom/acl"
	"mailroom/store"
)

// The RFC 4314 ACL commands. go-imap has no hook for them, so extConn
// parses them (handleACL) and calls these methods, which return the
// untagged responses to write before the tagged OK.

// aclTarget locates a mailbox for an ACL command and requires "a" (or, for
// MYRIGHTS, any right at all).
func (s *session) aclTarget(name string, admin bool) (*place, error) {
	p, err := s.locate(name)
	if err != nil {
		return nil, err
	}
	if admin {
		return p, need(p, acl.RightAdmin, "administer the access of")
	}
	return p, nil
}

// grantees returns every identifier owner has granted anything to, on
// any of their mailboxes or by the operator's shares.
func (s *session) grantees(dir *acl.Directory, owner *acl.Account) ([]string, error) {
	var out []string
	boxes, err := s.store().Mailboxes(s.ctx(), owner.Address)
	if err != nil {
		return nil, err
	}
	for _, m := range boxes {
		entries, err := s.store().ACL(s.ctx(), m.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			out = append(out, e.Identifier)
		}
	}
	for _, sh := range dir.Shares() {
		if acl.Fold(sh.Owner) == acl.Fold(owner.Address) {
			out = append(out, sh.Grantee)
		}
	}
	return out, nil
}

// aclIdentifier resolves the identifier of an ACL command on owner's
// mailbox to its stored form. An entry already stored is found as it is
// written (so a stale one can be removed). Otherwise the identifier must
// be within owner's reach: "anyone", a group owner is in, or an account
// sharing a group with owner. Anything else, an existing account or group
// of other groups as much as a made-up one, gets one and the same answer
// (NONEXISTENT, naming the identifier as the client wrote it), so that the
// ACL commands do not tell outsiders which addresses, team accounts or
// groups exist.
func (s *session) aclIdentifier(dir *acl.Directory, owner *acl.Account, raw string, current []store.ACLEntry) (string, error) {
	for _, e := range current {
		if strings.EqualFold(e.Identifier, raw) {
			return e.Identifier, nil
		}
	}
	unknown := fmt.Errorf("%w: %s", acl.ErrNoAccount, raw)
	id, err := dir.CanonicalIdentifier(raw)
	if err != nil {
		return "", unknown
	}
	base := strings.TrimPrefix(id, "-")
	switch {
	case base == acl.Anyone:
	case strings.HasPrefix(base, "group:"):
		if !owner.InGroup(strings.TrimPrefix(base, "group:")) {
			return "", unknown
		}
	default:
		a, ok := dir.Lookup(base)
		if !ok || (a != owner && !owner.SharesGroupWith(a)) {
			return "", unknown
		}
	}
	return id, nil
}

// setACL is SETACL: rights replace, "+rights" add to, "-rights" remove
// from the identifier's entry (RFC 4314 §3.1).
func (s *session) setACL(mailbox, identifier, mod string) error {
	defer s.begin()()
	p, err := s.aclTarget(mailbox, true)
	if err != nil {
		return s.mapErr("setacl", err)
	}
	dir := s.srv.opts.Directory.Load()
	op := byte(0)
	if mod != "" && (mod[0] == '+' || mod[0] == '-') {
		op, mod = mod[0], mod[1:]
	}
	change, err := acl.ParseRights(mod)
	if err != nil {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: err.Error()}
	}
	current, err := s.store().ACL(s.ctx(), p.mailbox.ID)
	if err != nil {
		return s.internal("setacl", err)
	}
	id, err := s.aclIdentifier(dir, p.owner, identifier, current)
	if err != nil {
		return s.mapErr("setacl", err)
	}
	var old acl.Rights
	for _, e := range current {
		if strings.EqualFold(e.Identifier, id) {
			old, _ = acl.ParseRights(e.Rights)
		}
	}
	next := change
	switch op {
	case '+':
		next = old | change
	case '-':
		next = old &^ change
	}
	if next&^old != 0 && !strings.HasPrefix(id, "-") {
		// Granting something new is gated by group and plan.
		others, err := s.grantees(dir, p.owner)
		if err != nil {
			return s.internal("setacl", err)
		}
		if err := dir.CheckGrant(p.owner, id, others); err != nil {
			s.log.Info("grant refused", "mailbox", p.display, "identifier", id, "err", err)
			return s.mapErr("setacl", err)
		}
	}
	if err := s.store().SetACL(s.ctx(), p.mailbox.ID, id, next.String()); err != nil {
		return s.mapErr("setacl", err)
	}
	s.log.Info("acl changed", "mailbox", p.display, "owner", p.owner.Address, "identifier", id, "rights", next.String())
	return nil
}

func (s *session) deleteACL(mailbox, identifier string) error {
	defer s.begin()()
	p, err := s.aclTarget(mailbox, true)
	if err != nil {
		return s.mapErr("deleteacl", err)
	}
	current, err := s.store().ACL(s.ctx(), p.mailbox.ID)
	if err != nil {
		return s.internal("deleteacl", err)
	}
	id, err := s.aclIdentifier(s.srv.opts.Directory.Load(), p.owner, identifier, current)
	if err != nil {
		return s.mapErr("deleteacl", err)
	}
	if err := s.store().SetACL(s.ctx(), p.mailbox.ID, id, ""); err != nil {
		return s.mapErr("deleteacl", err)
	}
	s.log.Info("acl changed", "mailbox", p.display, "owner", p.owner.Address, "identifier", id, "rights", "")
	return nil
}

// getACL lists the owner (who holds everything), the operator's shares
// and the stored entries.
func (s *session) getACL(mailbox string) ([]string, error) {
	defer s.begin()()
	p, err := s.aclTarget(mailbox, true)
	if err != nil {
		return nil, s.mapErr("getacl", err)
	}
	line := "* ACL " + quote(mailbox) + " " + quote(p.owner.Address) + " " + acl.AllRights.String()
	for _, sh := range s.srv.opts.Directory.Load().Shares() {
		if acl.Fold(sh.Owner) == acl.Fold(p.owner.Address) && (sh.Mailbox == "" || sh.Mailbox == p.name) {
			r, _ := acl.ParseRights(sh.Rights)
			line += " " + quote(sh.Grantee) + " " + quote(r.String())
		}
	}
	entries, err := s.store().ACL(s.ctx(), p.mailbox.ID)
	if err != nil {
		return nil, s.internal("getacl", err)
	}
	for _, e := range entries {
		line += " " + quote(e.Identifier) + " " + quote(e.Rights)
	}
	return []string{line}, nil
}

// listRights: nothing is granted automatically but to the owner, and
// each right can be granted on its own (RFC 4314 §3.7).
func (s *session) listRights(mailbox, identifier string) ([]string, error) {
	defer s.begin()()
	p, err := s.aclTarget(mailbox, true)
	if err != nil {
		return nil, s.mapErr("listrights", err)
	}
	id, err := s.aclIdentifier(s.srv.opts.Directory.Load(), p.owner, identifier, nil)
	if err != nil {
		return nil, s.mapErr("listrights", err)
	}
	line := "* LISTRIGHTS " + quote(mailbox) + " " + quote(identifier)
	if acl.Fold(id) == acl.Fold(p.owner.Address) {
		return []string{line + " " + acl.AllRights.String()}, nil
	}
	line += ` ""`
	for _, r := range acl.Grantable() {
		line += " " + r.String()
	}
	return []string{line}, nil
}

func (s *session) myRights(mailbox string) ([]string, error) {
	defer s.begin()()
	p, err := s.aclTarget(mailbox, false)
	if err != nil {
		return nil, s.mapErr("myrights", err)
	}
	return []string{"* MYRIGHTS " + quote(mailbox) + " " + quote(p.rights.String())}, nil
}

// statusLine renders a command's outcome as its tagged response.
func statusLine(tag string, err error) string {
	if err == nil {
		return tag + " OK Completed\r\n"
	}
	if ie, ok := err.(*imap.Error); ok {
		code := ""
		if ie.Code != "" {
			code = "[" + string(ie.Code) + "] "
		}
		return fmt.Sprintf("%s %s %s%s\r\n", tag, ie.Type, code, ie.Text)
	}
	return tag + " NO [SERVERBUG] Internal server error, try again later\r\n"
}
