package imapd

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"

	"mailroom/acl"
	"mailroom/store"
)

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, opts *imap.SearchOptions) (*imap.SearchData, error) {
	defer s.begin()()
	if p, err := s.selectedRights(); err != nil {
		return nil, err
	} else if err := need(p, acl.RightRead, "read messages"); err != nil {
		return nil, err
	}
	view := s.view()
	needContent := criteriaNeedContent(criteria)
	var hits []msgRef
	var lastUID uint32
	var lastSeq uint32
	if len(view) > 0 {
		lastUID, lastSeq = uint32(view[len(view)-1].uid), view[len(view)-1].seq
	}
	scratch := &searchScratch{needles: map[string][]byte{}}
	ctx := s.ctx()
	err := s.eachMessage(view, needContent, func(r msgRef, m *store.Message, content []byte) error {
		if h := s.srv.opts.onSearchMessage; h != nil {
			h(ctx)
		}
		c := &candidate{ref: r, msg: m, lastUID: lastUID, lastSeq: lastSeq, saved: s.sel.searchRes, content: content, bodyOffset: -1, scratch: scratch}
		if c.match(criteria) {
			hits = append(hits, r)
		}
		return nil
	})
	if err != nil {
		return nil, s.internal("search", err)
	}
	data := &imap.SearchData{Count: uint32(len(hits))}
	var uidSet imap.UIDSet
	var seqSet imap.SeqSet
	for _, h := range hits {
		uidSet.AddNum(imap.UID(h.uid))
		seqSet.AddNum(h.seq)
	}
	if kind == imapserver.NumKindUID {
		data.All = uidSet
		if len(hits) > 0 {
			data.Min, data.Max = uint32(hits[0].uid), uint32(hits[len(hits)-1].uid)
		}
	} else {
		data.All = seqSet
		if len(hits) > 0 {
			data.Min, data.Max = hits[0].seq, hits[len(hits)-1].seq
		}
	}
	if opts != nil && opts.ReturnSave {
		s.sel.searchRes = uidSet
	}
	return data, nil
}

