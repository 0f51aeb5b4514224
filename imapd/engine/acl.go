package engine

import (
	"strings"
	"time"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// The RFC 4314 ACL commands. Each needs "a" on the mailbox but MYRIGHTS,
// which needs any right.

// aclMailbox reads the mailbox argument of an ACL command and locates it.
func (c *conn) aclMailbox(v proto.Value, admin bool) (*place, string, error) {
	name, err := c.mailboxArg(v)
	if err != nil {
		return nil, "", err
	}
	p, err := c.locate(name)
	if err != nil {
		return nil, "", err
	}
	if admin {
		if err := need(p, acl.RightAdmin, "administer the access of"); err != nil {
			return nil, "", err
		}
	}
	return p, name, nil
}

// identifier canonicalises an ACL identifier as the owner may use it. An
// address or group outside the owner's groups gets exactly the answer a
// made-up one gets, so nobody learns who exists (hardening issue, point
// 21); an identifier already stored on the mailbox is taken as it is, so
// it can be removed after its holder left the owner's groups.
func (c *conn) identifier(dir *acl.Directory, p *place, v proto.Value) (string, error) {
	raw, ok := v.AString()
	if !ok {
		return "", syntax("Expected an identifier")
	}
	current, err := c.srv.opts.Store.ACL(c.ctx, p.mailbox.ID)
	if err != nil {
		return "", err
	}
	for _, e := range current {
		if strings.EqualFold(e.Identifier, raw) {
			return e.Identifier, nil
		}
	}
	unknown := no("NONEXISTENT", "No such identifier: "+raw)
	id, err := dir.CanonicalIdentifier(raw)
	if err != nil {
		return "", unknown
	}
	base := strings.TrimPrefix(id, "-")
	switch {
	case base == acl.Anyone:
	case strings.HasPrefix(base, "group:"):
		if !p.owner.InGroup(strings.TrimPrefix(base, "group:")) {
			return "", unknown
		}
	default:
		a, ok := dir.Lookup(base)
		if !ok || (a != p.owner && !p.owner.SharesGroupWith(a)) {
			return "", unknown
		}
	}
	return id, nil
}

// cmdSetACL: SETACL mailbox identifier rights, where "+rights" adds and
// "-rights" removes (RFC 4314 §3.1). Granting anything new is gated by
// group and plan (acl.Directory.CheckGrant).
func cmdSetACL(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 3 {
		return syntax("SETACL takes a mailbox, an identifier and rights")
	}
	p, _, err := c.aclMailbox(cmd.Args[0], true)
	if err != nil {
		return err
	}
	dir := c.srv.opts.Directory.Load()
	id, err := c.identifier(dir, p, cmd.Args[1])
	if err != nil {
		return err
	}
	mod, ok := cmd.Args[2].AString()
	if !ok {
		return syntax("Expected rights")
	}
	letters := mod
	if letters != "" && (letters[0] == '+' || letters[0] == '-') {
		letters = letters[1:]
	}
	if _, err := acl.ParseRights(letters); err != nil {
		return syntax(err.Error())
	}
	next, err := dir.SetRights(c.ctx, c.srv.opts.Store, p.owner, p.mailbox.ID, id, mod)
	if err != nil {
		c.log.Info("grant refused", "mailbox", p.display, "identifier", id, "err", err)
		return err
	}
	c.log.Info("acl changed", "mailbox", p.display, "owner", p.owner.Address, "identifier", id, "rights", next.String())
	c.audit(p, "setacl", id+" "+next.String())
	return nil
}

func cmdDeleteACL(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 2 {
		return syntax("DELETEACL takes a mailbox and an identifier")
	}
	p, _, err := c.aclMailbox(cmd.Args[0], true)
	if err != nil {
		return err
	}
	id, err := c.identifier(c.srv.opts.Directory.Load(), p, cmd.Args[1])
	if err != nil {
		return err
	}
	if err := c.srv.opts.Store.SetACL(c.ctx, p.mailbox.ID, id, ""); err != nil {
		return err
	}
	c.log.Info("acl changed", "mailbox", p.display, "owner", p.owner.Address, "identifier", id, "rights", "")
	c.audit(p, "deleteacl", id)
	return nil
}

// cmdGetACL lists the owner (who holds every right), the operator's shares
// and the stored entries.
func cmdGetACL(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("GETACL takes a mailbox")
	}
	p, name, err := c.aclMailbox(cmd.Args[0], true)
	if err != nil {
		return err
	}
	entries, err := c.srv.opts.Store.ACL(c.ctx, p.mailbox.ID)
	if err != nil {
		return err
	}
	c.enc.Raw("* ACL ")
	c.mailboxName(name)
	c.enc.SP().String(p.owner.Address).SP().String(acl.AllRights.String())
	for _, sh := range c.srv.opts.Directory.Load().Shares() {
		if acl.Fold(sh.Owner) == acl.Fold(p.owner.Address) && (sh.Mailbox == "" || sh.Mailbox == p.name) {
			r, _ := acl.ParseRights(sh.Rights)
			c.enc.SP().String(sh.Grantee).SP().String(r.String())
		}
	}
	for _, e := range entries {
		c.enc.SP().String(e.Identifier).SP().String(e.Rights)
	}
	c.enc.CRLF()
	return nil
}

