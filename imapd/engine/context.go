package engine

import (
	"slices"
	"strconv"
	"strings"

	"mailroom/imapd/proto"
	"mailroom/store"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267) with PARTIAL (RFC 9394's
// ranges, which include RFC 5267's). SEARCH or SORT RETURN (UPDATE …)
// keeps the result as a context of the session: while the mailbox stays
// selected, every change that adds a message to the result or takes one
// out is told as an unsolicited ESEARCH with ADDTO or REMOVEFROM, until
// CANCELUPDATE. Matching is redone only for the messages a change
// touched (a SORT context is sorted again: its positions move). Removals
// for expunged messages come before their EXPUNGE, whose numbers they
// use.

// maxContexts bounds the search contexts of one session; more are
// refused with [NOUPDATE].
const maxContexts = 16

// searchContext is one SEARCH or SORT RETURN (UPDATE).
type searchContext struct {
	tag    string
	uid    bool
	sa     *searchArgs
	sort   []sortCriterion // nil: an (unordered) SEARCH
	result []store.UID     // SEARCH: ascending; SORT: in sort order
}

// partialRange is PARTIAL's range: 1-based positions from the first
// result, or from the last when negative (-1 is the last).
type partialRange struct{ lo, hi int64 }

func (p partialRange) String() string {
	return strconv.FormatInt(p.lo, 10) + ":" + strconv.FormatInt(p.hi, 10)
}

// parsePartial reads "a:b" with both ends non-zero and of one sign.
func parsePartial(v proto.Value) (*partialRange, error) {
	bad := syntax("PARTIAL takes a range such as 1:100 or -1:-100")
	if v.Kind != proto.Atom {
		return nil, bad
	}
	a, b, ok := strings.Cut(string(v.Bytes), ":")
	if !ok {
		return nil, bad
	}
	lo, err1 := strconv.ParseInt(a, 10, 32)
	hi, err2 := strconv.ParseInt(b, 10, 32)
	if err1 != nil || err2 != nil || lo == 0 || hi == 0 || (lo < 0) != (hi < 0) {
		return nil, bad
	}
	if (lo > 0 && lo > hi) || (lo < 0 && lo < hi) {
		lo, hi = hi, lo
	}
	return &partialRange{lo, hi}, nil
}

// slice returns the part of list the range selects.
func (p partialRange) slice(list []uint32) []uint32 {
	n := int64(len(list))
	lo, hi := p.lo, p.hi
	if lo < 0 {
		lo, hi = n+1+hi, n+1+lo // -1:-3 of 10 is 8:10
	}
	lo, hi = max(lo, 1), min(hi, n)
	if lo > hi {
		return nil
	}
	return list[lo-1 : hi]
}

// returnOptions are the RETURN options of SEARCH and SORT.
type returnOptions struct {
	ret     []string // MIN, MAX, ALL, COUNT, SAVE (SEARCH only)
	update  bool
	partial *partialRange
}

// parseReturn reads a RETURN list; an empty one, or one with only
// UPDATE or CONTEXT, means ALL.
func parseReturn(list []proto.Value, allowSave bool) (*returnOptions, error) {
	ro := &returnOptions{ret: []string{}}
	for i := 0; i < len(list); i++ {
		switch o := list[i].Upper(); {
		case o == "MIN" || o == "MAX" || o == "ALL" || o == "COUNT" || (o == "SAVE" && allowSave):
			ro.ret = append(ro.ret, o)
		case o == "UPDATE":
			ro.update = true
		case o == "CONTEXT":
			// A hint that the client will ask again (RFC 5267 §4.2);
			// nothing is kept for it.
		case o == "PARTIAL" && ro.partial == nil && i+1 < len(list):
			i++
			p, err := parsePartial(list[i])
			if err != nil {
				return nil, err
			}
			ro.partial = p
		default:
			return nil, syntax("Unknown RETURN option")
		}
	}
	if len(ro.ret) == 0 && ro.partial == nil {
		ro.ret = []string{"ALL"}
	}
	if ro.partial != nil && slices.Contains(ro.ret, "ALL") {
		return nil, syntax("PARTIAL and ALL exclude each other")
	}
	return ro, nil
}

// writePartial writes PARTIAL's result data.
func (c *conn) writePartial(p *partialRange, nums []uint32) {
	c.enc.Raw(" PARTIAL (").Raw(p.String()).SP()
	if sel := p.slice(nums); len(sel) > 0 {
		c.enc.Raw(compactSet(sel))
	} else {
		c.enc.Raw("NIL")
	}
	c.enc.Raw(")")
}

// addContext keeps a SEARCH or SORT RETURN (UPDATE) result; false when
// the session has too many.
func (c *conn) addContext(ctx *searchContext) bool {
	c.contexts = slices.DeleteFunc(c.contexts, func(o *searchContext) bool { return o.tag == ctx.tag })
	if len(c.contexts) >= maxContexts {
		return false
	}
	c.contexts = append(c.contexts, ctx)
	c.sel.setTrack(true)
	return true
}

// dropContexts ends every search context (the mailbox was closed).
func (c *conn) dropContexts() {
	c.contexts = nil
}

// cmdCancelUpdate ends the search contexts of the given tags.
func cmdCancelUpdate(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) == 0 {
		return syntax("CANCELUPDATE takes the tags of searches")
	}
	var tags []string
	for _, a := range cmd.Args {
		t, ok := a.String()
		if !ok {
			return syntax("CANCELUPDATE takes quoted tags")
		}
		if !slices.ContainsFunc(c.contexts, func(ctx *searchContext) bool { return ctx.tag == t }) {
			return no("", "No search context "+strconv.Quote(t))
		}
		tags = append(tags, t)
	}
	c.contexts = slices.DeleteFunc(c.contexts, func(ctx *searchContext) bool { return slices.Contains(tags, ctx.tag) })
	if len(c.contexts) == 0 {
		c.sel.setTrack(false)
	}
	return nil
}

