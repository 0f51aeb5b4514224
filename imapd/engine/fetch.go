package engine

import (
	"bytes"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"mailroom/acl"
	"mailroom/imapd/part"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// fetchItem is one FETCH data item (RFC 9051 §6.4.5).
type fetchItem struct {
	name    string // FLAGS, UID, ENVELOPE, BODY, BODYSTRUCTURE, INTERNALDATE, RFC822.SIZE, BODY[], BINARY[], BINARY.SIZE[], RFC822, RFC822.HEADER, RFC822.TEXT
	section part.Section
	peek    bool
	partial bool
	start   int64
	length  int64  // -1: to the end
	echo    string // how the item is named in the response, e.g. BODY[HEADER.FIELDS (To)]<0>
}

// needs reports what an item needs read: the record only, or content.
func (it fetchItem) content() bool {
	switch it.name {
	case "FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "MODSEQ":
		return false
	}
	return true
}

// headerOnly reports whether the item needs no more of the content than
// the message's header (top-level HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT,
// RFC822.HEADER).
func (it fetchItem) headerOnly() bool {
	if it.name != "RFC822.HEADER" && it.name != "BODY[]" || len(it.section.Path) > 0 {
		return false
	}
	switch it.section.Spec {
	case "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		return true
	}
	return false
}

// parseFetchItems reads FETCH's item list or macro.
func parseFetchItems(v proto.Value) ([]fetchItem, error) {
	var vals []proto.Value
	switch {
	case v.Kind == proto.List:
		vals = v.List
	case v.Kind == proto.Atom:
		switch v.Upper() {
		case "ALL":
			return macro("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"), nil
		case "FAST":
			return macro("FLAGS", "INTERNALDATE", "RFC822.SIZE"), nil
		case "FULL":
			return macro("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"), nil
		}
		vals = []proto.Value{v}
	default:
		return nil, syntax("Invalid FETCH items")
	}
	if len(vals) == 0 {
		return nil, syntax("FETCH needs at least one item")
	}
	var items []fetchItem
	for i := 0; i < len(vals); i++ {
		iv := vals[i]
		if iv.Kind != proto.Atom {
			return nil, syntax("Invalid FETCH item")
		}
		it, err := parseFetchItem(string(iv.Bytes))
		if err != nil {
			return nil, err
		}
		if it.name == "PREVIEW" && i+1 < len(vals) && vals[i+1].Kind == proto.List {
			// RFC 8970's modifiers: LAZY only, and the preview is
			// always at hand, so it changes nothing.
			i++
			for _, m := range vals[i].List {
				if !m.IsAtom("LAZY") {
					return nil, syntax("Unknown PREVIEW modifier")
				}
			}
		}
		items = append(items, it)
	}
	return items, nil
}

func macro(names ...string) []fetchItem {
	items := make([]fetchItem, len(names))
	for i, n := range names {
		items[i] = fetchItem{name: n, echo: n}
	}
	return items
}

// parseFetchItem reads one item; sections and partials are inside the
// atom ("BODY.PEEK[1.2.MIME]<0.100>").
func parseFetchItem(s string) (fetchItem, error) {
	up := strings.ToUpper(s)
	switch up {
	case "FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE", "MODSEQ", "PREVIEW", "EMAILID", "THREADID", "SAVEDATE":
		return fetchItem{name: up, echo: up}, nil
	case "RFC822":
		return fetchItem{name: "RFC822", echo: up}, nil
	case "RFC822.HEADER":
		return fetchItem{name: "RFC822.HEADER", echo: up, peek: true, section: part.Section{Spec: "HEADER"}}, nil
	case "RFC822.TEXT":
		return fetchItem{name: "RFC822.TEXT", echo: up, section: part.Section{Spec: "TEXT"}}, nil
	}
	open := strings.IndexByte(s, '[')
	if open < 0 || !strings.Contains(s, "]") {
		return fetchItem{}, syntax("Unknown FETCH item " + s)
	}
	close := strings.LastIndexByte(s, ']')
	it := fetchItem{length: -1}
	kind := strings.ToUpper(s[:open])
	switch kind {
	case "BODY":
		it.name = "BODY[]"
	case "BODY.PEEK":
		it.name, it.peek = "BODY[]", true
	case "BINARY":
		it.name = "BINARY[]"
	case "BINARY.PEEK":
		it.name, it.peek = "BINARY[]", true
	case "BINARY.SIZE":
		it.name, it.peek = "BINARY.SIZE[]", true
	default:
		return fetchItem{}, syntax("Unknown FETCH item " + s)
	}
	sec, err := parseSection(s[open+1:close], it.name != "BODY[]")
	if err != nil {
		return fetchItem{}, err
	}
	it.section = sec
	rest := s[close+1:]
	origin := ""
	if rest != "" {
		if it.name == "BINARY.SIZE[]" || !strings.HasPrefix(rest, "<") || !strings.HasSuffix(rest, ">") {
			return fetchItem{}, syntax("Invalid partial in " + s)
		}
		a, b, ok := strings.Cut(rest[1:len(rest)-1], ".")
		start, err1 := strconv.ParseUint(a, 10, 32)
		length, err2 := strconv.ParseUint(b, 10, 32)
		if !ok || err1 != nil || err2 != nil || length == 0 {
			return fetchItem{}, syntax("Invalid partial in " + s)
		}
		it.partial, it.start, it.length = true, int64(start), int64(length)
		origin = "<" + a + ">"
	}
	base := strings.TrimSuffix(it.name, "[]")
	it.echo = base + "[" + sectionString(sec) + "]" + origin
	return it, nil
}

// parseSection reads a section spec: a part path, then HEADER,
// HEADER.FIELDS[.NOT] (list), TEXT or MIME. BINARY takes a part path only.
func parseSection(s string, pathOnly bool) (part.Section, error) {
	var sec part.Section
	bad := syntax("Invalid section [" + s + "]")
	rest := s
	for rest != "" {
		head, tail, _ := strings.Cut(rest, ".")
		n, err := strconv.ParseUint(head, 10, 32)
		if err != nil {
			break
		}
		if n == 0 {
			return sec, bad
		}
		sec.Path = append(sec.Path, int(n))
		rest = tail
	}
	if rest == "" {
		return sec, nil
	}
	if pathOnly {
		return sec, bad
	}
	up := strings.ToUpper(rest)
	switch {
	case up == "HEADER" || up == "TEXT" || up == "MIME" && len(sec.Path) > 0:
		sec.Spec = up
	case strings.HasPrefix(up, "HEADER.FIELDS"):
		spec, list, ok := strings.Cut(rest, " ")
		spec = strings.ToUpper(spec)
		if !ok || (spec != "HEADER.FIELDS" && spec != "HEADER.FIELDS.NOT") {
			return sec, bad
		}
		list = strings.TrimSpace(list)
		if !strings.HasPrefix(list, "(") || !strings.HasSuffix(list, ")") {
			return sec, bad
		}
		for f := range strings.FieldsSeq(list[1 : len(list)-1]) {
			f = strings.Trim(f, `"`)
			if !fieldName(f) {
				return sec, bad
			}
			sec.Fields = append(sec.Fields, f)
		}
		if len(sec.Fields) == 0 {
			return sec, bad
		}
		sec.Spec = spec
	default:
		return sec, bad
	}
	return sec, nil
}

// fieldName reports whether f can name a header field (RFC 5322 §3.6.8:
// printable ASCII but ":"); parentheses are refused too, as no client
// names a field with them.
func fieldName(f string) bool {
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; c <= ' ' || c >= 0x7f || c == ':' || c == '(' || c == ')' {
			return false
		}
	}
	return true
}