func criteriaNeedContent(c *imap.SearchCriteria) bool {
	if len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for i := range c.Not {
		if criteriaNeedContent(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if criteriaNeedContent(&c.Or[i][0]) || criteriaNeedContent(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// searchScratch is what one SEARCH reuses from message to message: the
// folded needles and the buffers of the folded texts.
type searchScratch struct {
	needles      map[string][]byte
	folded, text []byte
}

func (sc *searchScratch) needle(s string) []byte {
	n, ok := sc.needles[s]
	if !ok {
		n = foldString(s)
		sc.needles[s] = n
	}
	return n
}

// candidate is one message being matched against search criteria; its
// parsed header and its folded texts are computed at most once.
type candidate struct {
	ref              msgRef
	msg              *store.Message
	content          []byte
	lastUID, lastSeq uint32
	saved            imap.UIDSet
	scratch          *searchScratch

	header     *textproto.Header
	bodyOffset int
	// folded is the folded raw message, its header first (headerLen bytes
	// of it); foldedHeader is the header with encoded words decoded;
	// text is the decoded text of its parts (see decodedText).
	folded       []byte
	headerLen    int
	foldedHeader []byte
	text         []byte
	textDone     bool
}

func (c *candidate) match(cr *imap.SearchCriteria) bool {
	for _, set := range cr.SeqNum {
		if !inSeqSet(set, c.ref.seq, c.lastSeq) {
			return false
		}
	}
	for _, set := range cr.UID {
		if imap.IsSearchRes(set) {
			set = c.saved
		}
		if !inUIDSet(set, uint32(c.ref.uid), c.lastUID) {
			return false
		}
	}
	day := dateOnly(c.msg.InternalDate)
	if !cr.Since.IsZero() && day.Before(dateOnly(cr.Since)) {
		return false
	}
	if !cr.Before.IsZero() && !day.Before(dateOnly(cr.Before)) {
		return false
	}
	if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		sent, ok := c.sentDate()
		if !ok || (!cr.SentSince.IsZero() && sent.Before(dateOnly(cr.SentSince))) ||
			(!cr.SentBefore.IsZero() && !sent.Before(dateOnly(cr.SentBefore))) {
			return false
		}
	}
	for _, f := range cr.Flag {
		if !c.msg.Flags.Has(string(f)) {
			return false
		}
	}
	for _, f := range cr.NotFlag {
		if c.msg.Flags.Has(string(f)) {
			return false
		}
	}
	if cr.Larger > 0 && c.msg.Size <= cr.Larger {
		return false
	}
	if cr.Smaller > 0 && c.msg.Size >= cr.Smaller {
		return false
	}
	for _, hf := range cr.Header {
		if !c.headerContains(hf.Key, hf.Value) {
			return false
		}
	}
	for _, want := range cr.Body {
		if !c.bodyContains(want) {
			return false
		}
	}
	for _, want := range cr.Text {
		if !bytes.Contains(c.headerText(), c.scratch.needle(want)) && !c.bodyContains(want) {
			return false
		}
	}
	for i := range cr.Not {
		if c.match(&cr.Not[i]) {
			return false
		}
	}
	for i := range cr.Or {
		if !c.match(&cr.Or[i][0]) && !c.match(&cr.Or[i][1]) {
			return false
		}
	}
	return true
}

func inSeqSet(set imap.SeqSet, n, last uint32) bool {
	for _, r := range set {
		lo, hi := starTo(r.Start, last), starTo(r.Stop, last)
		if lo > hi {
			lo, hi = hi, lo
		}
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

func inUIDSet(set imap.UIDSet, n, last uint32) bool {
	for _, r := range set {
		lo, hi := starTo(uint32(r.Start), last), starTo(uint32(r.Stop), last)
		if lo > hi {
			lo, hi = hi, lo
		}
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

func dateOnly(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (c *candidate) parseHeader() *textproto.Header {
	if c.header == nil {
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(c.content)))
		if err != nil {
			h = textproto.Header{}
		}
		c.header = &h
	}
	return c.header
}

// body returns the message text after the header.
func (c *candidate) body() []byte {
	if c.bodyOffset < 0 {
		c.bodyOffset = store.HeaderLen(c.content)
	}
	return c.content[c.bodyOffset:]
}

// wordDecoder decodes RFC 2047 encoded words in any charset go-message's
// charset package knows (the IANA names of golang.org/x/text's encodings).
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

func decodeWords(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

func (c *candidate) headerContains(key, value string) bool {
	for _, v := range c.parseHeader().Values(key) {
		if value == "" || containsFold(decodeWords(v), value) {
			return true
		}
	}
	return false
}

// headerText is the folded header with encoded words decoded.
func (c *candidate) headerText() []byte {
	if c.foldedHeader == nil {
		c.body()
		c.foldedHeader = foldString(decodeWords(string(c.content[:c.bodyOffset])))
	}
	return c.foldedHeader
}

func (c *candidate) sentDate() (time.Time, bool) {
	v := c.parseHeader().Get("Date")
	t, err := mail.ParseDate(v)
	if err != nil {
		return time.Time{}, false
	}
	return dateOnly(t), true
}

// bodyContains matches want against the raw body first (what is on the
// wire), and then, for a message that encodes its text, against the
// decoded text (what the user reads).
func (c *candidate) bodyContains(want string) bool {
	n := c.scratch.needle(want)
	f := c.foldedMessage()
	if bytes.Contains(f[c.headerLen:], n) {
		return true
	}
	if !needsDecoding(f) {
		return false
	}
	return bytes.Contains(c.decodedText(), n)
}

// foldedMessage returns the folded message, computed once.
func (c *candidate) foldedMessage() []byte {
	if c.folded == nil {
		c.body()
		f := appendFold(c.scratch.folded[:0], c.content[:c.bodyOffset])
		c.headerLen = len(f)
		f = appendFold(f, c.content[c.bodyOffset:])
		c.folded, c.scratch.folded = f, f
	}
	return c.folded
}

// needsDecoding reports whether a message (folded) has text that the raw
// bytes do not show as it reads: a transfer encoding, or a charset other
// than UTF-8 and ASCII.
func needsDecoding(folded []byte) bool {
	if bytes.Contains(folded, []byte("base64")) || bytes.Contains(folded, []byte("quoted-printable")) {
		return true
	}
	rest := folded
	for {
		i := bytes.Index(rest, []byte("charset="))
		if i < 0 {
			return false
		}
		rest = rest[i+len("charset="):]
		v := strings.Trim(string(rest[:min(len(rest), 12)]), "\"'")
		if !strings.HasPrefix(v, "utf-8") && !strings.HasPrefix(v, "us-ascii") {
			return true
		}
	}
}

// decodedText is the folded text of the message's text parts, transfer
// encodings undone and converted to UTF-8 where the charset is known.
func (c *candidate) decodedText() []byte {
	if c.textDone {
		return c.text
	}
	c.textDone = true
	var b bytes.Buffer
	if e, err := gomessage.Read(bytes.NewReader(c.content)); e != nil && (err == nil || gomessage.IsUnknownCharset(err) || gomessage.IsUnknownEncoding(err)) {
		e.Walk(func(_ []int, part *gomessage.Entity, err error) error {
			if err != nil || part.MultipartReader() != nil {
				return nil
			}
			if t, _, _ := part.Header.ContentType(); t == "" || strings.HasPrefix(t, "text/") {
				b.WriteByte('\n')
				io.Copy(&b, io.LimitReader(part.Body, 8<<20))
			}
			return nil
		})
	}
	c.text = appendFold(c.scratch.text[:0], b.Bytes())
	c.scratch.text = c.text
	return c.text
}
