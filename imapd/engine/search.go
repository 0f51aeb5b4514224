package engine

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailroom/acl"
	"mailroom/fts"
	"mailroom/imapd/part"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// maxSearchDepth bounds how deeply NOT and OR may nest in one SEARCH
// (the decoder already bounds parenthesised lists).
const maxSearchDepth = 64

// key is one parsed SEARCH key (RFC 9051 §6.4.4).
type key struct {
	op    string // the key's name: ALL, SEEN, FROM, OR, NOT, AND (a list), SET, UID, …
	str   string // string argument, lower case for matching
	str2  string // HEADER's value
	num   int64
	date  time.Time
	set   []store.UID // SET (sequence numbers resolved to UIDs) and UID
	sub   []*key      // AND, OR (2), NOT (1)
	flags store.SysFlags
}

// searchArgs are a SEARCH command's parsed arguments.
type searchArgs struct {
	root   *key
	modseq bool // a MODSEQ key was used
	// RETURN options (ESEARCH, RFC 4731; SEARCHRES, RFC 5182); nil: a
	// plain SEARCH response.
	ret     []string
	update  bool          // RETURN (UPDATE): keep a search context (RFC 5267)
	partial *partialRange // RETURN (PARTIAL a:b)
}

// parseSearch reads [RETURN (…)] [CHARSET name] keys.
func (c *conn) parseSearch(args []proto.Value, uid bool) (*searchArgs, error) {
	sa := &searchArgs{}
	if len(args) > 0 && args[0].IsAtom("RETURN") {
		if len(args) < 2 || args[1].Kind != proto.List {
			return nil, syntax("RETURN needs a list of options")
		}
		ro, err := parseReturn(args[1].List, true)
		if err != nil {
			return nil, err
		}
		sa.ret, sa.update, sa.partial = ro.ret, ro.update, ro.partial
		args = args[2:]
	}
	if len(args) > 0 && args[0].IsAtom("CHARSET") {
		if len(args) < 2 {
			return nil, syntax("CHARSET needs a name")
		}
		cs, _ := args[1].AString()
		switch strings.ToUpper(cs) {
		case "UTF-8", "US-ASCII":
		default:
			return nil, no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
		}
		args = args[2:]
	}
	if len(args) == 0 {
		return nil, syntax("SEARCH needs at least one key")
	}
	p := &searchParser{c: c, args: args, uid: uid}
	root := &key{op: "AND"}
	for p.i < len(p.args) {
		k, err := p.key(0)
		if err != nil {
			return nil, err
		}
		root.sub = append(root.sub, k)
	}
	sa.root = root
	sa.modseq = p.modseq
	return sa, nil
}

type searchParser struct {
	c      *conn
	args   []proto.Value
	i      int
	uid    bool
	modseq bool // a MODSEQ key was used (the response gives the highest)
}

func (p *searchParser) next() (proto.Value, bool) {
	if p.i >= len(p.args) {
		return proto.Value{}, false
	}
	p.i++
	return p.args[p.i-1], true
}

func (p *searchParser) str() (string, error) {
	v, ok := p.next()
	if !ok {
		return "", syntax("SEARCH key needs an argument")
	}
	s, ok := v.AString()
	if !ok {
		return "", syntax("SEARCH key needs a string")
	}
	return s, nil
}

func (p *searchParser) date() (time.Time, error) {
	s, err := p.str()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("2-Jan-2006", s)
	if err != nil {
		return time.Time{}, syntax("Invalid date " + strconv.Quote(s))
	}
	return t, nil
}

// flagKey maps the SEARCH keys that test a system flag to the flag and
// whether it must be set.
func flagKey(name string) (flag store.SysFlags, set, ok bool) {
	switch name {
	case "ANSWERED", "UNANSWERED":
		flag = store.FlagAnswered
	case "DELETED", "UNDELETED":
		flag = store.FlagDeleted
	case "DRAFT", "UNDRAFT":
		flag = store.FlagDraft
	case "FLAGGED", "UNFLAGGED":
		flag = store.FlagFlagged
	case "SEEN", "UNSEEN":
		flag = store.FlagSeen
	default:
		return 0, false, false
	}
	return flag, !strings.HasPrefix(name, "UN"), true
}