func sectionString(sec part.Section) string {
	var b strings.Builder
	for i, n := range sec.Path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	if sec.Spec != "" {
		if len(sec.Path) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(sec.Spec)
	}
	if len(sec.Fields) > 0 {
		b.WriteString(" (" + strings.ToUpper(strings.Join(sec.Fields, " ")) + ")")
	}
	return b.String()
}

// resolveSet turns a sequence set (or UID set, with uid) into the UIDs
// of the view it names, ascending, without duplicates.
func (v *view) resolveSet(set proto.NumSet, uid bool) []store.UID {
	var out []store.UID
	n := len(v.uids)
	if uid {
		var max uint32
		if n > 0 {
			max = uint32(v.uids[n-1])
		}
		for _, r := range set.Resolve(max) {
			lo, _ := slices.BinarySearch(v.uids, store.UID(r.Start))
			hi, _ := slices.BinarySearch(v.uids, store.UID(r.Stop)+1)
			if r.Stop == ^uint32(0) {
				hi = n
			}
			out = append(out, v.uids[lo:hi]...)
		}
	} else {
		for _, r := range set.Resolve(uint32(n)) {
			if r.Start > uint32(n) {
				continue
			}
			out = append(out, v.uids[r.Start-1:min(int(r.Stop), n)]...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// setArg parses a sequence-set argument, or "$" (SEARCHRES, RFC 5182).
func (c *conn) setArg(v proto.Value, uid bool) ([]store.UID, error) {
	if v.Kind != proto.Atom {
		return nil, syntax("Expected a sequence set")
	}
	if string(v.Bytes) == "$" {
		return slices.Clone(c.searchRes), nil
	}
	set, err := proto.ParseNumSet(string(v.Bytes))
	if err != nil {
		return nil, syntax("Invalid sequence set")
	}
	return c.sel.resolveSet(set, uid), nil
}

// records calls fn with the record of each UID in uids (ascending) that
// still exists, reading only those (hardening issue, point 14), in
// batches: each read in one store transaction that ends before fn writes
// anything to the client.
func (c *conn) records(uids []store.UID, fn func(*store.Message) error) error {
	const batch = 4096
	var msgs []*store.Message
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), batch)]
		msgs = msgs[:0]
		err := c.srv.opts.Store.MessagesByUID(c.ctx, c.sel.id, chunk, false, func(m *store.Message, _ []byte) error {
			msgs = append(msgs, m)
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range msgs {
			c.sel.overlay(m)
			if err := fn(m); err != nil {
				return err
			}
		}
		uids = uids[len(chunk):]
	}
	return nil
}

// Content is read in batches, in one store transaction each, and
// written after the transaction ends, so no read transaction waits on a
// slow client (docs/architecture.md).
const (
	contentBatch      = 512
	contentBatchBytes = 8 << 20
)

var errBatchFull = errors.New("batch full")

// streamMin is the size from which a whole message FETCH asks for is
// written from the store piece by piece (store.WriteContent) instead of
// being read whole first.
const streamMin = 1 << 20

// whole reports whether the item is a whole message, without partial.
func (it fetchItem) whole() bool {
	return it.name == "RFC822" || it.name == "BODY[]" && !it.partial && it.section.Spec == "" && len(it.section.Path) == 0
}

// recordsWithContent is records for commands that need message content.
func (c *conn) recordsWithContent(uids []store.UID, fn func(*store.Message, []byte) error) error {
	return c.recordsWithContentUpTo(uids, math.MaxInt64, fn)
}

// recordsWithContentUpTo is recordsWithContent that gives messages over
// max bytes with nil content (the caller streams them).
func (c *conn) recordsWithContentUpTo(uids []store.UID, max int64, fn func(*store.Message, []byte) error) error {
	return c.inContentBatches(uids, func(chunk []store.UID, arena []byte, each func(*store.Message, []byte) error) ([]byte, error) {
		return c.srv.opts.Store.MessagesByUIDUpTo(c.ctx, c.sel.id, chunk, max, arena, each)
	}, fn)
}

// recordsWithHeaders is recordsWithContent giving each message's content
// up to the end of its header only.
func (c *conn) recordsWithHeaders(uids []store.UID, fn func(*store.Message, []byte) error) error {
	return c.inContentBatches(uids, func(chunk []store.UID, arena []byte, each func(*store.Message, []byte) error) ([]byte, error) {
		return c.srv.opts.Store.MessageHeadersByUID(c.ctx, c.sel.id, chunk, arena, each)
	}, fn)
}

// inContentBatches reads uids' messages with read, a batch at a time into
// one arena, and calls fn for each once its batch's read has ended.
func (c *conn) inContentBatches(uids []store.UID, read func(chunk []store.UID, arena []byte, each func(*store.Message, []byte) error) ([]byte, error), fn func(*store.Message, []byte) error) error {
	type item struct {
		m *store.Message
		b []byte
	}
	arena := c.srv.getArena()
	defer func() { c.srv.putArena(arena) }()
	var batch []item
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), contentBatch)]
		batch = batch[:0]
		var err error
		var size int
		arena, err = read(chunk, arena[:0], func(m *store.Message, b []byte) error {
			batch = append(batch, item{m, b})
			if size += len(b); size >= contentBatchBytes {
				return errBatchFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			return err
		}
		next := len(chunk)
		if errors.Is(err, errBatchFull) {
			last := batch[len(batch)-1].m.UID
			next, _ = slices.BinarySearch(uids, last+1)
		}
		for _, it := range batch {
			c.sel.overlay(it.m)
			if err := fn(it.m, it.b); err != nil {
				return err
			}
		}
		uids = uids[next:]
	}
	return nil
}

