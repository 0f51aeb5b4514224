package engine

import (
	"slices"
	"strings"
	"time"

	"mailroom/imapd/part"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// THREAD (RFC 5256 §2.2): ORDEREDSUBJECT and REFERENCES.

// threadMsg is what threading needs of one message.
type threadMsg struct {
	uid       store.UID
	date      time.Time // sent date, else arrival
	subject   string    // base subject, upper case
	isReply   bool      // the subject had reply or forward markers
	messageID string
	refs      []string // References, else In-Reply-To's first id
}

// node is a thread tree node: a message, or a dummy (msg nil).
type node struct {
	msg      *threadMsg
	parent   *node
	children []*node
}

func cmdThread(c *conn, cmd *proto.Command) error    { return c.thread(cmd, false) }
func cmdUIDThread(c *conn, cmd *proto.Command) error { return c.thread(cmd, true) }

func (c *conn) thread(cmd *proto.Command, uid bool) error {
	if len(cmd.Args) < 3 || cmd.Args[0].Kind != proto.Atom {
		return syntax("THREAD takes an algorithm, a charset and search keys")
	}
	alg := cmd.Args[0].Upper()
	if alg != "ORDEREDSUBJECT" && alg != "REFERENCES" {
		return syntax("Unknown threading algorithm " + string(cmd.Args[0].Bytes))
	}
	sa, err := c.searchOnly(cmd.Args[1:], uid, "THREAD")
	if err != nil {
		return err
	}
	var msgs []*threadMsg
	err = c.eachMatch(sa, true, c.sel.uids, func(m *store.Message, cand *candidate) {
		msgs = append(msgs, threadInfo(m, cand.get))
	})
	if err != nil {
		return err
	}
	var roots []*node
	if alg == "ORDEREDSUBJECT" {
		roots = orderedSubject(msgs)
	} else {
		roots = references(msgs)
	}
	c.enc.Raw("* THREAD ")
	for _, r := range roots {
		c.writeThread(r, uid, true)
	}
	c.enc.CRLF()
	return nil
}

func threadInfo(m *store.Message, get func(string) (string, bool)) *threadMsg {
	t := &threadMsg{uid: m.UID, date: m.InternalDate}
	if d, ok := get("Date"); ok {
		if pd, ok := part.ParseDate(d); ok {
			t.date = pd
		}
	}
	subj, _ := get("Subject")
	base := baseSubject(subj)
	t.subject = strings.ToUpper(base)
	t.isReply = strings.ToUpper(strings.Join(strings.Fields(decodeWords(subj)), " ")) != t.subject
	if ids := msgIDs(get, "Message-ID"); len(ids) > 0 {
		t.messageID = ids[0]
	}
	t.refs = msgIDs(get, "References")
	if len(t.refs) == 0 {
		if irt := msgIDs(get, "In-Reply-To"); len(irt) > 0 {
			t.refs = irt[:1]
		}
	}
	return t
}

// msgIDs returns the <…> message ids in a field, in order.
func msgIDs(get func(string) (string, bool), field string) []string {
	v, ok := get(field)
	if !ok {
		return nil
	}
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ids
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return ids
		}
		if id := strings.TrimSpace(v[i+1 : i+j]); id != "" {
			ids = append(ids, id)
		}
		v = v[i+j+1:]
	}
}

// orderedSubject groups by base subject; the earliest message of each
// group is the parent of the others; threads in order of their first
// message's date.
func orderedSubject(msgs []*threadMsg) []*node {
	sorted := slices.Clone(msgs)
	slices.SortStableFunc(sorted, func(a, b *threadMsg) int {
		if r := strings.Compare(a.subject, b.subject); r != 0 {
			return r
		}
		return compareDates(a, b)
	})
	var roots []*node
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].subject == sorted[i].subject {
			j++
		}
		root := &node{msg: sorted[i]}
		for _, m := range sorted[i+1 : j] {
			root.children = append(root.children, &node{msg: m, parent: root})
		}
		roots = append(roots, root)
		i = j
	}
	slices.SortStableFunc(roots, func(a, b *node) int { return compareDates(a.msg, b.msg) })
	return roots
}

func compareDates(a, b *threadMsg) int {
	if r := a.date.Compare(b.date); r != 0 {
		return r
	}
	return int(a.uid) - int(b.uid)
}

