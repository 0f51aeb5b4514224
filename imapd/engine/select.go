package engine

import (
	"slices"
	"strconv"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// systemFlags are the flags every mailbox offers (RFC 9051 §2.3.2).
const systemFlags = `\Answered \Flagged \Deleted \Seen \Draft`

func cmdSelect(c *conn, cmd *proto.Command) error  { return c.selectMailbox(cmd, false) }
func cmdExamine(c *conn, cmd *proto.Command) error { return c.selectMailbox(cmd, true) }

// selectMailbox is SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3). A failed
// SELECT leaves no mailbox selected. The mailbox is read-only when
// examined, and when the user holds none of the rights that change it (s,
// w, t, i, e; RFC 4314 §4): a delegate with "lr" is told READ-ONLY.
func (c *conn) selectMailbox(cmd *proto.Command, examine bool) error {
	if c.sel != nil {
		c.deselect()
		// RFC 7162 §3.2.11 (and RFC 9051): the previous mailbox's
		// responses end here.
		c.enc.Raw("* OK [CLOSED] Previous mailbox closed").CRLF()
	}
	if len(cmd.Args) != 1 && len(cmd.Args) != 2 {
		return syntax(cmd.Name + " takes a mailbox name and optional parameters")
	}
	var resync *qresyncParams
	if len(cmd.Args) == 2 {
		condstore, q, err := c.parseSelectParams(cmd.Name, cmd.Args[1])
		if err != nil {
			return err
		}
		c.condstore = c.condstore || condstore || q != nil // RFC 7162 §3.1.8
		resync = q
	}
	p, err := c.locateArg(cmd.Args[0], acl.RightRead, "read messages")
	if err != nil {
		return err
	}
	st := c.srv.opts.Store
	sh, err := c.srv.opts.Registry.open(c.ctx, st, p.mailbox.ID)
	if err != nil {
		return err
	}
	m, err := st.Mailbox(c.ctx, p.mailbox.ID)
	if err != nil {
		c.srv.opts.Registry.release(sh)
		return err
	}
	readOnly := examine || p.rights&(acl.RightSeen|acl.RightWrite|acl.RightDeleteMsg|acl.RightInsert|acl.RightExpunge) == 0
	seenUser, err := c.seenUser(m)
	if err != nil {
		c.srv.opts.Registry.release(sh)
		return err
	}
	v, err := newView(sh, m.ID, p.display, readOnly, seenUser, func() ([]store.UID, error) {
		return st.SeenUIDs(c.ctx, m.ID, seenUser)
	})
	if err != nil {
		c.srv.opts.Registry.release(sh)
		return err
	}
	c.sel, c.selRights, c.state = v, p.rights, selected
	c.searchRes = nil // RFC 5182 §2.1

	c.writeFlags(v)
	c.enc.Raw("* ").Number(uint64(len(v.uids))).Raw(" EXISTS").CRLF()
	if !c.rev2 {
		c.enc.Raw("* ").Number(uint64(len(v.recent))).Raw(" RECENT").CRLF()
	}
	if !c.rev2 && !c.uidOnly && (m.Unseen > 0 || v.seenUser != "") {
		// IMAP4rev1's UNSEEN: the first unseen message's number.
		if seq, err := c.firstUnseen(v); err != nil {
			c.log.Warn("select: first unseen", "err", err)
		} else if seq > 0 {
			c.enc.Raw("* OK [UNSEEN ").Number(uint64(seq)).Raw("] First unseen").CRLF()
		}
	}
	c.enc.Raw("* OK [UIDVALIDITY ").Number(uint64(m.UIDValidity)).Raw("] UIDs valid").CRLF()
	next := m.UIDNext
	if n := len(v.uids); n > 0 && v.uids[n-1] >= next {
		next = v.uids[n-1] + 1
	}
	c.enc.Raw("* OK [UIDNEXT ").Number(uint64(next)).Raw("] Predicted next UID").CRLF()
	c.enc.Raw("* OK [MAILBOXID (").Raw(mailboxID(m.ID)).Raw(")] Mailbox ID").CRLF()
	if c.condstore {
		c.enc.Raw("* OK [HIGHESTMODSEQ ").Number(max(m.HighestModSeq, 1)).Raw("] Highest").CRLF()
	}
	if resync != nil {
		if err := c.resync(v, m, resync); err != nil {
			return err
		}
	}
	if readOnly {
		return ok("READ-ONLY", cmd.Name+" completed")
	}
	return ok("READ-WRITE", cmd.Name+" completed")
}

// writeFlags writes FLAGS (every flag in use) and PERMANENTFLAGS (those
// this user may change here) for the selected mailbox.
func (c *conn) writeFlags(v *view) {
	kws := v.keywords()
	v.told = make(map[string]bool, len(kws))
	for _, k := range kws {
		v.told[k] = true
	}
	c.enc.Raw("* FLAGS (").Raw(systemFlags)
	for _, k := range kws {
		c.enc.SP().Flag(k)
	}
	c.enc.Raw(")").CRLF()
	c.enc.Raw("* OK [PERMANENTFLAGS (")
	if !v.readOnly {
		var perm []string
		r := c.selRights
		if r.Has(acl.RightWrite) {
			perm = append(perm, `\Answered`, `\Flagged`)
		}
		if r.Has(acl.RightDeleteMsg) {
			perm = append(perm, `\Deleted`)
		}
		if r.Has(acl.RightSeen) {
			perm = append(perm, `\Seen`)
		}
		if r.Has(acl.RightWrite) {
			perm = append(perm, `\Draft`)
			perm = append(perm, kws...)
			perm = append(perm, `\*`)
		}
		for i, f := range perm {
			if i > 0 {
				c.enc.SP()
			}
			c.enc.Flag(f)
		}
	}
	c.enc.Raw(")] Flags permitted").CRLF()
}

// firstUnseen returns the number of the view's first message without
// \Seen (0: none), from the store's flag sets.
func (c *conn) firstUnseen(v *view) (uint32, error) {
	fs, err := c.flagState(v)
	if err != nil {
		return 0, err
	}
	for _, u := range fs.Unseen {
		if seq := v.seq(u); seq > 0 {
			return seq, nil
		}
	}
	return 0, nil
}

// deselect leaves the selected state.
func (c *conn) deselect() {
	c.dropContexts()
	c.sel.close()
	c.srv.opts.Registry.release(c.sel.sh)
	c.sel, c.selRights = nil, 0
	c.state = authenticated
}

// cmdClose expunges \Deleted messages silently when the mailbox is
// read-write and the user holds "e", and always deselects (RFC 9051
// §6.4.2; never an expunge after EXAMINE).
func cmdClose(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("CLOSE takes no arguments")
	}
	v := c.sel
	var err error
	if !v.readOnly {
		if p, perr := c.selectedPlace(); perr == nil && p.rights.Has(acl.RightExpunge) {
			var uids []store.UID
			uids, err = c.deletedUIDs(v, nil)
			if err == nil && len(uids) > 0 {
				_, err = c.srv.opts.Store.Expunge(c.ctx, v.id, uids)
			}
		}
	}
	c.deselect()
	return err
}