// A FETCH of message contents reads a batch into an arena, writes it
// out, and reads the next into the same arena, so each content is copied
// once, from the store. The server keeps pooledArenas arenas of at most
// maxPooledArena bytes for the next FETCH of any connection: a few, since
// only as many FETCHes as there are CPUs read at once, and small, since a
// kept arena is memory the server holds while idle (a sync.Pool keeps
// nothing here: under load the collector runs many times a second and
// empties it each time). A larger batch allocates its own.
const (
	pooledArenas   = 4
	maxPooledArena = 1 << 20
)

// getArena returns an empty arena.
func (s *Server) getArena() []byte {
	select {
	case a := <-s.arenas:
		return a
	default:
		return nil
	}
}

// putArena keeps a for the next FETCH if it is small enough and there is
// room.
func (s *Server) putArena(a []byte) {
	if cap(a) == 0 || cap(a) > maxPooledArena {
		return
	}
	select {
	case s.arenas <- a[:0]:
	default:
	}
}

func cmdFetch(c *conn, cmd *proto.Command) error    { return c.fetch(cmd, false) }
func cmdUIDFetch(c *conn, cmd *proto.Command) error { return c.fetch(cmd, true) }

// fetch is FETCH and UID FETCH.
func (c *conn) fetch(cmd *proto.Command, uid bool) error {
	if len(cmd.Args) != 2 && len(cmd.Args) != 3 {
		return syntax("FETCH takes a sequence set, items and optional modifiers")
	}
	items, err := parseFetchItems(cmd.Args[1])
	if err != nil {
		return err
	}
	// RFC 7162 §3.1.4: (CHANGEDSINCE n) fetches only what changed after
	// n, with MODSEQ; §3.2.6: UID FETCH's VANISHED adds what was expunged.
	var changedSince *uint64
	var vanished bool
	if len(cmd.Args) == 3 {
		if changedSince, vanished, err = c.parseFetchModifiers(cmd.Args[2], uid); err != nil {
			return err
		}
		if !slices.ContainsFunc(items, func(it fetchItem) bool { return it.name == "MODSEQ" }) {
			items = append(items, fetchItem{name: "MODSEQ", echo: "MODSEQ"})
		}
	}
	if slices.ContainsFunc(items, func(it fetchItem) bool { return it.name == "MODSEQ" }) {
		if err := c.enableCondstore(); err != nil {
			return err
		}
	}
	uids, err := c.setArg(cmd.Args[0], uid)
	if err != nil {
		return err
	}
	p, err := c.selectedPlace()
	if err != nil {
		return err
	}
	if changedSince != nil {
		if uids, err = c.changedOnly(cmd.Args[0], uids, *changedSince, vanished); err != nil {
			return err
		}
	}
	needContent, setSeen := false, false
	for _, it := range items {
		needContent = needContent || it.content()
		setSeen = setSeen || (!it.peek && (it.name == "BODY[]" || it.name == "BINARY[]" || it.name == "RFC822" || it.name == "RFC822.TEXT"))
	}
	setSeen = setSeen && !c.sel.readOnly && p.rights.Has(acl.RightSeen)
	// UID FETCH always tells the UID, and so does every FETCH once
	// QRESYNC is enabled (RFC 7162 §3.2.4); UIDFETCH carries it already.
	if (uid || c.qresync) && !c.uidOnly && !slices.ContainsFunc(items, func(it fetchItem) bool { return it.name == "UID" }) {
		items = append([]fetchItem{{name: "UID", echo: "UID"}}, items...)
	}
	var seen []store.UID
	found := 0
	each := func(m *store.Message, content []byte) error {
		found++
		if changedSince != nil && m.ModSeq <= *changedSince {
			return nil
		}
		flagsChanged := false
		if setSeen && m.Flags.Sys&store.FlagSeen == 0 {
			seen = append(seen, m.UID)
			m.Flags.Sys |= store.FlagSeen
			flagsChanged = true
		}
		c.writeFetch(m, content, items, flagsChanged)
		if c.bw.Buffered() > writeBuffer/2 {
			return c.enc.Flush()
		}
		return c.enc.Err()
	}
	envOnly := needContent && !slices.ContainsFunc(items, func(it fetchItem) bool { return it.content() && it.name != "ENVELOPE" })
	switch {
	case envOnly:
		err = c.recordsWithEnvelopes(uids, func(m *store.Message, env []byte) error {
			c.envelope = env
			defer func() { c.envelope = nil }()
			return each(m, nil)
		})
	case needContent && !slices.ContainsFunc(items, func(it fetchItem) bool { return it.content() && !it.headerOnly() }):
		// Only headers: the rest of each message is not read.
		err = c.recordsWithHeaders(uids, each)
	case needContent && !slices.ContainsFunc(items, func(it fetchItem) bool { return it.content() && !it.whole() }):
		// Only whole messages: large ones are streamed from the store,
		// not held (streamMin).
		err = c.recordsWithContentUpTo(uids, streamMin, each)
	case needContent:
		err = c.recordsWithContent(uids, each)
	default:
		err = c.records(uids, func(m *store.Message) error { return each(m, nil) })
	}
	if err != nil {
		return err
	}
	if needContent && c.srv.opts.AuditReads && found > 0 {
		c.audit(p, "read", auditUIDs(uids))
	}
	if len(seen) > 0 {
		if _, _, err := c.storeFlagsIf(seen, store.FlagsAdd, store.Flags{Sys: store.FlagSeen}, nil, nil); err != nil {
			return err
		}
	}
	if found < len(uids) {
		// Some were expunged by another session; their EXPUNGE is on its
		// way (RFC 9051 §7.1, as Dovecot answers).
		return ok("EXPUNGEISSUED", "Some messages were expunged")
	}
	return nil
}