// num is a UID as the context reports it: itself, or its sequence
// number in the view.
func (c *conn) num(uid bool, u store.UID) uint32 {
	if uid {
		return uint32(u)
	}
	return c.sel.seq(u)
}

// writeUpdate writes one unsolicited ESEARCH for a context with the
// given ADDTO or REMOVEFROM pairs.
func (c *conn) writeUpdate(ctx *searchContext, what string, pairs [][2]string) {
	if len(pairs) == 0 {
		return
	}
	c.enc.Raw(`* ESEARCH (TAG `).String(ctx.tag).Raw(")")
	if ctx.uid {
		c.enc.Raw(" UID")
	}
	for _, p := range pairs {
		c.enc.SP().Raw(what).Raw(" (").Raw(p[0]).SP().Raw(p[1]).Raw(")")
	}
	c.enc.CRLF()
}

// contextsExpunged tells each context which of its messages are about to
// be announced as expunged: before the EXPUNGE responses, with the
// numbers they still have.
func (c *conn) contextsExpunged(expunged []store.UID) {
	for _, ctx := range c.contexts {
		var gone []store.UID
		var positions []int
		for i, u := range ctx.result {
			if _, found := slices.BinarySearch(expunged, u); found {
				gone = append(gone, u)
				positions = append(positions, i+1)
			}
		}
		if len(gone) == 0 {
			continue
		}
		c.writeUpdate(ctx, "REMOVEFROM", c.removals(ctx, gone, positions))
		ctx.result = slices.DeleteFunc(ctx.result, func(u store.UID) bool { return slices.Contains(gone, u) })
	}
}

// removals are REMOVEFROM's pairs: for a SEARCH one, position 0 and the
// set; for a SORT one, each message at its position, last first so the
// positions hold as the client applies them.
func (c *conn) removals(ctx *searchContext, gone []store.UID, positions []int) [][2]string {
	if ctx.sort == nil {
		nums := make([]uint32, 0, len(gone))
		for _, u := range gone {
			nums = append(nums, c.num(ctx.uid, u))
		}
		slices.Sort(nums)
		return [][2]string{{"0", compactSet(nums)}}
	}
	var pairs [][2]string
	for i := len(gone) - 1; i >= 0; i-- {
		pairs = append(pairs, [2]string{strconv.Itoa(positions[i]), formatUint(c.num(ctx.uid, gone[i]))})
	}
	return pairs
}

// contextsTouched brings each context up to date with the messages whose
// flags changed or that arrived (UIDs ascending, all in the view).
func (c *conn) contextsTouched(touched []store.UID) error {
	if len(touched) == 0 {
		return nil
	}
	for _, ctx := range c.contexts {
		if ctx.sort != nil {
			if err := c.resort(ctx); err != nil {
				return err
			}
			continue
		}
		matched, err := c.matchUIDs(ctx.sa, touched)
		if err != nil {
			return err
		}
		var added, removed []store.UID
		for _, u := range touched {
			_, was := slices.BinarySearch(ctx.result, u)
			_, is := slices.BinarySearch(matched, u)
			switch {
			case is && !was:
				added = append(added, u)
			case was && !is:
				removed = append(removed, u)
			}
		}
		if len(removed) > 0 {
			c.writeUpdate(ctx, "REMOVEFROM", c.removals(ctx, removed, nil))
			ctx.result = slices.DeleteFunc(ctx.result, func(u store.UID) bool { _, f := slices.BinarySearch(removed, u); return f })
		}
		if len(added) > 0 {
			nums := make([]uint32, 0, len(added))
			for _, u := range added {
				nums = append(nums, c.num(ctx.uid, u))
			}
			c.writeUpdate(ctx, "ADDTO", [][2]string{{"0", compactSet(nums)}})
			ctx.result = append(ctx.result, added...)
			slices.Sort(ctx.result)
		}
	}
	return nil
}

// resort sorts a SORT context again and tells the difference: removals
// from the old order (last first), then additions at their new
// positions (first first). Sort keys do not change, so the messages that
// stay keep their relative order.
func (c *conn) resort(ctx *searchContext) error {
	fresh, err := c.sortedUIDs(ctx.sa, ctx.sort)
	if err != nil {
		return err
	}
	in := func(list []store.UID) map[store.UID]bool {
		m := make(map[store.UID]bool, len(list))
		for _, u := range list {
			m[u] = true
		}
		return m
	}
	now, before := in(fresh), in(ctx.result)
	var gone []store.UID
	var positions []int
	for i, u := range ctx.result {
		if !now[u] {
			gone = append(gone, u)
			positions = append(positions, i+1)
		}
	}
	c.writeUpdate(ctx, "REMOVEFROM", c.removals(ctx, gone, positions))
	var adds [][2]string
	for i, u := range fresh {
		if !before[u] {
			adds = append(adds, [2]string{strconv.Itoa(i + 1), formatUint(c.num(ctx.uid, u))})
		}
	}
	c.writeUpdate(ctx, "ADDTO", adds)
	ctx.result = fresh
	return nil
}