// references is RFC 5256's REFERENCES algorithm.
func references(msgs []*threadMsg) []*node {
	ids := map[string]*node{}
	var all []*node
	container := func(id string) *node {
		n := ids[id]
		if n == nil {
			n = &node{}
			ids[id] = n
			all = append(all, n)
		}
		return n
	}
	ancestor := func(a, b *node) bool { // is a an ancestor of b (or b itself)?
		for x := b; x != nil; x = x.parent {
			if x == a {
				return true
			}
		}
		return false
	}
	link := func(parent, child *node) {
		if child.parent != nil {
			child.parent.children = slices.DeleteFunc(child.parent.children, func(n *node) bool { return n == child })
		}
		child.parent = parent
		if parent != nil {
			parent.children = append(parent.children, child)
		}
	}
	for _, m := range msgs {
		// (1A) the message's own container; a duplicate id gets its own.
		var own *node
		if m.messageID != "" && (ids[m.messageID] == nil || ids[m.messageID].msg == nil) {
			own = container(m.messageID)
		} else {
			own = &node{}
			all = append(all, own)
		}
		own.msg = m
		// (1B) link the references in order, never changing a link.
		var prev *node
		for _, r := range m.refs {
			cur := container(r)
			if prev != nil && cur.parent == nil && !ancestor(cur, prev) {
				link(prev, cur)
			}
			prev = cur
		}
		// (1C) the last reference is the parent, unless that would loop.
		if prev != nil && ancestor(own, prev) {
			prev = nil
		}
		if own.parent != prev {
			link(prev, own)
		}
	}
	// (2) the root set.
	var roots []*node
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// (4) prune dummies.
	roots = prune(roots, true)
	// (5) sort by date.
	sortNodes(roots)
	// (6) merge threads with the same base subject.
	subjects := map[string]*node{}
	subjectOf := func(n *node) (string, bool) {
		m := n.msg
		if m == nil && len(n.children) > 0 {
			m = n.children[0].msg
		}
		if m == nil {
			return "", false
		}
		return m.subject, m.isReply
	}
	for _, r := range roots {
		s, reply := subjectOf(r)
		if s == "" {
			continue
		}
		old := subjects[s]
		if old == nil || (old.msg != nil && r.msg == nil) || (old.msg != nil && r.msg != nil && old.msg.isReply && !reply) {
			subjects[s] = r
		}
	}
	var merged []*node
	for _, r := range roots {
		s, reply := subjectOf(r)
		t := subjects[s]
		if s == "" || t == nil || t == r {
			merged = append(merged, r)
			continue
		}
		switch {
		case t.msg == nil && r.msg == nil:
			for _, ch := range slices.Clone(r.children) {
				link(t, ch)
			}
		case t.msg == nil:
			link(t, r)
		case r.msg != nil && reply && !t.msg.isReply:
			link(t, r)
		default:
			// A new dummy above both, in the table's place.
			d := &node{}
			idx := slices.Index(merged, t)
			link(d, t)
			link(d, r)
			if idx >= 0 {
				merged[idx] = d
			} else {
				merged = append(merged, d)
			}
			subjects[s] = d
		}
	}
	// (7) sort everything by date.
	sortNodes(merged)
	return merged
}

// prune removes dummies without children and promotes the children of
// the others (at the root level only when there is one child).
func prune(nodes []*node, root bool) []*node {
	var out []*node
	for _, n := range nodes {
		n.children = prune(n.children, false)
		for _, ch := range n.children {
			ch.parent = n
		}
		switch {
		case n.msg != nil:
			out = append(out, n)
		case len(n.children) == 0:
		case !root || len(n.children) == 1:
			for _, ch := range n.children {
				ch.parent = n.parent
				out = append(out, ch)
			}
		default:
			out = append(out, n)
		}
	}
	return out
}

// sortNodes sorts nodes (and, first, their descendants) by sent date; a
// dummy by its first child's.
func sortNodes(nodes []*node) {
	for _, n := range nodes {
		sortNodes(n.children)
	}
	slices.SortStableFunc(nodes, func(a, b *node) int { return compareDates(firstMsg(a), firstMsg(b)) })
}

func firstMsg(n *node) *threadMsg {
	for n.msg == nil && len(n.children) > 0 {
		n = n.children[0]
	}
	if n.msg == nil {
		return &threadMsg{}
	}
	return n.msg
}

// writeThread writes a thread (RFC 5256 §4): "(a b c)" for a chain,
// "(a (b)(c))" where a message has several children.
func (c *conn) writeThread(n *node, uid, open bool) {
	if open {
		c.enc.Raw("(")
	}
	if n.msg != nil {
		if uid {
			c.enc.Number(uint64(n.msg.uid))
		} else {
			c.enc.Number(uint64(c.sel.seq(n.msg.uid)))
		}
	}
	switch {
	case len(n.children) == 1 && n.msg != nil:
		c.enc.SP()
		c.writeThread(n.children[0], uid, false)
	case len(n.children) > 0:
		if n.msg != nil {
			c.enc.SP()
		}
		for _, ch := range n.children {
			c.writeThread(ch, uid, true)
		}
	}
	if open {
		c.enc.Raw(")")
	}
}
