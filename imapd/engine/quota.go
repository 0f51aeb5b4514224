package engine

import (
	"mailroom/acl"
	"mailroom/imapd/proto"
)

// QUOTA (RFC 9208). Each account whose plan limits bytes (STORAGE) or
// messages (MESSAGE) is one quota root covering all its mailboxes: "" for
// the user's own, the owner's address for another account's, so a
// delegate sees the owner's quota for the owner's mailboxes. Quotas are
// set by the operator's plans, so SETQUOTA is refused. The store enforces
// STORAGE in the transaction that adds; MESSAGE is checked before APPEND,
// COPY and MOVE into another account and at SMTP RCPT (concurrent
// additions may pass it by a few messages).

// quotaRoot is the name of owner's quota root for the user.
func (c *conn) quotaRoot(owner *acl.Account) string {
	if acl.Fold(owner.Address) == acl.Fold(c.account.Address) {
		return ""
	}
	return owner.Address
}

// hasQuota reports whether owner's plan limits anything.
func hasQuota(owner *acl.Account) bool { return owner.Plan.Quota > 0 || owner.Plan.MaxMessages > 0 }

// writeQuota writes owner's QUOTA response.
func (c *conn) writeQuota(owner *acl.Account) error {
	c.enc.Raw("* QUOTA ").String(c.quotaRoot(owner)).Raw(" (")
	sep := ""
	if owner.Plan.Quota > 0 {
		used, err := c.srv.opts.Store.Usage(c.ctx, owner.Address)
		if err != nil {
			return err
		}
		c.enc.Raw("STORAGE ").Number(uint64(used+1023) / 1024).SP().Number(uint64(owner.Plan.Quota) / 1024)
		sep = " "
	}
	if owner.Plan.MaxMessages > 0 {
		n, err := c.srv.opts.Store.MessageCount(c.ctx, owner.Address)
		if err != nil {
			return err
		}
		c.enc.Raw(sep).Raw("MESSAGE ").Number(uint64(n)).SP().Number(uint64(owner.Plan.MaxMessages))
	}
	c.enc.Raw(")").CRLF()
	return nil
}

// checkMessageQuota refuses adding n messages to owner's account when its
// plan's MESSAGE limit would be passed.
func (c *conn) checkMessageQuota(owner *acl.Account, n int) error {
	if owner.Plan.MaxMessages <= 0 {
		return nil
	}
	have, err := c.srv.opts.Store.MessageCount(c.ctx, owner.Address)
	if err != nil {
		return err
	}
	if have+int64(n) > owner.Plan.MaxMessages {
		return no("OVERQUOTA", "Too many messages for the account's quota")
	}
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
	if !hasQuota(p.owner) {
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
	if owner == nil || !hasQuota(owner) {
		return no("NONEXISTENT", "No such quota root")
	}
	return c.writeQuota(owner)
}

func cmdSetQuota(c *conn, cmd *proto.Command) error {
	return no("NOPERM", "Quotas are set by the account's plan")
}