func (p *searchParser) key(depth int) (*key, error) {
	if depth > maxSearchDepth {
		return nil, bad("LIMIT", "SEARCH nested too deeply")
	}
	v, ok := p.next()
	if !ok {
		return nil, syntax("SEARCH key missing")
	}
	if v.Kind == proto.List {
		if len(v.List) == 0 {
			return nil, syntax("Empty SEARCH list")
		}
		sub := &searchParser{c: p.c, args: v.List, uid: p.uid}
		defer func() { p.modseq = p.modseq || sub.modseq }()
		k := &key{op: "AND"}
		for sub.i < len(sub.args) {
			sk, err := sub.key(depth + 1)
			if err != nil {
				return nil, err
			}
			k.sub = append(k.sub, sk)
		}
		return k, nil
	}
	if v.Kind != proto.Atom {
		return nil, syntax("Invalid SEARCH key")
	}
	name := v.Upper()
	if flag, set, ok := flagKey(name); ok {
		k := &key{op: "FLAG", flags: flag}
		if !set {
			k = &key{op: "NOT", sub: []*key{k}}
		}
		return k, nil
	}
	switch name {
	case "ALL":
		return &key{op: "ALL"}, nil
	case "NEW", "OLD", "RECENT":
		return &key{op: name}, nil
	case "EMAILID", "THREADID":
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &key{op: name, str: s}, nil
	case "KEYWORD", "UNKEYWORD":
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		k := &key{op: "KEYWORD", str: s}
		if name == "UNKEYWORD" {
			k = &key{op: "NOT", sub: []*key{k}}
		}
		return k, nil
	case "BCC", "CC", "FROM", "TO", "SUBJECT", "BODY", "TEXT":
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &key{op: name, str: strings.ToLower(s)}, nil
	case "HEADER":
		f, err := p.str()
		if err != nil {
			return nil, err
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &key{op: "HEADER", str: f, str2: strings.ToLower(s)}, nil
	case "SAVEDATESUPPORTED":
		return &key{op: "ALL"}, nil // every mailbox keeps save dates (RFC 8514)
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		d, err := p.date()
		if err != nil {
			return nil, err
		}
		return &key{op: name, date: d}, nil
	case "OLDER", "YOUNGER":
		// WITHIN (RFC 5032): an interval in seconds back from now.
		nv, ok := p.next()
		n, ok2 := nv.Number64()
		if !ok || !ok2 || n == 0 || n > math.MaxInt64/uint64(time.Second) {
			return nil, syntax(name + " needs a number of seconds")
		}
		return &key{op: name, date: time.Now().Add(-time.Duration(n) * time.Second)}, nil
	case "LARGER", "SMALLER":
		nv, ok := p.next()
		n, ok2 := nv.Number64()
		if !ok || !ok2 {
			return nil, syntax(name + " needs a number")
		}
		return &key{op: name, num: int64(n)}, nil
	case "NOT":
		sub, err := p.key(depth + 1)
		if err != nil {
			return nil, err
		}
		return &key{op: "NOT", sub: []*key{sub}}, nil
	case "OR":
		a, err := p.key(depth + 1)
		if err != nil {
			return nil, err
		}
		b, err := p.key(depth + 1)
		if err != nil {
			return nil, err
		}
		return &key{op: "OR", sub: []*key{a, b}}, nil
	case "MODSEQ":
		// RFC 7162 §3.1.5: MODSEQ [entry-name entry-type] mod-sequence;
		// flags share one mod-sequence here, so the entry is not used.
		v, ok := p.next()
		if ok && v.Kind != proto.Atom {
			if t, ok2 := p.next(); !ok2 || t.Kind != proto.Atom {
				return nil, syntax("MODSEQ entry needs a type (priv, shared, all)")
			}
			v, ok = p.next()
		}
		n, ok2 := v.Number64()
		if !ok || !ok2 {
			return nil, syntax("MODSEQ needs a mod-sequence")
		}
		p.modseq = true
		return &key{op: "MODSEQ", num: int64(n)}, nil
	case "UID":
		sv, ok := p.next()
		if !ok {
			return nil, syntax("UID needs a set")
		}
		set, err := p.c.setArg(sv, true)
		if err != nil {
			return nil, err
		}
		return &key{op: "SET", set: set}, nil
	}
	// A sequence set (or $).
	if p.c.uidOnly && string(v.Bytes) != "$" && v.Kind == proto.Atom && len(v.Bytes) > 0 && (v.Bytes[0] == '*' || v.Bytes[0] >= '0' && v.Bytes[0] <= '9') {
		return nil, errUIDRequired("A SEARCH key")
	}
	set, err := p.c.setArg(v, false)
	if err != nil {
		return nil, syntax("Unknown SEARCH key " + strconv.Quote(string(v.Bytes)))
	}
	return &key{op: "SET", set: set}, nil
}

// needsContent reports whether matching k reads message content.
func (k *key) needsContent() bool {
	switch {
	case k.op == "BODY", k.op == "TEXT", k.op == "HEADER" && !part.SummaryField(k.str):
		return true
	}
	for _, s := range k.sub {
		if s.needsContent() {
			return true
		}
	}
	return false
}

// needsHeader reports whether matching k reads header fields the
// summary holds (and no content beyond them).
func (k *key) needsHeader() bool {
	switch k.op {
	case "BCC", "CC", "FROM", "TO", "SUBJECT", "HEADER", "SENTBEFORE", "SENTON", "SENTSINCE":
		return true
	}
	for _, s := range k.sub {
		if s.needsHeader() {
			return true
		}
	}
	return false
}

func cmdSearch(c *conn, cmd *proto.Command) error    { return c.search(cmd, false) }
func cmdUIDSearch(c *conn, cmd *proto.Command) error { return c.search(cmd, true) }

// search is SEARCH and UID SEARCH, with ESEARCH's RETURN and SEARCHRES.
func (c *conn) search(cmd *proto.Command, uid bool) error {
	sa, err := c.parseSearch(cmd.Args, uid)
	if err != nil {
		return err
	}
	if sa.modseq {
		if err := c.enableCondstore(); err != nil {
			return err
		}
	}
	v := c.sel
	var hits []store.UID
	var maxModSeq uint64
	var modseqs []uint64 // of each hit, for ESEARCH's MODSEQ
	if !sa.modseq && flagOnly(sa.root) {
		hits, err = c.searchByFlags(sa.root)
	} else {
		err = c.eachMatch(sa, false, c.sel.uids, func(m *store.Message, _ *candidate) {
			hits = append(hits, m.UID)
			modseqs = append(modseqs, m.ModSeq)
			maxModSeq = max(maxModSeq, m.ModSeq)
		})
	}
	if err != nil {
		return err
	}
	num := func(u store.UID) uint64 {
		if uid {
			return uint64(u)
		}
		return uint64(v.seq(u))
	}
	if sa.ret == nil && c.rev2 {
		sa.ret = []string{"ALL"} // RFC 9051 §6.4.4: ESEARCH in IMAP4rev2
	}
	if sa.ret == nil {
		c.enc.Raw("* SEARCH")
		for _, h := range hits {
			c.enc.SP().Number(num(h))
		}
		if sa.modseq && len(hits) > 0 {
			c.enc.Raw(" (MODSEQ ").Number(maxModSeq).Raw(")")
		}
		c.enc.CRLF()
		return nil
	}
	if slices.Contains(sa.ret, "SAVE") {
		c.searchRes = hits
		if len(sa.ret) == 1 && sa.partial == nil && !sa.update {
			return nil
		}
	}
	c.enc.Raw(`* ESEARCH (TAG "`).Raw(cmd.Tag).Raw(`")`)
	if uid {
		c.enc.Raw(" UID")
	}
	for _, o := range sa.ret {
		switch {
		case o == "MIN" && len(hits) > 0:
			c.enc.Raw(" MIN ").Number(num(hits[0]))
		case o == "MAX" && len(hits) > 0:
			c.enc.Raw(" MAX ").Number(num(hits[len(hits)-1]))
		case o == "COUNT":
			c.enc.Raw(" COUNT ").Number(uint64(len(hits)))
		case o == "ALL" && len(hits) > 0:
			nums := make([]uint32, len(hits))
			for i, h := range hits {
				nums[i] = uint32(num(h))
			}
			c.enc.Raw(" ALL ").Raw(compactSet(nums))
		}
	}
	if sa.partial != nil {
		nums := make([]uint32, len(hits))
		for i, h := range hits {
			nums[i] = uint32(num(h))
		}
		c.writePartial(sa.partial, nums)
	}
	if sa.modseq && len(hits) > 0 {
		// RFC 4731 §3.2 with RFC 7162: the highest mod-sequence of the
		// messages the response reports (only MIN and MAX's when those
		// are all it reports).
		ms := maxModSeq
		if !slices.Contains(sa.ret, "ALL") && !slices.Contains(sa.ret, "COUNT") {
			ms = 0
			if slices.Contains(sa.ret, "MIN") {
				ms = modseqs[0]
			}
			if slices.Contains(sa.ret, "MAX") {
				ms = max(ms, modseqs[len(modseqs)-1])
			}
		}
		if ms > 0 {
			c.enc.Raw(" MODSEQ ").Number(ms)
		}
	}
	c.enc.CRLF()
	if sa.update && !c.addContext(&searchContext{tag: cmd.Tag, uid: uid, sa: sa, result: hits}) {
		return ok("NOUPDATE "+strconv.Quote(cmd.Tag), "SEARCH completed; too many searches kept up to date")
	}
	return nil
}

// flagOnly reports whether k is answered by the store's flag sets: ALL,
// \Seen and \Deleted and their negations, together.
func flagOnly(k *key) bool {
	switch k.op {
	case "ALL":
		return true
	case "FLAG":
		return k.flags == store.FlagSeen || k.flags == store.FlagDeleted
	case "NOT":
		return k.sub[0].op == "FLAG" && flagOnly(k.sub[0])
	case "AND":
		for _, s := range k.sub {
			if !flagOnly(s) {
				return false
			}
		}
		return true
	}
	return false
}

// searchByFlags answers a flagOnly search from the flag sets, without
// reading a record: the messages of the view the store still has, in or
// out of each set.
func (c *conn) searchByFlags(k *key) ([]store.UID, error) {
	fs, err := c.flagState(c.sel)
	if err != nil {
		return nil, err
	}
	in := func(set []store.UID, u store.UID) bool { _, f := slices.BinarySearch(set, u); return f }
	var test func(k *key, u store.UID) bool
	test = func(k *key, u store.UID) bool {
		switch k.op {
		case "FLAG":
			if k.flags == store.FlagSeen {
				return !in(fs.Unseen, u)
			}
			return in(fs.Deleted, u)
		case "NOT":
			return !test(k.sub[0], u)
		case "AND":
			for _, s := range k.sub {
				if !test(s, u) {
					return false
				}
			}
		}
		return true // ALL
	}
	var hits []store.UID
	for _, u := range c.sel.uids {
		if in(fs.UIDs, u) && test(k, u) {
			hits = append(hits, u)
		}
	}
	return hits, nil
}

// matchUIDs returns those of uids (ascending, in the view) that match sa.
func (c *conn) matchUIDs(sa *searchArgs, uids []store.UID) ([]store.UID, error) {
	var out []store.UID
	err := c.eachMatch(sa, false, uids, func(m *store.Message, _ *candidate) { out = append(out, m.UID) })
	return out, err
}

// eachMatch calls fn for each message of the selected mailbox that
// matches sa, in mailbox order, after checking the user may read it
// (SEARCH, SORT, THREAD). header asks for the content even when the
// search keys do not need it; fn may read it through the candidate.
func (c *conn) eachMatch(sa *searchArgs, header bool, uids []store.UID, fn func(*store.Message, *candidate)) error {
	p, err := c.selectedPlace()
	if err != nil {
		return err
	}
	if err := need(p, acl.RightRead, "read messages"); err != nil {
		return err
	}
	uids = c.indexed(sa.root, uids)
	each := func(m *store.Message, b []byte) error {
		if h := c.srv.opts.OnSearchMessage; h != nil {
			h(c.ctx)
		}
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if cand := (&candidate{c: c, m: m, content: b}); cand.match(sa.root) {
			fn(m, cand)
		}
		return nil
	}
	switch {
	case sa.root.needsContent():
		return c.recordsWithContent(uids, each)
	case header || sa.root.needsHeader():
		return c.recordsWithSummaries(uids, func(m *store.Message, mh *msgHeader) error {
			if hook := c.srv.opts.OnSearchMessage; hook != nil {
				hook(c.ctx)
			}
			if err := c.ctx.Err(); err != nil {
				return err
			}
			if cand := (&candidate{c: c, m: m, mh: mh}); cand.match(sa.root) {
				fn(m, cand)
			}
			return nil
		})
	}
	return c.records(uids, func(m *store.Message) error { return each(m, nil) })
}

// indexed narrows the messages a search reads through the full-text
// index, when the keys are ANDed and one is BODY or TEXT with words: the
// messages the index has that may hold them, plus every message above
// its watermark (not indexed yet). Each is still matched in full, so the
// index never adds a wrong result; a string found only inside a longer
// word is missed, as with Dovecot's full-text search.
func (c *conn) indexed(root *key, uids []store.UID) []store.UID {
	ix := c.srv.opts.Search
	if ix == nil || root.op != "AND" || len(uids) == 0 {
		return uids
	}
	var words []string
	for _, k := range root.sub {
		if k.op == "BODY" || k.op == "TEXT" {
			words = append(words, fts.Words(k.str)...)
		}
	}
	if len(words) == 0 {
		return uids
	}
	cand, watermark, ok, err := ix.Candidates(c.ctx, c.sel.id, words)
	if err != nil {
		c.log.Warn("full-text index", "err", err)
	}
	if watermark < uids[len(uids)-1] {
		ix.Touch(c.sel.id)
	}
	if err != nil || !ok {
		return uids
	}
	slices.Sort(cand)
	out := make([]store.UID, 0, len(cand))
	for _, u := range uids {
		if _, found := slices.BinarySearch(cand, u); found || u > watermark {
			out = append(out, u)
		}
	}
	return out
}

// searchOnly parses the charset and search keys of SORT and THREAD, which
// take no RETURN.
func (c *conn) searchOnly(args []proto.Value, uid bool, what string) (*searchArgs, error) {
	sa, err := c.parseSearch(append([]proto.Value{{Kind: proto.Atom, Bytes: []byte("CHARSET")}}, args...), uid)
	if err == nil && sa.ret != nil {
		err = syntax("RETURN is not supported with " + what)
	}
	return sa, err
}

// compactSet writes ascending numbers as a sequence set with ranges.
func compactSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// candidate is one message being matched; what it derives from the
// content (header, decoded text) is computed once.
type candidate struct {
	c       *conn
	m       *store.Message
	content []byte
	root    *part.Part
	text    string // lower-cased decoded body text, once computed
	hasText bool
	mh      *msgHeader // the summary fields, when the content is not read
}

func (cd *candidate) tree() *part.Part {
	if cd.root == nil {
		cd.root = part.Parse(cd.content)
	}
	return cd.root
}

// header is the message's header: its summary fields when only those
// were read.
func (cd *candidate) header() part.Header {
	if cd.mh != nil {
		return cd.mh.Header()
	}
	return cd.tree().Header
}

// get returns the message's first header field named name, unfolded.
func (cd *candidate) get(name string) (string, bool) {
	if cd.mh != nil {
		return cd.mh.Get(name)
	}
	return cd.tree().Header.Get(name)
}

func (cd *candidate) match(k *key) bool {
	m := cd.m
	switch k.op {
	case "ALL":
		return true
	case "AND":
		for _, s := range k.sub {
			if !cd.match(s) {
				return false
			}
		}
		return true
	case "OR":
		return cd.match(k.sub[0]) || cd.match(k.sub[1])
	case "NOT":
		return !cd.match(k.sub[0])
	case "FLAG":
		return m.Flags.Sys&k.flags != 0
	case "KEYWORD":
		return m.Flags.Has(k.str)
	case "RECENT":
		return cd.c.sel.recent[m.UID]
	case "NEW":
		return cd.c.sel.recent[m.UID] && m.Flags.Sys&store.FlagSeen == 0
	case "OLD":
		return !cd.c.sel.recent[m.UID]
	case "SET":
		_, found := slices.BinarySearch(k.set, m.UID)
		return found
	case "MODSEQ":
		return m.ModSeq >= uint64(k.num)
	case "EMAILID":
		return emailID(m) == k.str
	case "THREADID":
		return false // no threads are tracked
	case "LARGER":
		return m.Size > k.num
	case "SMALLER":
		return m.Size < k.num
	case "BEFORE", "ON", "SINCE":
		return compareDate(k.op, dateOnly(m.InternalDate), k.date)
	case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		return compareDate(strings.TrimPrefix(k.op, "SAVED"), dateOnly(saveDate(m)), k.date)
	case "OLDER":
		return m.InternalDate.Before(k.date)
	case "YOUNGER":
		return !m.InternalDate.Before(k.date)
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		v, ok := cd.get("Date")
		if !ok {
			return false
		}
		t, ok := part.ParseDate(v)
		if !ok {
			return false
		}
		return compareDate(strings.TrimPrefix(k.op, "SENT"), dateOnly(t), k.date)
	case "SUBJECT":
		return cd.headerContains("Subject", k.str)
	case "HEADER":
		if k.str2 == "" {
			_, ok := cd.get(k.str)
			return ok
		}
		return cd.headerContains(k.str, k.str2)
	case "FROM", "TO", "CC", "BCC":
		return cd.addressContains(k.op, k.str)
	case "BODY":
		return strings.Contains(cd.bodyText(), k.str)
	case "TEXT":
		return cd.headerText(k.str) || strings.Contains(cd.bodyText(), k.str)
	}
	return false
}

func dateOnly(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func compareDate(op string, t, d time.Time) bool {
	switch op {
	case "BEFORE":
		return t.Before(d)
	case "ON":
		return t.Equal(d)
	}
	return !t.Before(d) // SINCE
}

// decodeWords decodes RFC 2047 encoded words; on failure the raw text.
func decodeWords(s string) string { return part.DecodeWords(s) }

// headerContains matches every field named name, raw and decoded.
func (cd *candidate) headerContains(name, want string) bool {
	for _, f := range cd.header() {
		if !strings.EqualFold(f.Name, name) {
			continue
		}
		v := part.Unfold(f.Value)
		if strings.Contains(strings.ToLower(v), want) || strings.Contains(strings.ToLower(decodeWords(v)), want) {
			return true
		}
	}
	return false
}

// addressContains matches an address field raw, decoded, and as its
// parsed addresses ("Name <mailbox@host>"), so comments and odd spacing
// inside an address do not hide it.
func (cd *candidate) addressContains(name, want string) bool {
	if cd.headerContains(name, want) {
		return true
	}
	v, ok := cd.get(name)
	if !ok {
		return false
	}
	for _, a := range part.ParseAddressList(v) {
		if a.Group {
			continue
		}
		s := strings.ToLower(decodeWords(a.Name) + " <" + a.Mailbox + "@" + a.Host + ">")
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

func (cd *candidate) headerText(want string) bool {
	root := cd.tree()
	h := strings.ToLower(decodeWords(string(cd.content[root.Start:root.BodyStart])))
	return strings.Contains(h, want)
}

// bodyText is the message's text for BODY and TEXT: every text part with
// its transfer encoding removed and its charset converted to UTF-8, lower
// case. Computed once per message; matching it is linear in its size
// (hardening issue, point 9).
func (cd *candidate) bodyText() string {
	if cd.hasText {
		return cd.text
	}
	cd.hasText = true
	cd.text = strings.ToLower(string(part.BodyText(cd.content, cd.tree())))
	return cd.text
}