// writeFetch writes one FETCH response.
func (c *conn) writeFetch(m *store.Message, content []byte, items []fetchItem, flagsChanged bool) {
	e := c.enc
	if flagsChanged || slices.ContainsFunc(items, func(it fetchItem) bool { return it.name == "FLAGS" }) {
		c.tellKeywords(m.Flags)
	}
	c.fetchStart(c.sel.seq(m.UID), m.UID)
	var root *part.Part
	tree := func() *part.Part {
		if root == nil {
			root = part.Parse(content)
		}
		return root
	}
	header := func() part.Header {
		if root != nil {
			return root.Header
		}
		return part.ParseHeader(content, 0, part.HeaderEnd(content, 0))
	}
	wroteFlags, wroteModSeq := false, false
	for i, it := range items {
		if i > 0 {
			e.SP()
		}
		switch it.name {
		case "UID":
			e.Raw("UID ").Number(uint64(m.UID))
		case "FLAGS":
			e.Raw("FLAGS ")
			c.writeFlagList(m.Flags, c.sel.recent[m.UID])
			wroteFlags = true
		case "MODSEQ":
			e.Raw("MODSEQ (").Number(m.ModSeq).Raw(")")
			wroteModSeq = true
		case "EMAILID":
			e.Raw("EMAILID (").Raw(emailID(m)).Raw(")")
		case "THREADID":
			e.Raw("THREADID NIL")
		case "SAVEDATE":
			// RFC 8514: NIL for messages stored before save dates were.
			e.Raw("SAVEDATE ")
			if m.SaveDate.IsZero() {
				e.Raw("NIL")
			} else {
				e.String(m.SaveDate.Format("02-Jan-2006 15:04:05 -0700"))
			}
		case "INTERNALDATE":
			e.Raw("INTERNALDATE ").String(m.InternalDate.Format("02-Jan-2006 15:04:05 -0700"))
		case "RFC822.SIZE":
			e.Raw("RFC822.SIZE ").Number(uint64(m.Size))
		case "ENVELOPE":
			e.Raw("ENVELOPE ")
			if c.envelope != nil {
				e.Raw(string(c.envelope)) // kept with the body, encoded
			} else {
				part.WriteEnvelope(e, part.EnvelopeOf(header()))
			}
		case "PREVIEW":
			e.Raw("PREVIEW ").String(part.Preview(content, tree()))
		case "BODY", "BODYSTRUCTURE":
			e.Raw(it.name).SP()
			part.WriteBodyStructure(e, content, tree(), it.name == "BODYSTRUCTURE")
		case "RFC822":
			e.Raw("RFC822 ")
			if content == nil {
				c.streamContent(m)
				continue
			}
			writeSection(e, content)
		case "RFC822.HEADER", "RFC822.TEXT", "BODY[]":
			if content == nil && it.whole() {
				e.Raw(it.echo).SP()
				c.streamContent(m)
				continue
			}
			b, _ := part.Extract(content, tree(), it.section)
			e.Raw(it.echo).SP()
			writeSection(e, partial(b, it))
		case "BINARY[]":
			e.Raw(it.echo).SP()
			b, err := c.binary(content, tree(), it.section)
			if err != nil {
				e.Nil()
				continue
			}
			b = partial(b, it)
			if proto.HasNUL(b) {
				e.Literal8(b)
			} else {
				e.Literal(b)
			}
		case "BINARY.SIZE[]":
			e.Raw(it.echo).SP()
			b, err := c.binary(content, tree(), it.section)
			if err != nil {
				e.Nil()
				continue
			}
			e.Number(uint64(len(b)))
		}
	}
	if flagsChanged && !wroteFlags {
		e.Raw(" FLAGS ")
		c.writeFlagList(m.Flags, c.sel.recent[m.UID])
		wroteFlags = true
	}
	if wroteFlags && !wroteModSeq {
		c.writeModSeq(m.ModSeq)
	}
	if wroteFlags {
		c.sel.supersede(m.UID, m.ModSeq)
	}
	e.Raw(")").CRLF()
}