func cmdUnselect(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("UNSELECT takes no arguments")
	}
	c.deselect()
	return nil
}

// deletedUIDs returns the UIDs of the view's messages flagged \Deleted,
// limited to within when it is not nil, from the store's flag sets.
func (c *conn) deletedUIDs(v *view, within []store.UID) ([]store.UID, error) {
	fs, err := c.srv.opts.Store.FlagState(c.ctx, v.id)
	if err != nil {
		return nil, err
	}
	var out []store.UID
	for _, u := range fs.Deleted {
		if v.seq(u) == 0 {
			continue
		}
		if within != nil {
			if _, found := slices.BinarySearch(within, u); !found {
				continue
			}
		}
		out = append(out, u)
	}
	return out, nil
}

// errWithdrawn answers commands on a selected mailbox the user may no
// longer read (hardening issue, point 6).
var errWithdrawn = no("NOPERM", "Access to the selected mailbox has been withdrawn")

// selectedPlace re-evaluates the user's rights on the selected mailbox,
// found by its ID (it may have been renamed), so a revocation or a reload
// applies to a session that has it open.
func (c *conn) selectedPlace() (*place, error) {
	if c.sel.withdrawn {
		return nil, errWithdrawn // for good, even if access comes back
	}
	dir := c.srv.opts.Directory.Load()
	me := c.me(dir)
	m, err := c.srv.opts.Store.Mailbox(c.ctx, c.sel.id)
	if err != nil || me == nil {
		return nil, errWithdrawn
	}
	owner, ok := dir.Lookup(m.Account)
	if !ok {
		return nil, errWithdrawn
	}
	rights, err := c.rightsOn(dir, me, owner, m)
	if err != nil {
		return nil, err
	}
	if !rights.Has(acl.RightLookup | acl.RightRead) {
		c.sel.withdraw()
		return nil, errWithdrawn
	}
	c.selRights = rights
	return &place{owner: owner, name: m.Name, display: displayName(me, owner, m.Name), mailbox: m, rights: rights}, nil
}

