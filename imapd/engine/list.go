package engine

import (
	"errors"
	"slices"
	"strings"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// listEntry is one name LIST may return, by the session's name for it.
type listEntry struct {
	name       string
	mailbox    *store.Mailbox // nil: subscribed but not existing, or a namespace node
	node       bool           // a namespace node: Other Users/<address>
	rights     acl.Rights
	subscribed bool
	children   bool
}

// listOptions are LIST's selection and return options (RFC 5258, RFC
// 6154, RFC 5819, RFC 8440).
type listOptions struct {
	subscribed, recursive, specialUse                bool // selection
	retSubscribed, retChildren, retSpecial, myRights bool // return
	status                                           []string
}

// cmdList is LIST, with LIST-EXTENDED (RFC 9051 §6.3.9, RFC 5258).
func cmdList(c *conn, cmd *proto.Command) error {
	args := cmd.Args
	var o listOptions
	if len(args) > 0 && args[0].Kind == proto.List {
		for _, v := range args[0].List {
			switch v.Upper() {
			case "SUBSCRIBED":
				o.subscribed = true
			case "RECURSIVEMATCH":
				o.recursive = true
			case "SPECIAL-USE":
				o.specialUse = true
			case "REMOTE":
			default:
				return syntax("Unknown LIST selection option")
			}
		}
		if o.recursive && !o.subscribed {
			return syntax("RECURSIVEMATCH needs another selection option")
		}
		args = args[1:]
	}
	if len(args) < 2 {
		return syntax("LIST takes a reference and a pattern")
	}
	ref, ok := args[0].AString()
	if !ok {
		return syntax("Invalid reference")
	}
	var patterns []string
	switch v := args[1]; v.Kind {
	case proto.List:
		for _, p := range v.List {
			s, ok := p.AString()
			if !ok {
				return syntax("Invalid pattern")
			}
			patterns = append(patterns, s)
		}
	default:
		s, _ := v.AString()
		patterns = append(patterns, s)
	}
	args = args[2:]
	if len(args) > 0 {
		if len(args) != 2 || !args[0].IsAtom("RETURN") || args[1].Kind != proto.List {
			return syntax("Expected RETURN (options)")
		}
		rl := args[1].List
		for i := 0; i < len(rl); i++ {
			switch rl[i].Upper() {
			case "SUBSCRIBED":
				o.retSubscribed = true
			case "CHILDREN":
				o.retChildren = true
			case "SPECIAL-USE":
				o.retSpecial = true
			case "MYRIGHTS":
				o.myRights = true
			case "STATUS":
				if i+1 == len(rl) || rl[i+1].Kind != proto.List {
					return syntax("STATUS needs a list of items")
				}
				i++
				for _, it := range rl[i].List {
					o.status = append(o.status, it.Upper())
				}
				if err := checkStatusItems(o.status); err != nil {
					return err
				}
			default:
				return syntax("Unknown LIST return option")
			}
		}
	}
	if !c.utf8 {
		// A pattern that is not modified UTF-7 is matched as it is (it
		// finds nothing), as other servers do; only bytes that are not
		// UTF-8 at all are refused.
		var err error
		if ref, err = decodeLenient(ref); err != nil {
			return err
		}
		for i, p := range patterns {
			if patterns[i], err = decodeLenient(p); err != nil {
				return err
			}
		}
	}
	if len(patterns) == 1 && patterns[0] == "" && !o.subscribed {
		// RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
		c.enc.Raw(`* LIST (\Noselect) "/" ""`).CRLF()
		return nil
	}
	return c.list("LIST", ref, patterns, o)
}

// cmdLsub is IMAP4rev1's LSUB (RFC 3501 §6.3.9): subscribed names; a
// name that "%" stops at whose children are subscribed comes with
// \Noselect (with "*" the children are listed themselves, not it).
func cmdLsub(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 2 {
		return syntax("LSUB takes a reference and a pattern")
	}
	ref, ok1 := cmd.Args[0].AString()
	pat, ok2 := cmd.Args[1].AString()
	if !ok1 || !ok2 {
		return syntax("LSUB takes a reference and a pattern")
	}
	if !c.utf8 {
		var err1, err2 error
		ref, err1 = decodeLenient(ref)
		pat, err2 = decodeLenient(pat)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
	}
	if err := c.subscribeShared(nil); err != nil {
		return err
	}
	subs, err := c.srv.opts.Store.Subscriptions(c.ctx, c.account.Address)
	if err != nil {
		return err
	}
	slices.Sort(subs)
	written := map[string]bool{}
	for _, n := range subs {
		if matchPattern(n, ref+pat) {
			c.enc.Raw("* LSUB () \"/\" ")
			c.mailboxName(n)
			c.enc.CRLF()
			written[n] = true
		}
	}
	for _, n := range subs {
		if written[n] {
			continue // the pattern reaches the name itself ("*"): no parent is owed
		}
		for _, sup := range store.Superiors(n) {
			if !written[sup] && matchPattern(sup, ref+pat) {
				c.enc.Raw("* LSUB (\\Noselect) \"/\" ")
				c.mailboxName(sup)
				c.enc.CRLF()
				written[sup] = true
			}
		}
	}
	return nil
}

// list writes the LIST responses for the patterns.
func (c *conn) list(verb, ref string, patterns []string, o listOptions) error {
	entries, err := c.visibleMailboxes()
	if err != nil {
		return err
	}
	if err := c.subscribeShared(entries); err != nil {
		return err
	}
	subs, err := c.srv.opts.Store.Subscriptions(c.ctx, c.account.Address)
	if err != nil {
		return err
	}
	for _, n := range subs {
		e := entries[n]
		if e == nil {
			e = &listEntry{name: n}
			entries[n] = e
		}
		e.subscribed = true
	}
	for n, e := range entries {
		if e.mailbox == nil && !e.node {
			continue
		}
		for _, sup := range store.Superiors(n) {
			if p := entries[sup]; p != nil {
				p.children = true
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	matches := func(name string) bool {
		for _, p := range patterns {
			if matchPattern(name, ref+p) {
				return true
			}
		}
		return false
	}
	written := map[string]bool{}
	for _, n := range names {
		e := entries[n]
		switch {
		case !matches(n),
			o.subscribed && !e.subscribed,
			!o.subscribed && e.mailbox == nil && !e.node,
			o.specialUse && (e.mailbox == nil || e.mailbox.SpecialUse == ""):
			continue
		}
		c.writeListEntry(verb, e, o, false)
		written[n] = true
	}
	if o.subscribed && o.recursive {
		// RFC 5258 §3.5: a parent that matches but is not subscribed is
		// returned with CHILDINFO when a child is.
		for _, n := range names {
			if e := entries[n]; !e.subscribed || written[n] {
				continue
			}
			for _, sup := range store.Superiors(n) {
				if written[sup] || !matches(sup) {
					continue
				}
				pe := entries[sup]
				if pe == nil {
					pe = &listEntry{name: sup}
				}
				c.writeListEntry(verb, pe, o, true)
				written[sup] = true
			}
		}
	}
	return nil
}

func (c *conn) writeListEntry(verb string, e *listEntry, o listOptions, childInfo bool) {
	var attrs []string
	switch {
	case e.node:
		attrs = append(attrs, `\Noselect`, `\HasChildren`)
	case e.mailbox == nil:
		attrs = append(attrs, `\NonExistent`)
	default:
		if e.children {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if e.mailbox.SpecialUse != "" {
			attrs = append(attrs, e.mailbox.SpecialUse)
		}
	}
	if e.subscribed && (o.retSubscribed || o.subscribed) {
		attrs = append(attrs, `\Subscribed`)
	}
	c.enc.Raw("* ").Raw(verb).Raw(" (").Raw(strings.Join(attrs, " ")).Raw(`) "/" `)
	c.mailboxName(e.name)
	if childInfo {
		c.enc.Raw(` ("CHILDINFO" ("SUBSCRIBED"))`)
	}
	c.enc.CRLF()
	// RFC 5819: STATUS for the mailboxes whose STATUS the user may read;
	// the same rights as STATUS itself (hardening issue, point 7).
	if len(o.status) > 0 && e.mailbox != nil && !e.node && e.rights.Has(acl.RightRead) {
		c.writeStatus(e.name, e.mailbox, o.status)
	}
	// RFC 8440: the rights MYRIGHTS would give, for mailboxes that exist.
	if o.myRights && e.mailbox != nil && !e.node {
		c.enc.Raw("* MYRIGHTS ")
		c.mailboxName(e.name)
		c.enc.SP().String(c.shownRights(e.mailbox.Account, e.rights).String()).CRLF()
	}
}

// visibleMailboxes returns, by the session's names, every mailbox the
// user may look up: their own, and others' on which they hold "l", plus
// the namespace nodes above the latter.
func (c *conn) visibleMailboxes() (map[string]*listEntry, error) {
	dir := c.srv.opts.Directory.Load()
	me := c.me(dir)
	entries := map[string]*listEntry{}
	if me == nil {
		return entries, nil
	}
	visible, err := dir.Visible(c.ctx, c.srv.opts.Store, me)
	if err != nil {
		return nil, err
	}
	for _, v := range visible {
		name := displayName(me, v.Owner, v.Mailbox.Name)
		entries[name] = &listEntry{name: name, mailbox: v.Mailbox, rights: v.Rights}
		if v.Owner != me {
			for _, sup := range store.Superiors(name) {
				if entries[sup] == nil && strings.Count(sup, "/") <= 1 {
					entries[sup] = &listEntry{name: sup, node: true}
				}
			}
		}
	}
	return entries, nil
}

// matchPattern matches a mailbox name against a LIST pattern (RFC 9051
// §6.3.9): "*" matches anything, "%" anything but the delimiter; INBOX
// matches in any case. Dynamic programming, so no pattern is exponential.
func matchPattern(name, pattern string) bool {
	if first, _, _ := strings.Cut(pattern, "/"); strings.EqualFold(first, store.Inbox) {
		pattern = store.Inbox + pattern[len(first):]
	}
	// prev[j]: pattern[:i] matches name[:j].
	prev := make([]bool, len(name)+1)
	cur := make([]bool, len(name)+1)
	prev[0] = true
	for i := 0; i < len(pattern); i++ {
		p := pattern[i]
		cur[0] = prev[0] && (p == '*' || p == '%')
		for j := 1; j <= len(name); j++ {
			switch p {
			case '*':
				cur[j] = prev[j] || cur[j-1]
			case '%':
				cur[j] = prev[j] || (cur[j-1] && name[j-1] != '/')
			default:
				cur[j] = prev[j-1] && name[j-1] == p
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(name)]
}

// subscribeShared subscribes the user to the mailboxes others share with
// them (a SETACL, a [[share]], a group they joined) that they have
// neither subscribed nor unsubscribed before, so clients that show only
// subscribed folders show them: a team account's folders for every
// member. entries is visibleMailboxes' answer, or nil to compute it.
func (c *conn) subscribeShared(entries map[string]*listEntry) error {
	if entries == nil {
		var err error
		if entries, err = c.visibleMailboxes(); err != nil {
			return err
		}
	}
	var names []string
	for name, e := range entries {
		if e.mailbox != nil && !e.node && acl.Fold(e.mailbox.Account) != acl.Fold(c.account.Address) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	_, err := c.srv.opts.Store.AutoSubscribe(c.ctx, c.account.Address, names)
	return err
}
