package imapd

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"mailroom/acl"
	"mailroom/store"
)

// msgRef is a message as the client knows it.
type msgRef struct {
	seq uint32
	uid store.UID
}

// view returns every message the client knows of, by ascending UID (and so
// ascending sequence number): current messages that have been announced.
func (s *session) view() []msgRef {
	b := s.sel.box
	b.mu.RLock()
	uids := slices.Clone(b.uids)
	b.mu.RUnlock()
	out := make([]msgRef, 0, len(uids))
	for i, uid := range uids {
		if seq := s.sel.tracker.EncodeSeqNum(uint32(i + 1)); seq != 0 {
			out = append(out, msgRef{seq: seq, uid: uid})
		}
	}
	return out
}

// resolve returns the messages of the client's view that set names.
func (s *session) resolve(set imap.NumSet) []msgRef {
	if imap.IsSearchRes(set) {
		set = s.sel.searchRes
	}
	v := s.view()
	if len(v) == 0 {
		return nil
	}
	var out []msgRef
	switch set := set.(type) {
	case imap.SeqSet:
		last := v[len(v)-1].seq
		for _, r := range set {
			lo, hi := starTo(r.Start, last), starTo(r.Stop, last)
			if lo > hi {
				lo, hi = hi, lo
			}
			i, _ := slices.BinarySearchFunc(v, lo, func(m msgRef, seq uint32) int { return int(m.seq) - int(seq) })
			for ; i < len(v) && v[i].seq <= hi; i++ {
				out = append(out, v[i])
			}
		}
	case imap.UIDSet:
		last := uint32(v[len(v)-1].uid)
		for _, r := range set {
			lo, hi := store.UID(starTo(uint32(r.Start), last)), store.UID(starTo(uint32(r.Stop), last))
			if lo > hi {
				lo, hi = hi, lo
			}
			i, _ := slices.BinarySearchFunc(v, lo, func(m msgRef, uid store.UID) int { return int(m.uid) - int(uid) })
			for ; i < len(v) && v[i].uid <= hi; i++ {
				out = append(out, v[i])
			}
		}
	}
	slices.SortFunc(out, func(a, b msgRef) int { return int(a.uid) - int(b.uid) })
	return slices.CompactFunc(out, func(a, b msgRef) bool { return a.uid == b.uid })
}

// starTo replaces the "*" of a range (0) with last.
func starTo(n, last uint32) uint32 {
	if n == 0 {
		return last
	}
	return n
}

func uidsOf(refs []msgRef) []store.UID {
	out := make([]store.UID, len(refs))
	for i, r := range refs {
		out[i] = r.uid
	}
	return out
}

// eachMessage calls fn with the stored record of each ref (refs ascending
// by UID), reading only those messages; with content, also each message's
// bytes (valid only during fn).
func (s *session) eachMessage(refs []msgRef, content bool, fn func(msgRef, *store.Message, []byte) error) error {
	if len(refs) == 0 {
		return nil
	}
	i := 0
	return s.store().MessagesByUID(s.ctx(), s.sel.mailbox.ID, uidsOf(refs), content, func(m *store.Message, c []byte) error {
		for i < len(refs) && refs[i].uid < m.UID {
			i++
		}
		if i < len(refs) && refs[i].uid == m.UID {
			return fn(refs[i], m, c)
		}
		return nil
	})
}

func (s *session) Fetch(w *imapserver.FetchWriter, set imap.NumSet, opts *imap.FetchOptions) error {
	defer s.begin()()
	p, err := s.selectedRights()
	if err == nil {
		err = need(p, acl.RightRead, "read messages")
	}
	if err != nil {
		return err
	}
	refs := s.resolve(set)
	needBody := opts.Envelope || opts.BodyStructure != nil || len(opts.BodySection) > 0 ||
		len(opts.BinarySection) > 0 || len(opts.BinarySectionSize) > 0
	markSeen := false
	for _, bs := range opts.BodySection {
		markSeen = markSeen || !bs.Peek
	}
	for _, bs := range opts.BinarySection {
		markSeen = markSeen || !bs.Peek
	}
	// Without "s" the user reads without marking read (RFC 4314 §4).
	markSeen = markSeen && !s.sel.readOnly && p.rights.Has(acl.RightSeen)
	var seen []store.UID
	err = s.eachMessage(refs, needBody, func(r msgRef, m *store.Message, content []byte) error {
		flags := m.Flags
		nowSeen := markSeen && flags.Sys&store.FlagSeen == 0
		if nowSeen {
			seen = append(seen, m.UID)
			flags.Sys |= store.FlagSeen
		}
		return writeFetch(w, r, m, flags, content, opts, nowSeen)
	})
	if err != nil {
		return s.internal("fetch", err)
	}
	if len(seen) > 0 {
		ctx := store.WithOrigin(s.ctx(), s.sel.tracker)
		if _, err := s.store().StoreFlags(ctx, s.sel.mailbox.ID, seen, store.FlagsAdd, store.Flags{Sys: store.FlagSeen}, nil); err != nil {
			return s.internal("fetch: set \\Seen", err)
		}
	}
	return nil
}