// binary returns a section's content with its transfer encoding removed
// (RFC 3516); the whole message, or a message part, as it is.
func (c *conn) binary(content []byte, root *part.Part, sec part.Section) ([]byte, error) {
	if len(sec.Path) == 0 {
		return content, nil
	}
	p := root.Find(sec.Path)
	if p == nil {
		return nil, errors.New("no such part")
	}
	if len(p.Children) > 0 || p.Message != nil {
		return content[p.BodyStart:p.End], nil
	}
	return part.Decoded(content, p)
}

func partial(b []byte, it fetchItem) []byte {
	if !it.partial {
		return b
	}
	if it.start >= int64(len(b)) {
		return nil
	}
	b = b[it.start:]
	if it.length >= 0 && it.length < int64(len(b)) {
		b = b[:it.length]
	}
	return b
}

// writeSection writes body content as a literal. A plain literal may not
// carry NUL (RFC 9051 §4.3): NULs become 0x80 here, as other servers do;
// FETCH BINARY returns the exact octets.
func writeSection(e *proto.Encoder, b []byte) {
	if proto.HasNUL(b) {
		b = bytes.ReplaceAll(b, []byte{0}, []byte{0x80})
	}
	e.Literal(b)
}

// streamContent writes a message as a literal from the store, piece by
// piece (store.WriteContent), with NULs made 0x80 as writeSection does. A
// failure part way (the message expunged, the client gone) cannot be told
// inside a literal: the connection ends.
func (c *conn) streamContent(m *store.Message) {
	c.enc.Raw("{").Number(uint64(m.Size)).Raw("}\r\n")
	if err := c.srv.opts.Store.WriteContent(c.ctx, m, nulFilter{c.bw}); err != nil {
		c.log.Warn("streaming a message", "uid", m.UID, "err", err)
		c.nc.Close()
	}
}

// nulFilter writes through to w with every NUL byte made 0x80.
type nulFilter struct{ w io.Writer }

func (f nulFilter) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, 0) < 0 {
		return f.w.Write(p)
	}
	return f.w.Write(bytes.ReplaceAll(p, []byte{0}, []byte{0x80}))
}
