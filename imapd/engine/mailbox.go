package engine

import (
	"strings"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// checkStatusItems accepts the STATUS items the engine serves.
func checkStatusItems(items []string) error {
	if len(items) == 0 {
		return syntax("STATUS needs at least one item")
	}
	for _, it := range items {
		switch it {
		case "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE", "HIGHESTMODSEQ", "DELETED", "MAILBOXID":
		default:
			return syntax("Unknown STATUS item " + it)
		}
	}
	return nil
}

// cmdStatus (RFC 9051 §6.3.11) needs "r", as reading the mailbox does.
func cmdStatus(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 2 || cmd.Args[1].Kind != proto.List {
		return syntax("STATUS takes a mailbox and a list of items")
	}
	var items []string
	for _, v := range cmd.Args[1].List {
		items = append(items, v.Upper())
	}
	if err := checkStatusItems(items); err != nil {
		return err
	}
	p, err := c.locateArg(cmd.Args[0], acl.RightRead, "read the status")
	if err != nil {
		return err
	}
	c.writeStatus(p.display, p.mailbox, items)
	return nil
}

// writeStatus writes a STATUS response from the mailbox's counters.
func (c *conn) writeStatus(name string, m *store.Mailbox, items []string) {
	c.enc.Raw("* STATUS ")
	c.mailboxName(name)
	c.enc.Raw(" (")
	for i, it := range items {
		if i > 0 {
			c.enc.SP()
		}
		c.enc.Raw(it).SP()
		switch it {
		case "MESSAGES":
			c.enc.Number(uint64(m.Messages))
		case "RECENT":
			n, err := c.srv.opts.Registry.recentCount(c.ctx, c.srv.opts.Store, m.ID)
			if err != nil {
				c.log.Warn("status recent", "err", err)
			}
			c.enc.Number(uint64(n))
		case "UIDNEXT":
			c.enc.Number(uint64(m.UIDNext))
		case "UIDVALIDITY":
			c.enc.Number(uint64(m.UIDValidity))
		case "UNSEEN":
			// With private \Seen, the user's own count.
			n, err := c.unseen(m)
			if err != nil {
				c.log.Warn("status unseen", "err", err)
			}
			c.enc.Number(uint64(n))
		case "SIZE":
			c.enc.Number(uint64(m.Size))
		case "HIGHESTMODSEQ":
			c.enc.Number(max(m.HighestModSeq, 1))
		case "MAILBOXID":
			c.enc.Raw("(").Raw(mailboxID(m.ID)).Raw(")")
		case "DELETED":
			// IMAP4rev2 (RFC 9051 §6.3.11): counted from the records; no
			// counter is kept for it.
			var n uint64
			err := c.srv.opts.Store.Messages(c.ctx, m.ID, 1, 0, func(msg *store.Message) error {
				if msg.Flags.Sys&store.FlagDeleted != 0 {
					n++
				}
				return nil
			})
			if err != nil {
				c.log.Warn("status deleted", "err", err)
			}
			c.enc.Number(n)
		}
	}
	c.enc.Raw(")").CRLF()
}

// cmdCreate (RFC 9051 §6.3.4, with RFC 6154's USE). In another user's
// namespace the user needs "k" on the parent.
func cmdCreate(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) < 1 || len(cmd.Args) > 2 {
		return syntax("CREATE takes a mailbox name and optional parameters")
	}
	name, err := c.newMailboxArg(cmd.Args[0])
	if err != nil {
		return err
	}
	var use string
	if len(cmd.Args) == 2 {
		params := cmd.Args[1]
		if params.Kind != proto.List || len(params.List) != 2 || !params.List[0].IsAtom("USE") || params.List[1].Kind != proto.List {
			return syntax("CREATE parameters must be (USE (attribute))")
		}
		if len(params.List[1].List) != 1 {
			return no("USEATTR", "One special-use attribute per mailbox")
		}
		use = string(params.List[1].List[0].Bytes)
		switch strings.ToLower(use) {
		case `\sent`, `\drafts`, `\trash`, `\junk`, `\archive`, `\all`, `\flagged`:
		default:
			return no("USEATTR", "Unsupported special-use attribute")
		}
	}
	name = strings.TrimSuffix(name, "/")
	dir := c.srv.opts.Directory.Load()
	me := c.me(dir)
	if me == nil {
		return store.ErrNoMailbox
	}
	owner, oname, err := dir.SplitName(me, name)
	if err != nil {
		return err
	}
	if owner != me {
		if err := c.needOnParent(dir, me, owner, oname, acl.RightCreate, "create mailboxes"); err != nil {
			return err
		}
	}
	m, err := c.srv.opts.Store.CreateMailbox(c.ctx, owner.Address, oname, store.CreateOptions{SpecialUse: use, MaxMailboxes: c.srv.limits.Load().maxMailboxes, InheritACL: true})
	if err != nil {
		return err
	}
	c.audit(&place{owner: owner, name: m.Name}, "create", "")
	return ok("MAILBOXID ("+mailboxID(m.ID)+")", "CREATE completed") // RFC 8474 §4.1
}