func writeFetch(w *imapserver.FetchWriter, r msgRef, m *store.Message, flags store.Flags, content []byte, opts *imap.FetchOptions, flagsChanged bool) error {
	rw := w.CreateMessage(r.seq)
	rw.WriteUID(imap.UID(m.UID))
	if opts.Flags || flagsChanged {
		rw.WriteFlags(imapFlags(flags))
	}
	if opts.InternalDate {
		rw.WriteInternalDate(m.InternalDate)
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	if opts.Envelope {
		rw.WriteEnvelope(envelope(content))
	}
	if opts.BodyStructure != nil {
		rw.WriteBodyStructure(bodyStructure(content))
	}
	for _, bs := range opts.BodySection {
		buf := bodySection(content, bs)
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bs := range opts.BinarySection {
		buf := imapserver.ExtractBinarySection(bytes.NewReader(content), bs)
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bs := range opts.BinarySectionSize {
		rw.WriteBinarySectionSize(bs, imapserver.ExtractBinarySectionSize(bytes.NewReader(content), bs))
	}
	return rw.Close()
}

// bodySection returns a FETCH BODY[...] section. The whole message and
// its top-level HEADER and TEXT are cut from the stored bytes, so they are
// exactly what arrived (go-imap's extractor re-serializes the header,
// turning bare LFs into CRLFs and dropping a header it cannot parse); MIME
// parts and HEADER.FIELDS, which are derived views anyway, come from
// go-imap.
func bodySection(content []byte, bs *imap.FetchItemBodySection) []byte {
	if len(bs.Part) > 0 || (bs.Specifier != imap.PartSpecifierNone && bs.Specifier != imap.PartSpecifierHeader && bs.Specifier != imap.PartSpecifierText) ||
		(bs.Specifier == imap.PartSpecifierHeader && len(bs.HeaderFields)+len(bs.HeaderFieldsNot) > 0) {
		return imapserver.ExtractBodySection(bytes.NewReader(content), bs)
	}
	h := store.HeaderLen(content)
	var b []byte
	switch bs.Specifier {
	case imap.PartSpecifierHeader:
		b = content[:h]
	case imap.PartSpecifierText:
		b = content[h:]
	default:
		b = content
	}
	if p := bs.Partial; p != nil {
		if p.Offset >= int64(len(b)) {
			return []byte{}
		}
		b = b[p.Offset:]
		if p.Size >= 0 && p.Size < int64(len(b)) {
			b = b[:p.Size]
		}
	}
	return b
}

// bodyStructure is go-imap's BODYSTRUCTURE of content, repaired where a
// broken message would make it unwritable: a multipart with no parts (no
// boundary, or one never used) becomes a text/plain part, which is how a
// reader shows such a message. RFC 9051's grammar needs at least one part.
func bodyStructure(content []byte) imap.BodyStructure {
	bs := imapserver.ExtractBodyStructure(bytes.NewReader(content))
	return repairBodyStructure(bs, content[store.HeaderLen(content):])
}

// repairBodyStructure fixes bs in place; body is the bytes of the part bs
// describes where known (the top level), else nil.
func repairBodyStructure(bs imap.BodyStructure, body []byte) imap.BodyStructure {
	switch b := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(b.Children) == 0 {
			part := &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain",
				Params: map[string]string{"charset": "us-ascii"}, Encoding: "7bit", Size: uint32(len(body)),
				Text: &imap.BodyStructureText{NumLines: int64(bytes.Count(body, []byte("\n")))}}
			if b.Extended != nil {
				part.Extended = &imap.BodyStructureSinglePartExt{}
			}
			return part
		}
		for i, c := range b.Children {
			b.Children[i] = repairBodyStructure(c, nil)
		}
	case *imap.BodyStructureSinglePart:
		if b.MessageRFC822 != nil && b.MessageRFC822.BodyStructure != nil {
			b.MessageRFC822.BodyStructure = repairBodyStructure(b.MessageRFC822.BodyStructure, nil)
		}
	}
	return bs
}

// envelope parses the header of content; a header that does not parse
// yields an empty envelope rather than an error, so the message is served.
func envelope(content []byte) *imap.Envelope {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(content)))
	if err != nil {
		return &imap.Envelope{}
	}
	return imapserver.ExtractEnvelope(h)
}