// announce tells the client what changed in the selected mailbox since it
// was last told: EXPUNGE (only where allowed), FLAGS when a new keyword
// appeared, EXISTS and RECENT for new mail, FETCH for flags others
// changed. A mailbox deleted, or no longer readable by this user, ends
// the session with BYE: nothing more of it reaches the client.
func (c *conn) announce(allowExpunge bool) {
	defer c.announceNotify()
	v := c.sel
	if v == nil {
		return
	}
	if c.notify != nil && c.notify.selected&(evNew|evExpunge) == 0 {
		return // NOTIFY without SELECTED: the selected mailbox's events wait
	}
	expunged, newUIDs, flags, newKeywords, deleted := v.pending(allowExpunge)
	if c.notify != nil && c.notify.selected&evFlags == 0 {
		flags = nil // NOTIFY SELECTED without FlagChange
	}
	if deleted {
		c.bye("", "The selected mailbox was deleted")
		return
	}
	var own []store.UID
	if len(c.contexts) > 0 {
		own = v.takeTouched()
	}
	if len(expunged) == 0 && len(newUIDs) == 0 && len(flags) == 0 && !newKeywords && len(own) == 0 {
		return
	}
	if _, err := c.selectedPlace(); err != nil {
		// Access was withdrawn: nothing more of the mailbox reaches this
		// session (hardening issue, point 6). No BYE (RFC 9051 §7.1.5 has
		// no case for it): the mailbox acts as gone, commands on it answer
		// NO [NOPERM], CLOSE and UNSELECT leave it.
		c.sel.withdraw()
		return
	}
	if len(c.contexts) > 0 && len(expunged) > 0 {
		c.contextsExpunged(expunged)
	}
	var vanished []store.UID
	for _, u := range expunged {
		seq := v.seq(u) // numbers shift down after each EXPUNGE sent
		if seq == 0 {
			continue
		}
		v.uids = slices.Delete(v.uids, int(seq-1), int(seq))
		delete(v.recent, u)
		if c.qresync || c.uidOnly {
			vanished = append(vanished, u)
			continue
		}
		c.enc.Raw("* ").Number(uint64(seq)).Raw(" EXPUNGE").CRLF()
	}
	if len(vanished) > 0 {
		// RFC 7162 §3.2.10: once QRESYNC is enabled, UIDs in one response.
		c.enc.Raw("* VANISHED ").Raw(uidsString(vanished)).CRLF()
	}
	if newKeywords {
		c.writeFlags(v)
	}
	if len(newUIDs) > 0 {
		v.claimRecent(newUIDs)
		v.uids = append(v.uids, newUIDs...)
		c.enc.Raw("* ").Number(uint64(len(v.uids))).Raw(" EXISTS").CRLF()
		if !c.rev2 {
			c.enc.Raw("* ").Number(uint64(len(v.recent))).Raw(" RECENT").CRLF()
		}
		if c.notify != nil && len(c.notify.selFetch) > 0 {
			if err := c.fetchNew(newUIDs, c.notify.selFetch); err != nil {
				c.log.Warn("notify fetch", "err", err)
			}
		}
	}
	if len(flags) > 0 {
		uids := make([]store.UID, 0, len(flags))
		for u := range flags {
			uids = append(uids, u)
		}
		slices.Sort(uids)
		for _, u := range uids {
			seq := v.seq(u)
			if seq == 0 || v.isExpunged(u) {
				continue
			}
			c.tellKeywords(flags[u].Flags)
			if !c.fetchStart(seq, u) {
				c.enc.Raw("UID ").Number(uint64(u)).SP()
			}
			c.enc.Raw("FLAGS ")
			c.writeFlagList(flags[u].Flags, v.recent[u])
			c.writeModSeq(flags[u].ModSeq)
			c.enc.Raw(")").CRLF()
		}
	}
	if len(c.contexts) > 0 {
		touched := slices.Clone(own)
		touched = append(touched, newUIDs...)
		for u := range flags {
			touched = append(touched, u)
		}
		slices.Sort(touched)
		touched = slices.DeleteFunc(slices.Compact(touched), func(u store.UID) bool { return v.seq(u) == 0 || v.isExpunged(u) })
		if err := c.contextsTouched(touched); err != nil {
			c.log.Warn("search context update", "err", err)
		}
	}
}

