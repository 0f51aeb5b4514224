package engine

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailroom/imapd/part"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// SORT (RFC 5256) with SORT=DISPLAY (RFC 5957). Keys come from the
// header fields as stored; strings compare with i;ascii-casemap; ties
// keep mailbox order.

// sortCriterion is one sort key, possibly reversed.
type sortCriterion struct {
	key     string // ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO
	reverse bool
}

// sortItem is one message with the values it sorts by.
type sortItem struct {
	uid     store.UID
	arrival time.Time
	date    time.Time
	size    int64
	strs    []string // each criterion's string key, by position
}

func cmdSort(c *conn, cmd *proto.Command) error    { return c.sort(cmd, false) }
func cmdUIDSort(c *conn, cmd *proto.Command) error { return c.sort(cmd, true) }

// sort is SORT and UID SORT: SORT (criteria) charset search-keys.
func (c *conn) sort(cmd *proto.Command, uid bool) error {
	// ESORT (RFC 5267): SORT RETURN (options) (criteria) ...
	var ro *returnOptions
	if len(cmd.Args) > 0 && cmd.Args[0].IsAtom("RETURN") {
		if len(cmd.Args) < 2 || cmd.Args[1].Kind != proto.List {
			return syntax("RETURN needs a list of options")
		}
		var err error
		if ro, err = parseReturn(cmd.Args[1].List, false); err != nil {
			return err
		}
		cmd.Args = cmd.Args[2:]
	}
	if len(cmd.Args) < 3 || cmd.Args[0].Kind != proto.List || len(cmd.Args[0].List) == 0 {
		return syntax("SORT takes (criteria), a charset and search keys")
	}
	var crit []sortCriterion
	reverse := false
	for _, v := range cmd.Args[0].List {
		switch k := v.Upper(); k {
		case "REVERSE":
			reverse = true
			continue
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
			crit = append(crit, sortCriterion{key: k, reverse: reverse})
			reverse = false
		default:
			return syntax("Unknown sort criterion " + string(v.Bytes))
		}
	}
	if reverse || len(crit) == 0 {
		return syntax("REVERSE must precede a sort criterion")
	}
	sa, err := c.searchOnly(cmd.Args[1:], uid, "SORT")
	if err != nil {
		return err
	}
	uids, err := c.sortedUIDs(sa, crit)
	if err != nil {
		return err
	}
	nums := make([]uint32, len(uids))
	for i, u := range uids {
		nums[i] = c.num(uid, u)
	}
	if ro != nil {
		// MIN and MAX are the first and last in sort order; ALL keeps it.
		c.enc.Raw(`* ESEARCH (TAG "`).Raw(cmd.Tag).Raw(`")`)
		if uid {
			c.enc.Raw(" UID")
		}
		for _, o := range ro.ret {
			switch {
			case o == "MIN" && len(nums) > 0:
				c.enc.Raw(" MIN ").Number(uint64(nums[0]))
			case o == "MAX" && len(nums) > 0:
				c.enc.Raw(" MAX ").Number(uint64(nums[len(nums)-1]))
			case o == "COUNT":
				c.enc.Raw(" COUNT ").Number(uint64(len(nums)))
			case o == "ALL" && len(nums) > 0:
				c.enc.Raw(" ALL ").Raw(compactSet(nums))
			}
		}
		if ro.partial != nil {
			c.writePartial(ro.partial, nums)
		}
		c.enc.CRLF()
		if ro.update && !c.addContext(&searchContext{tag: cmd.Tag, uid: uid, sa: sa, sort: crit, result: uids}) {
			return ok("NOUPDATE "+strconv.Quote(cmd.Tag), "SORT completed; too many searches kept up to date")
		}
		return nil
	}
	c.enc.Raw("* SORT")
	for _, n := range nums {
		c.enc.SP().Number(uint64(n))
	}
	c.enc.CRLF()
	return nil
}