func writeLiteral(wc io.WriteCloser, b []byte) error {
	if _, err := wc.Write(b); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}

func (s *session) Store(w *imapserver.FetchWriter, set imap.NumSet, flags *imap.StoreFlags, opts *imap.StoreOptions) error {
	defer s.begin()()
	if s.sel.readOnly {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only"}
	}
	p, err := s.selectedRights()
	if err != nil {
		return err
	}
	if !p.rights.Has(acl.RightSeen) && !p.rights.Has(acl.RightWrite) && !p.rights.Has(acl.RightDeleteMsg) {
		return need(p, acl.RightSeen|acl.RightWrite|acl.RightDeleteMsg, "change flags")
	}
	refs := s.resolve(set)
	var op store.FlagOp
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = store.FlagsAdd
	case imap.StoreFlagsDel:
		op = store.FlagsRemove
	default:
		op = store.FlagsSet
	}
	ctx := store.WithOrigin(s.ctx(), s.sel.tracker)
	changed, err := s.store().StoreFlags(ctx, s.sel.mailbox.ID, uidsOf(refs), op, storeFlags(flags.Flags), allowedFlags(p.rights))
	if err != nil {
		return s.mapErr("store", err)
	}
	if flags.Silent {
		return nil
	}
	// Without .SILENT every addressed message gets a FETCH with its flags,
	// changed or not (RFC 9051 §6.4.6).
	byUID := map[store.UID]store.Flags{}
	for _, m := range changed {
		byUID[m.UID] = m.Flags
	}
	return s.eachMessage(refs, false, func(r msgRef, m *store.Message, _ []byte) error {
		f, ok := byUID[m.UID]
		if !ok {
			f = m.Flags
		}
		rw := w.CreateMessage(r.seq)
		rw.WriteUID(imap.UID(m.UID))
		rw.WriteFlags(imapFlags(f))
		return rw.Close()
	})
}

// allowedFlags keeps the flags a user without "s", "w" or "t" may not
// change as they were (RFC 4314 §4): \Seen needs "s", \Deleted "t", the
// rest "w".
func allowedFlags(r acl.Rights) func(old, proposed store.Flags) store.Flags {
	if r.Has(acl.RightSeen | acl.RightWrite | acl.RightDeleteMsg) {
		return nil
	}
	return func(old, proposed store.Flags) store.Flags {
		out := store.Flags{Sys: proposed.Sys, Keywords: proposed.Keywords}
		keep := func(bit store.SysFlags) { out.Sys = out.Sys&^bit | old.Sys&bit }
		if !r.Has(acl.RightSeen) {
			keep(store.FlagSeen)
		}
		if !r.Has(acl.RightDeleteMsg) {
			keep(store.FlagDeleted)
		}
		if !r.Has(acl.RightWrite) {
			keep(store.FlagAnswered | store.FlagFlagged | store.FlagDraft)
			out.Keywords = old.Keywords
		}
		return out
	}
}

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	defer s.begin()()
	if uids == nil && *w == (imapserver.ExpungeWriter{}) {
		// go-imap runs CLOSE as an expunge with a writer that sends
		// nothing, then UNSELECT.
		s.closeExpunge()
		return nil
	}
	if s.sel.readOnly {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only"}
	}
	p, err := s.selectedRights()
	if err == nil {
		err = need(p, acl.RightExpunge, "expunge messages")
	}
	if err != nil {
		return err
	}
	var only []store.UID
	if uids != nil {
		only = uidsOf(s.resolve(*uids))
		if len(only) == 0 {
			return nil
		}
	}
	// The registry turns the committed expunge into EXPUNGE responses for
	// every session, this one included; go-imap polls after the command.
	_, err = s.store().Expunge(s.ctx(), s.sel.mailbox.ID, only)
	return s.mapErr("expunge", err)
}

