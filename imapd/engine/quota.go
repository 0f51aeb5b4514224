package engine

import (
	"mailroom/acl"
	"mailroom/imapd/proto"
)

// QUOTA (RFC 9208). Each account with a storage quota (its plan's) is one
// quota root covering all its mailboxes: "" for the user's own, the
// owner's address for another account's, so a delegate sees the owner's
// quota for the owner's mailboxes. Only STORAGE is a resource: plans
// limit bytes, not messages. Quotas are set by the operator's plans, so
// SETQUOTA is refused.

// quotaRoot is the name of owner's quota root for the user.
func (c *conn) quotaRoot(owner *acl.Account) string {
	if acl.Fold(owner.Address) == acl.Fold(c.account.Address) {
		return ""
	}
	return owner.Address
}

// writeQuota writes owner's QUOTA response.
func (c *conn) writeQuota(owner *acl.Account) error {
	used, err := c.srv.opts.Store.Usage(c.ctx, owner.Address)
	if err != nil {
		return err
	}
	c.enc.Raw("* QUOTA ").String(c.quotaRoot(owner)).Raw(" (STORAGE ").
		Number(uint64(used+1023) / 1024).SP().Number(uint64(owner.Plan.Quota) / 1024).Raw(")").CRLF()
	return nil
}

// cmdGetQuotaRoot: GETQUOTAROOT mailbox.
func cmdGetQuotaRoot(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("GETQUOTAROOT takes a mailbox name")
	}
	name, err := c.mailboxArg(cmd.Args[0])
	if err != nil {
		return err
	}
	p, err := c.locate(name)
	if err != nil {
		return err
	}
	c.enc.Raw("* QUOTAROOT ")
	c.mailboxName(name)
	if p.owner.Plan.Quota <= 0 {
		c.enc.CRLF() // no quota: no root (RFC 9208 §4.2.2)
		return nil
	}
	c.enc.SP().String(c.quotaRoot(p.owner)).CRLF()
	return c.writeQuota(p.owner)
}

// cmdGetQuota: GETQUOTA root.
func cmdGetQuota(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("GETQUOTA takes a quota root")
	}
	root, ok := cmd.Args[0].AString()
	if !ok {
		return syntax("GETQUOTA takes a quota root")
	}
	dir := c.srv.opts.Directory.Load()
	me := c.me(dir)
	owner := me
	if root != "" {
		owner, ok = dir.Lookup(root)
		if !ok || me == nil || !acl.Reachable(me, owner) {
			owner = nil
		}
	}
	if owner == nil || owner.Plan.Quota <= 0 {
		return no("NONEXISTENT", "No such quota root")
	}
	return c.writeQuota(owner)
}

func cmdSetQuota(c *conn, cmd *proto.Command) error {
	return no("NOPERM", "Quotas are set by the account's plan")
}