// sortedUIDs returns the UIDs of the messages matching sa in the order
// crit gives, ties in mailbox order.
func (c *conn) sortedUIDs(sa *searchArgs, crit []sortCriterion) ([]store.UID, error) {
	if len(crit) == 1 && crit[0].key == "DATE" && flagOnly(sa.root) && !sa.modseq {
		return c.sortByDate(sa, crit[0].reverse)
	}
	needHeader := slices.ContainsFunc(crit, func(k sortCriterion) bool { return k.key != "ARRIVAL" && k.key != "SIZE" })
	needDate := slices.ContainsFunc(crit, func(k sortCriterion) bool { return k.key == "DATE" })
	needStrings := slices.ContainsFunc(crit, func(k sortCriterion) bool { return k.key != "ARRIVAL" && k.key != "SIZE" && k.key != "DATE" })
	items := make([]sortItem, 0, len(c.sel.uids))
	err := c.eachMatch(sa, needHeader, c.sel.uids, func(m *store.Message, cand *candidate) {
		it := sortItem{uid: m.UID, arrival: m.InternalDate, size: m.Size, date: m.InternalDate}
		if needStrings {
			it.strs = sortStrings(cand.get, crit)
		}
		if needDate {
			if d, ok := cand.get("Date"); ok {
				if t, ok := part.ParseDate(d); ok {
					it.date = t
				}
			}
		}
		items = append(items, it)
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(items, func(a, b sortItem) int {
		for i, k := range crit {
			var r int
			switch k.key {
			case "ARRIVAL":
				r = a.arrival.Compare(b.arrival)
			case "DATE":
				r = a.date.Compare(b.date)
			case "SIZE":
				r = cmp.Compare(a.size, b.size)
			default:
				r = strings.Compare(a.strs[i], b.strs[i])
			}
			if k.reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmp.Compare(a.uid, b.uid)
	})
	uids := make([]store.UID, len(items))
	for i, it := range items {
		uids[i] = it.uid
	}
	return uids, nil
}

// sortStrings computes the string keys the criteria need, in upper case
// (i;ascii-casemap), by the criteria's positions.
func sortStrings(get func(string) (string, bool), crit []sortCriterion) []string {
	out := make([]string, len(crit))
	first := func(field string) (part.Address, bool) {
		v, ok := get(field)
		if !ok {
			return part.Address{}, false
		}
		// The first element, a group's name included (as other servers
		// sort "undisclosed: ;").
		for _, a := range part.ParseAddressList(v) {
			if !a.Group || a.Mailbox != "" {
				return a, true
			}
		}
		return part.Address{}, false
	}
	for i, k := range crit {
		switch k.key {
		case "FROM", "TO", "CC":
			if a, ok := first(k.key); ok && a.Mailbox != part.MissingMailbox {
				out[i] = strings.ToUpper(a.Mailbox)
			}
		case "DISPLAYFROM", "DISPLAYTO":
			// RFC 5957: the display name, decoded, else the address.
			if a, ok := first(strings.TrimPrefix(k.key, "DISPLAY")); ok {
				name := strings.TrimSpace(decodeWords(a.Name))
				switch {
				case name != "":
				case a.Group, a.Host == part.MissingDomain:
					name = a.Mailbox
				default:
					name = a.Mailbox + "@" + a.Host
				}
				out[i] = strings.ToUpper(name)
			}
		case "SUBJECT":
			s, _ := get("Subject")
			out[i] = strings.ToUpper(baseSubject(s))
		}
	}
	return out
}

// baseSubject extracts the base subject (RFC 5256 §2.1): encoded words
// decoded, white space folded, and the reply and forward markers
// ("Re:", "Fwd:", "[list]" blobs, "(fwd)" trailers, "[fwd: …]") removed.
func baseSubject(s string) string {
	s = strings.Join(strings.Fields(decodeWords(s)), " ")
	for {
		// (2) trailers: "(fwd)" and white space.
		for {
			t := strings.TrimRight(s, " ")
			if l := len(t); l >= 5 && strings.EqualFold(t[l-5:], "(fwd)") {
				t = t[:l-5]
			}
			if t == s {
				break
			}
			s = t
		}
		// (3)-(5) leaders: "re:", "fw:", "fwd:" with optional blobs, and
		// a leading blob when something is left after it.
		for {
			t := strings.TrimLeft(s, " ")
			t = stripRefwd(t)
			if _, rest, ok := cutBlob(t); ok && strings.TrimSpace(rest) != "" {
				t = rest
			}
			if t == s {
				break
			}
			s = t
		}
		// (6) "[fwd: …]".
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			continue
		}
		return strings.TrimSpace(s)
	}
}

// stripRefwd removes one subj-refwd with its leading blobs: *subj-blob
// ("re" / "fw" / "fwd") *WSP [subj-blob] ":" — or returns s unchanged.
func stripRefwd(s string) string {
	t := s
	for {
		_, rest, ok := cutBlob(t)
		if !ok {
			break
		}
		t = rest
	}
	lower := strings.ToLower(t)
	var n int
	switch {
	case strings.HasPrefix(lower, "re"):
		n = 2
	case strings.HasPrefix(lower, "fwd"):
		n = 3
	case strings.HasPrefix(lower, "fw"):
		n = 2
	default:
		return s
	}
	t = strings.TrimLeft(t[n:], " ")
	if _, rest, ok := cutBlob(t); ok {
		t = rest
	}
	if !strings.HasPrefix(t, ":") {
		return s
	}
	return t[1:]
}

// cutBlob removes a leading subj-blob: "[" *BLOBCHAR "]" *WSP, where
// BLOBCHAR is any character but "[" and "]".
func cutBlob(s string) (blob, rest string, ok bool) {
	if !strings.HasPrefix(s, "[") {
		return "", s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return "", s, false
	}
	return s[:end+2], strings.TrimLeft(s[end+2:], " "), true
}

// sortByDate is SORT (DATE) of a search the flag sets answer (ALL, \Seen,
// \Deleted): dates come from the mailbox's date cache, and only messages
// it lacks are read (their summaries), so sorting a large mailbox by date
// again reads nothing.
func (c *conn) sortByDate(sa *searchArgs, reverse bool) ([]store.UID, error) {
	uids := c.sel.uids
	if sa.root.op != "ALL" && !(sa.root.op == "AND" && len(sa.root.sub) == 1 && sa.root.sub[0].op == "ALL") {
		var err error
		if uids, err = c.searchByFlags(sa.root); err != nil {
			return nil, err
		}
	} else {
		// Only what the store still has: an expunge not yet told to this
		// session leaves its UID in the view.
		fs, err := c.srv.opts.Store.FlagState(c.ctx, c.sel.id)
		if err != nil {
			return nil, err
		}
		uids = slices.DeleteFunc(slices.Clone(uids), func(u store.UID) bool { _, f := slices.BinarySearch(fs.UIDs, u); return !f })
	}
	sh := c.sel.sh
	dates, missing := sh.cachedDates(uids)
	if len(missing) > 0 {
		var fresh []uidDate
		err := c.recordsWithSummaries(missing, func(m *store.Message, mh *msgHeader) error {
			d := m.InternalDate
			if v, ok := mh.Get("Date"); ok {
				if t, ok := part.ParseDate(v); ok {
					d = t
				}
			}
			dates[m.UID] = d.Unix()
			fresh = append(fresh, uidDate{m.UID, d.Unix()})
			return nil
		})
		if err != nil {
			return nil, err
		}
		sh.cacheDates(fresh)
	}
	out := make([]store.UID, 0, len(uids))
	for _, u := range uids {
		if _, ok := dates[u]; ok {
			out = append(out, u)
		}
	}
	slices.SortStableFunc(out, func(a, b store.UID) int {
		r := cmp.Compare(dates[a], dates[b])
		if reverse {
			r = -r
		}
		if r != 0 {
			return r
		}
		return cmp.Compare(a, b)
	})
	return out, nil
}
