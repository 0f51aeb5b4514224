package engine

import (
	"slices"
	"strconv"
	"strings"

	"mailroom/imapd/proto"
	"mailroom/store"
)

// QRESYNC (RFC 7162 §3.2). After ENABLE QRESYNC a client may SELECT with
// what it last knew (UIDVALIDITY, mod-sequence, optionally its UIDs) and
// is told, before the tagged OK, the UIDs expunged since in one VANISHED
// (EARLIER) and the flags of the messages changed since: both from the
// store's mod-sequence index, so a resync after one change costs one
// response, not one per message. Expunges are then reported as VANISHED
// with UIDs instead of EXPUNGE, and UID FETCH takes (CHANGEDSINCE n
// VANISHED).
//
// When the store no longer holds the expunge records back to the client's
// mod-sequence (they are kept for a bounded time), the server reports
// every UID up to UIDNEXT, within the client's known UIDs, that is not in
// the mailbox: possibly more than vanished, never less, as §3.2.5.2
// allows.

// qresyncParams is SELECT's (QRESYNC (uidvalidity modseq [known-uids]
// [seq-match-data])).
type qresyncParams struct {
	uidValidity uint32
	modseq      uint64
	known       proto.NumSet // nil: all UIDs
}

// parseSelectParams reads SELECT/EXAMINE's optional parameter list.
func (c *conn) parseSelectParams(name string, v proto.Value) (condstore bool, q *qresyncParams, err error) {
	if v.Kind != proto.List || len(v.List) == 0 {
		return false, nil, syntax("Unknown " + name + " parameters")
	}
	for i := 0; i < len(v.List); i++ {
		p := v.List[i]
		switch {
		case p.IsAtom("CONDSTORE"):
			condstore = true
		case p.IsAtom("QRESYNC"):
			if !c.qresync {
				return false, nil, syntax("QRESYNC must be enabled first (ENABLE QRESYNC)")
			}
			if i+1 >= len(v.List) || q != nil {
				return false, nil, syntax("QRESYNC takes one parameter list")
			}
			i++
			if q, err = parseQresync(v.List[i], c.uidOnly); err != nil {
				return false, nil, err
			}
		default:
			return false, nil, syntax("Unknown " + name + " parameter")
		}
	}
	return condstore, q, nil
}

func parseQresync(v proto.Value, uidOnly bool) (*qresyncParams, error) {
	bad := syntax("QRESYNC takes (uidvalidity modseq [known-uids] [(known-sequence-set known-uid-set)])")
	if v.Kind != proto.List || len(v.List) < 2 || len(v.List) > 4 {
		return nil, bad
	}
	uv, ok1 := v.List[0].Number()
	ms, ok2 := v.List[1].Number64()
	if !ok1 || !ok2 || uv == 0 {
		return nil, bad
	}
	q := &qresyncParams{uidValidity: uv, modseq: ms}
	rest := v.List[2:]
	if len(rest) > 0 && rest[0].Kind == proto.Atom {
		set, err := parseUIDSet(rest[0])
		if err != nil {
			return nil, bad
		}
		q.known = set
		rest = rest[1:]
	}
	if len(rest) > 0 {
		// seq-match-data: the store keeps expunge records, so it is only
		// checked for syntax.
		m := rest[0]
		if m.Kind != proto.List || len(m.List) != 2 || len(rest) > 1 {
			return nil, bad
		}
		if uidOnly {
			return nil, errUIDRequired("QRESYNC's sequence match data")
		}
		for _, s := range m.List {
			if _, err := parseUIDSet(s); err != nil {
				return nil, bad
			}
		}
	}
	return q, nil
}

// parseUIDSet parses a set of UIDs or numbers without "*" or "$".
func parseUIDSet(v proto.Value) (proto.NumSet, error) {
	if v.Kind != proto.Atom {
		return nil, proto.ErrBadSet
	}
	set, err := proto.ParseNumSet(string(v.Bytes))
	if err != nil {
		return nil, err
	}
	for _, r := range set {
		if r.Start == proto.Star || r.Stop == proto.Star {
			return nil, proto.ErrBadSet
		}
	}
	return set, nil
}

// resync answers SELECT's QRESYNC parameter: VANISHED (EARLIER) for what
// was expunged since the client's mod-sequence, then FETCH (UID FLAGS
// MODSEQ) for what changed, limited to the client's known UIDs.
func (c *conn) resync(v *view, m *store.Mailbox, q *qresyncParams) error {
	if q.uidValidity != m.UIDValidity {
		return nil // the client must start over; nothing to tell
	}
	ch, err := c.srv.opts.Store.ChangedSince(c.ctx, v.id, q.modseq)
	if err != nil {
		return err
	}
	top := uint32(m.UIDNext - 1)
	in := func(u store.UID) bool { return q.known == nil || q.known.Contains(uint32(u), top) }
	c.writeVanishedEarlier(v, ch, q.known, top)
	var changed []store.UID
	for _, u := range ch.Changed {
		if in(u) && v.seq(u) != 0 {
			changed = append(changed, u)
		}
	}
	return c.records(changed, func(msg *store.Message) error {
		c.tellKeywords(msg.Flags)
		if !c.fetchStart(v.seq(msg.UID), msg.UID) {
			c.enc.Raw("UID ").Number(uint64(msg.UID)).SP()
		}
		c.enc.Raw("FLAGS ")
		c.writeFlagList(msg.Flags, v.recent[msg.UID])
		c.enc.Raw(" MODSEQ (").Number(msg.ModSeq).Raw("))").CRLF()
		return c.enc.Err()
	})
}