// cmdListRights: nothing is granted automatically but to the owner, and
// each right can be granted on its own (RFC 4314 §3.7).
func cmdListRights(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 2 {
		return syntax("LISTRIGHTS takes a mailbox and an identifier")
	}
	p, name, err := c.aclMailbox(cmd.Args[0], true)
	if err != nil {
		return err
	}
	raw, _ := cmd.Args[1].AString()
	id, err := c.identifier(c.srv.opts.Directory.Load(), p, cmd.Args[1])
	if err != nil {
		return err
	}
	c.enc.Raw("* LISTRIGHTS ")
	c.mailboxName(name)
	c.enc.SP().String(raw)
	if acl.Fold(id) == acl.Fold(p.owner.Address) {
		c.enc.SP().String(acl.AllRights.String()).CRLF()
		return nil
	}
	c.enc.Raw(` ""`)
	for _, r := range acl.Grantable() {
		c.enc.SP().Raw(r.String())
	}
	c.enc.CRLF()
	return nil
}

func cmdMyRights(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("MYRIGHTS takes a mailbox")
	}
	p, name, err := c.aclMailbox(cmd.Args[0], false)
	if err != nil {
		return err
	}
	c.enc.Raw("* MYRIGHTS ")
	c.mailboxName(name)
	c.enc.SP().String(c.shownRights(p.owner.Address, p.rights).String()).CRLF()
	return nil
}

// shownRights is what MYRIGHTS says: an owner whose plan cannot share is
// not told "a", so clients (Roundcube's Sharing tab) do not offer a
// dialog where every grant would be refused. GETACL still answers them
// with what the operator granted.
func (c *conn) shownRights(owner string, r acl.Rights) acl.Rights {
	if me := c.me(c.srv.opts.Directory.Load()); me != nil && acl.Fold(owner) == acl.Fold(me.Address) && !me.Plan.Share {
		return r &^ acl.RightAdmin
	}
	return r
}

// audit tells the audit log (Options.Audit) what the user did in p, when
// p is someone else's mailbox.
func (c *conn) audit(p *place, action, detail string) {
	if c.srv.opts.Audit == nil || p == nil || p.owner == nil || acl.Fold(p.owner.Address) == acl.Fold(c.account.Address) {
		return
	}
	c.srv.opts.Audit(store.AuditRecord{Time: time.Now(), Account: p.owner.Address, Actor: c.account.Address, Action: action, Mailbox: p.name, Detail: detail})
}

// auditUIDs is a UID list for an audit record.
func auditUIDs(uids []store.UID) string {
	return "UID " + uidsString(uids)
}
