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
	defer s.srv.busy()()
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
	err := s.eachMessage(view, needContent, func(r msgRef, m *store.Message, content []byte) error {
		c := &candidate{ref: r, msg: m, lastUID: lastUID, lastSeq: lastSeq, saved: s.sel.searchRes, content: content, bodyOffset: -1}
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

// candidate is one message being matched against search criteria; its
// parsed header and decoded text are computed at most once.
type candidate struct {
	ref              msgRef
	msg              *store.Message
	content          []byte
	lastUID, lastSeq uint32
	saved            imap.UIDSet

	header     *textproto.Header
	bodyOffset int
	text       *string
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
		if !containsFold(c.headerText(), want) && !c.bodyContains(want) {
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

func (c *candidate) headerText() string {
	c.body()
	return decodeWords(string(c.content[:c.bodyOffset]))
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
	if indexFold(c.body(), want) >= 0 {
		return true
	}
	if !needsDecoding(c.content) {
		return false
	}
	return containsFold(c.bodyText(), want)
}

// needsDecoding reports whether a message has text that the raw bytes do
// not show as it reads: a transfer encoding, or a charset other than
// UTF-8 and ASCII.
func needsDecoding(content []byte) bool {
	for _, marker := range []string{"base64", "quoted-printable"} {
		if indexFold(content, marker) >= 0 {
			return true
		}
	}
	rest := content
	for {
		i := indexFold(rest, "charset=")
		if i < 0 {
			return false
		}
		rest = rest[i+len("charset="):]
		v := strings.ToLower(strings.Trim(string(rest[:min(len(rest), 12)]), "\"'"))
		if !strings.HasPrefix(v, "utf-8") && !strings.HasPrefix(v, "us-ascii") {
			return true
		}
	}
}

// bodyText is the message text with transfer encodings undone and text
// parts converted to UTF-8 where the charset is known, plus the raw body.
func (c *candidate) bodyText() string {
	if c.text != nil {
		return *c.text
	}
	var b strings.Builder
	b.Write(c.body())
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
	t := b.String()
	c.text = &t
	return t
}

// containsFold reports whether sub is in s, ignoring case (Unicode simple
// folding, as RFC 9051 §6.4.4 asks for the UTF-8 charset).
func containsFold(s, sub string) bool {
	return indexFold([]byte(s), sub) >= 0
}

// indexFold finds sub in s ignoring case. ASCII needles, the common case,
// are matched without converting s; others fall back to lower-casing.
func indexFold(s []byte, sub string) int {
	if sub == "" {
		return 0
	}
	for i := 0; i < len(sub); i++ {
		if sub[i] >= 0x80 {
			return strings.Index(strings.ToLower(string(s)), strings.ToLower(sub))
		}
	}
	first := sub[0]
	lo, up := lowerByte(first), upperByte(first)
	for i := 0; i+len(sub) <= len(s); {
		j := bytes.IndexByte(s[i:], lo)
		if lo != up {
			if k := bytes.IndexByte(s[i:], up); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 || i+j+len(sub) > len(s) {
			return -1
		}
		if bytes.EqualFold(s[i+j:i+j+len(sub)], []byte(sub)) {
			return i + j
		}
		i += j + 1
	}
	return -1
}

func lowerByte(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func upperByte(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}