// writeVanishedEarlier writes VANISHED (EARLIER) with the UIDs within
// (nil: all, "*" being top) expunged after the change set's mod-sequence
// and not in the view; nothing when there are none.
func (c *conn) writeVanishedEarlier(v *view, ch *store.Changes, within proto.NumSet, top uint32) {
	var ranges []proto.Range
	if ch.Complete {
		for _, u := range ch.Vanished {
			if v.seq(u) == 0 && (within == nil || within.Contains(uint32(u), top)) {
				ranges = appendUID(ranges, uint32(u))
			}
		}
	} else {
		ranges = absentUIDs(v.uids, within, top)
	}
	if len(ranges) == 0 {
		return
	}
	c.enc.Raw("* VANISHED (EARLIER) ").Raw(rangesString(ranges)).CRLF()
}

// absentUIDs returns, as ranges, the UIDs in within (nil: 1:top) up to
// top that are not in uids (ascending).
func absentUIDs(uids []store.UID, within proto.NumSet, top uint32) []proto.Range {
	if top == 0 {
		return nil
	}
	spans := []proto.Range{{Start: 1, Stop: top}}
	if within != nil {
		spans = within.Resolve(top)
		slices.SortFunc(spans, func(a, b proto.Range) int { return int(int64(a.Start) - int64(b.Start)) })
	}
	var out []proto.Range
	next := uint32(1) // spans may overlap: never report a UID twice
	for _, s := range spans {
		lo, hi := max(s.Start, next), min(s.Stop, top)
		if lo > hi {
			continue
		}
		i, _ := slices.BinarySearch(uids, store.UID(lo))
		at := lo
		for ; i < len(uids) && uint32(uids[i]) <= hi; i++ {
			if u := uint32(uids[i]); u > at {
				out = appendRange(out, proto.Range{Start: at, Stop: u - 1})
			}
			at = uint32(uids[i]) + 1
		}
		if at <= hi {
			out = appendRange(out, proto.Range{Start: at, Stop: hi})
		}
		next = hi + 1
	}
	return out
}

// appendUID adds u (ascending) to a list of ranges, extending the last.
func appendUID(rs []proto.Range, u uint32) []proto.Range {
	return appendRange(rs, proto.Range{Start: u, Stop: u})
}

func appendRange(rs []proto.Range, r proto.Range) []proto.Range {
	if n := len(rs); n > 0 && rs[n-1].Stop+1 >= r.Start {
		rs[n-1].Stop = max(rs[n-1].Stop, r.Stop)
		return rs
	}
	return append(rs, r)
}

// rangesString writes ascending ranges as a sequence set.
func rangesString(rs []proto.Range) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(r.Start), 10))
		if r.Stop != r.Start {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(r.Stop), 10))
		}
	}
	return b.String()
}

// uidsString writes ascending UIDs as a sequence set.
func uidsString(uids []store.UID) string {
	var rs []proto.Range
	for _, u := range uids {
		rs = appendUID(rs, uint32(u))
	}
	return rangesString(rs)
}

// enableQresync turns QRESYNC on, and CONDSTORE with it (RFC 7162
// §3.2.3).
func (c *conn) enableQresync() error {
	if err := c.enableCondstore(); err != nil {
		return err
	}
	c.qresync = true
	return nil
}

// parseFetchModifiers reads FETCH's modifier list: CHANGEDSINCE n, and
// VANISHED (UID FETCH only, QRESYNC enabled, with CHANGEDSINCE).
func (c *conn) parseFetchModifiers(v proto.Value, uid bool) (*uint64, bool, error) {
	if v.Kind != proto.List || len(v.List) == 0 {
		return nil, false, syntax("Unknown FETCH modifier")
	}
	var since *uint64
	vanished := false
	for i := 0; i < len(v.List); i++ {
		switch m := v.List[i]; {
		case m.IsAtom("CHANGEDSINCE") && since == nil && i+1 < len(v.List):
			i++
			n, ok := v.List[i].Number64()
			if !ok {
				return nil, false, syntax("CHANGEDSINCE takes a mod-sequence")
			}
			since = &n
		case m.IsAtom("VANISHED") && !vanished:
			vanished = true
		default:
			return nil, false, syntax("Unknown FETCH modifier")
		}
	}
	if vanished && (!uid || !c.qresync || since == nil) {
		return nil, false, syntax("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC")
	}
	return since, vanished, nil
}

// changedOnly narrows a FETCH's UIDs to those changed after since, read
// from the mod-sequence index, and with vanished first writes VANISHED
// (EARLIER) for the UIDs of the set expunged since.
func (c *conn) changedOnly(setArg proto.Value, uids []store.UID, since uint64, vanished bool) ([]store.UID, error) {
	v := c.sel
	ch, err := c.srv.opts.Store.ChangedSince(c.ctx, v.id, since)
	if err != nil {
		return nil, err
	}
	if vanished {
		set, err := proto.ParseNumSet(string(setArg.Bytes))
		if err != nil {
			set = nil // "$": the saved result holds no expunged UIDs
		}
		if set != nil {
			top := uint32(0)
			if n := len(v.uids); n > 0 {
				top = uint32(v.uids[n-1])
			}
			if m, err := c.srv.opts.Store.Mailbox(c.ctx, v.id); err == nil {
				top = max(top, uint32(m.UIDNext-1))
			}
			c.writeVanishedEarlier(v, ch, set, top)
		}
	}
	out := uids[:0:0]
	for _, u := range uids {
		if _, found := slices.BinarySearch(ch.Changed, u); found {
			out = append(out, u)
		}
	}
	return out, nil
}