// needOnParent checks a right on the parent of owner's mailbox oname (RFC
// 4314: "k" on the parent to create or rename into); splitName has
// already refused owners who could never share with the user.
func (c *conn) needOnParent(dir *acl.Directory, me, owner *acl.Account, oname string, want acl.Rights, what string) error {
	sup := store.Superiors(oname)
	if len(sup) == 0 {
		// A top-level mailbox: the account-wide grant decides (a
		// [[share]] naming no mailbox).
		if !dir.AccountRights(owner, me).Has(want) {
			return no("NOPERM", "Only the owner, or someone granted the whole account, can create top-level mailboxes there")
		}
		return nil
	}
	p, err := c.locate(displayName(me, owner, sup[len(sup)-1]))
	if err != nil {
		return err
	}
	return need(p, want, what)
}

// cmdDelete needs "x" (RFC 4314).
func cmdDelete(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("DELETE takes a mailbox name")
	}
	p, err := c.locateArg(cmd.Args[0], acl.RightDelete, "delete the mailbox")
	if err != nil {
		return err
	}
	if err := c.srv.opts.Store.DeleteMailbox(c.ctx, p.owner.Address, p.name); err != nil {
		return err
	}
	c.audit(p, "delete", "")
	return nil
}

// cmdRename needs "x" on the mailbox and, in another user's namespace,
// "k" on the new parent; a mailbox stays with its owner.
func cmdRename(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 2 {
		return syntax("RENAME takes two mailbox names")
	}
	to, err := c.newMailboxArg(cmd.Args[1])
	if err != nil {
		return err
	}
	p, err := c.locateArg(cmd.Args[0], acl.RightDelete, "rename the mailbox")
	if err != nil {
		return err
	}
	dir := c.srv.opts.Directory.Load()
	me := c.me(dir)
	owner, newName, err := dir.SplitName(me, strings.TrimSuffix(to, "/"))
	if err != nil || owner != p.owner {
		return no("CANNOT", "A mailbox can only be renamed within its owner's mailboxes")
	}
	if owner != me {
		if err := c.needOnParent(dir, me, owner, newName, acl.RightCreate, "create mailboxes"); err != nil {
			return err
		}
	}
	if err := c.srv.opts.Store.RenameMailbox(c.ctx, owner.Address, p.name, newName); err != nil {
		return err
	}
	c.audit(p, "rename", "to "+newName)
	return nil
}

// cmdSubscribe needs the mailbox to be visible; UNSUBSCRIBE does not (a
// name can be unsubscribed after its mailbox is gone).
func cmdSubscribe(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("SUBSCRIBE takes a mailbox name")
	}
	p, err := c.locateArg(cmd.Args[0], 0, "")
	if err != nil {
		return err
	}
	return c.srv.opts.Store.Subscribe(c.ctx, c.account.Address, p.display)
}

func cmdUnsubscribe(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("UNSUBSCRIBE takes a mailbox name")
	}
	name, err := c.mailboxArg(cmd.Args[0])
	if err != nil {
		return err
	}
	return c.srv.opts.Store.Unsubscribe(c.ctx, c.account.Address, name)
}