// writeModSeq adds MODSEQ to a FETCH response that shows flags, once
// CONDSTORE is enabled (RFC 7162 §3.1.4).
func (c *conn) writeModSeq(modseq uint64) {
	if c.condstore {
		c.enc.Raw(" MODSEQ (").Number(modseq).Raw(")")
	}
}

// enableCondstore turns CONDSTORE on (RFC 7162 §3.1: by ENABLE, SELECT
// (CONDSTORE), or the first command that uses it) and tells the selected
// mailbox's HIGHESTMODSEQ.
func (c *conn) enableCondstore() error {
	if c.condstore {
		return nil
	}
	c.condstore = true
	if c.sel == nil {
		return nil
	}
	m, err := c.srv.opts.Store.Mailbox(c.ctx, c.sel.id)
	if err != nil {
		return err
	}
	c.enc.Raw("* OK [HIGHESTMODSEQ ").Number(max(m.HighestModSeq, 1)).Raw("] Highest").CRLF()
	return nil
}

// tellKeywords makes sure the client has been told, in FLAGS, every
// keyword f carries before a FETCH shows it (RFC 9051 §7.3.5): a keyword
// set by another session may be visible in the store before its change is
// published to this one.
func (c *conn) tellKeywords(f store.Flags) {
	v := c.sel
	fresh := false
	for _, k := range f.Keywords {
		if !v.told[k] {
			fresh = true
			v.sh.mu.Lock()
			v.sh.addKeywordLocked(k)
			v.sh.mu.Unlock()
		}
	}
	if fresh {
		c.writeFlags(v)
	}
}

// writeFlagList writes a message's flags as a parenthesised list.
func (c *conn) writeFlagList(f store.Flags, recent bool) {
	c.enc.Open()
	for i, name := range f.Names() {
		if i > 0 {
			c.enc.SP()
		}
		c.enc.Flag(name)
	}
	if recent && !c.rev2 {
		if len(f.Names()) > 0 {
			c.enc.SP()
		}
		c.enc.Raw(`\Recent`)
	}
	c.enc.Close()
}

// formatUint is strconv for response codes built as text.
func formatUint[T ~uint32 | ~uint64](n T) string { return strconv.FormatUint(uint64(n), 10) }