// closeExpunge is CLOSE's silent expunge. CLOSE always succeeds and
// leaves the mailbox (RFC 9051 §6.4.2): it removes the \Deleted messages
// only when the mailbox is selected read-write and the user holds "e"
// (RFC 4314 §4), and a failure to expunge is logged, not answered.
func (s *session) closeExpunge() {
	if s.sel.readOnly {
		return
	}
	p, err := s.selectedRights()
	if err != nil || !p.rights.Has(acl.RightExpunge) {
		return
	}
	if _, err := s.store().Expunge(s.ctx(), s.sel.mailbox.ID, nil); err != nil {
		s.log.Warn("close: expunge failed", "mailbox", s.sel.display, "err", err)
	}
}

func (s *session) Copy(set imap.NumSet, dest string) (*imap.CopyData, error) {
	defer s.begin()()
	src, err := s.selectedRights()
	if err == nil {
		err = need(src, acl.RightRead, "read messages")
	}
	if err != nil {
		return nil, err
	}
	dp, err := s.destination(dest)
	if err != nil {
		return nil, trycreate(s.mapErr("copy", err))
	}
	refs := s.resolve(set)
	cp, err := s.store().Copy(s.ctx(), s.sel.mailbox.ID, uidsOf(refs), dp.mailbox.ID, dp.owner.Plan.Quota)
	if err != nil {
		return nil, s.mapErr("copy", err)
	}
	return copyData(cp), nil
}

func (s *session) Move(w *imapserver.MoveWriter, set imap.NumSet, dest string) error {
	defer s.begin()()
	if s.sel.readOnly {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only"}
	}
	src, err := s.selectedRights()
	if err == nil {
		// MOVE takes messages away: "t" and "e" on the source (RFC 6851 §3.3).
		err = need(src, acl.RightRead|acl.RightDeleteMsg|acl.RightExpunge, "move messages out")
	}
	if err != nil {
		return err
	}
	dp, err := s.destination(dest)
	if err != nil {
		return trycreate(s.mapErr("move", err))
	}
	dm := dp.mailbox
	if dm.ID == s.sel.mailbox.ID {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Source and destination are the same mailbox"}
	}
	refs := s.resolve(set)
	cp, err := s.store().Move(s.ctx(), s.sel.mailbox.ID, uidsOf(refs), dm.ID, dp.owner.Plan.Quota)
	if err != nil {
		return s.mapErr("move", err)
	}
	if len(cp.Source) == 0 {
		return nil
	}
	// COPYUID first; the EXPUNGEs follow in go-imap's post-command poll
	// (RFC 6851 §4.3).
	return w.WriteCopyData(copyData(cp))
}

// destination resolves the target of COPY, MOVE and APPEND, which needs
// "i" (RFC 4314 §4).
func (s *session) destination(name string) (*place, error) {
	p, err := s.locate(name)
	if err != nil {
		return nil, err
	}
	return p, need(p, acl.RightInsert, "add messages")
}

func copyData(cp *store.Copied) *imap.CopyData {
	d := &imap.CopyData{UIDValidity: cp.UIDValidity}
	for i := range cp.Source {
		d.SourceUIDs.AddNum(imap.UID(cp.Source[i]))
		d.DestUIDs.AddNum(imap.UID(cp.Dest[i]))
	}
	return d
}

// trycreate adds TRYCREATE to a missing destination (RFC 9051 §6.4.7).
func trycreate(err error) error {
	if e, ok := err.(*imap.Error); ok && e.Code == imap.ResponseCodeNonExistent {
		e.Code = imap.ResponseCodeTryCreate
	}
	return err
}

func (s *session) Append(name string, r imap.LiteralReader, opts *imap.AppendOptions) (*imap.AppendData, error) {
	defer s.begin()()
	p, err := s.destination(name)
	if err != nil {
		return nil, trycreate(s.mapErr("append", err))
	}
	if r.Size() > s.srv.opts.AppendLimit {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message exceeds APPENDLIMIT"}
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	nm := store.NewMessage{Flags: storeFlags(opts.Flags), InternalDate: opts.Time}
	if nm.InternalDate.IsZero() {
		nm.InternalDate = time.Now()
	}
	d, err := s.store().Append(s.ctx(), p.mailbox.ID, body, nm, p.owner.Plan.Quota)
	if err != nil {
		return nil, s.mapErr("append", err)
	}
	return &imap.AppendData{UID: imap.UID(d.UID), UIDValidity: d.UIDValidity}, nil
}
