package imapd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"mailroom/imapd/part"
	"mailroom/internal/testutil"
)

// FuzzFetchRoundTrip is a differential test of the whole output path:
// a message APPENDed through the listener and fetched with go-imap's own
// client has the ENVELOPE and BODYSTRUCTURE that go-imap's extraction
// gives for the same bytes (message.go), after the encoding and decoding
// the two library ends do anyway (wireEnvelope, wireBody). Anything the
// extension layer changes on the way (it once rewrote "[CAPABILITY " in
// a Subject) shows up as a difference.
func FuzzFetchRoundTrip(f *testing.F) {
	files, _ := filepath.Glob("../testdata/messages/*.eml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(multipart))
	f.Add([]byte("Subject: [CAPABILITY oops\r\nFrom: \"[CAPABILITY x]\" <a@b.c>\r\n\r\n* OK [CAPABILITY IMAP4rev1]\r\n"))
	ts := newTestServer(f)
	c := ts.client(f, "alice@example.test", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) == 0 || len(msg) > 256<<10 {
			t.Skip()
		}
		// The oracle is go-imap's own extraction, for messages whose header
		// go-imap and the server read alike (they part ways on a header
		// line without a colon, which the server skips and go-imap takes
		// as the end of the header).
		root := part.Parse(msg)
		h, hlen, err := goimapHeader(msg)
		if err != nil || hlen != root.BodyStart {
			t.Skip("go-imap reads this header differently")
		}
		wantEnv := wireEnvelope(imapserver.ExtractEnvelope(h))
		wantBody, ok := wireBody(imapserver.ExtractBodyStructure(bytes.NewReader(msg)))
		if !ok {
			t.Skip("go-imap's client cannot read this structure whatever the server")
		}
		if controlInHeaders(msg, root) {
			t.Skip("control characters in the header: the server writes NUL as U+FFFD, go-imap as it is")
		}
		if !headersAgree(msg, root) {
			t.Skip("go-imap reads a part's header differently")
		}
		if !strictTypes(root) {
			t.Skip("a Content-Type Go's mime package refuses: the server reads it leniently, go-imap as text/plain")
		}
		if childless(wantBody) {
			t.Skip("go-imap has a multipart without parts or subtype here, which is no multipart")
		}
		// Mixed line ends make where a part ends (before its delimiter's
		// line end) a matter of reading too.
		compareSizes := allClosed(msg, root) && !(bytes.Contains(msg, []byte("\r\n")) && bytes.Count(msg, []byte("\n")) != bytes.Count(msg, []byte("\r\n")))
		app := c.Append("INBOX", int64(len(msg)), nil)
		app.Write(msg)
		app.Close()
		data, err := app.Wait()
		if err != nil {
			t.Fatalf("APPEND: %v", err)
		}
		uids := imap.UIDSetNum(data.UID)
		defer func() {
			c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
			c.UIDExpunge(uids).Close()
		}()
		msgs, err := c.Fetch(uids, &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("FETCH: %v, %v", msgs, err)
		}
		gotEnv, refEnv := normEnvelope(msgs[0].Envelope, wantEnv), normEnvelope(wantEnv, wantEnv)
		if bytes.Contains(msg, []byte("=?")) {
			// The server sends encoded words as they are (RFC 9051
			// §7.5.2) and go-imap decodes them its own way, broken ones
			// included: text with encoded words is not compared.
			blankText(gotEnv)
			blankText(refEnv)
		}
		if got, want := envKey(gotEnv), envKey(refEnv); got != want {
			t.Errorf("ENVELOPE through the server:\n%s\nwant\n%s", got, want)
		}
		// The header alone is read only as far as it goes (the store's
		// header scan): it must be the message's header exactly.
		hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
		hm, err := c.Fetch(uids, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{hdr}}).Collect()
		if err != nil || len(hm) != 1 {
			t.Fatalf("FETCH BODY.PEEK[HEADER]: %v, %v", hm, err)
		}
		if got, want := hm[0].FindBodySection(hdr), msg[:part.HeaderEnd(msg, 0)]; !bytes.Equal(got, want) {
			t.Errorf("BODY[HEADER] = %q, want %q", got, want)
		}
		// Without close delimiters, how many parts there are and where the
		// last one ends is a matter of reading (go-message drops the last
		// part; the server, like Dovecot, keeps it): only the envelope is
		// compared then.
		if !compareSizes {
			return
		}
		got, want := normBody(msgs[0].BodyStructure, true), normBody(wantBody, true)
		if got, want := bodyKey(got), bodyKey(want); got != want {
			t.Errorf("BODYSTRUCTURE through the server:\n%s\nwant\n%s", got, want)
		}
	})
}

// goimapHeader reads msg's header as go-imap does, and how many bytes it
// took.
func goimapHeader(msg []byte) (textproto.Header, int, error) {
	r := bytes.NewReader(msg)
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	return h, len(msg) - r.Len() - br.Buffered(), err
}

// allClosed reports whether every multipart of the message ends with its
// close delimiter; without one, where the last part ends is a matter of
// reading (the server keeps its trailing line end, go-imap drops it).
func allClosed(msg []byte, p *part.Part) bool {
	if len(p.Children) > 0 {
		body, close := msg[p.BodyStart:p.End], []byte("--"+p.Param("boundary")+"--")
		if !bytes.HasPrefix(body, close) && !bytes.Contains(body, append([]byte("\n"), close...)) {
			return false // no close delimiter at the start of a line
		}
	}
	for _, c := range p.Children {
		if !allClosed(msg, c) {
			return false
		}
	}
	return p.Message == nil || allClosed(msg, p.Message)
}

// controlInHeaders reports whether a header of any part holds control
// characters other than tab and line ends.
func controlInHeaders(msg []byte, p *part.Part) bool {
	h := msg[p.Start:p.BodyStart]
	if bytes.ContainsFunc(h, func(r rune) bool {
		return r < 0x20 && r != '\t' && r != '\r' && r != '\n' || r == 0x7f
	}) || bytes.Count(h, []byte("\r")) != bytes.Count(h, []byte("\r\n")) {
		return true // bare CRs too: the server drops them when unfolding
	}
	if slices.ContainsFunc(p.Children, func(c *part.Part) bool { return controlInHeaders(msg, c) }) {
		return true
	}
	return p.Message != nil && controlInHeaders(msg, p.Message)
}

// headersAgree reports whether go-imap's header reader ends every part's
// and encapsulated message's header where the server does.
func headersAgree(msg []byte, p *part.Part) bool {
	if _, n, err := goimapHeader(msg[p.Start:p.End]); err != nil || p.Start+n != p.BodyStart {
		return false
	}
	if slices.ContainsFunc(p.Children, func(c *part.Part) bool { return !headersAgree(msg, c) }) {
		return false
	}
	return p.Message == nil || headersAgree(msg, p.Message)
}

// strictTypes reports whether every Content-Type in the message is one
// Go's mime package accepts.
func strictTypes(p *part.Part) bool {
	if v, ok := p.Header.Get("Content-Type"); ok {
		if _, _, err := mime.ParseMediaType(v); err != nil {
			return false
		}
	}
	for _, c := range p.Children {
		if !strictTypes(c) {
			return false
		}
	}
	return p.Message == nil || strictTypes(p.Message)
}

// childless reports whether a structure has a multipart without parts, or
// without a subtype (not a media type: text/plain by RFC 2045 §5.2).
func childless(bs imap.BodyStructure) bool {
	switch b := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(b.Children) == 0 || b.Subtype == "" {
			return true
		}
		return slices.ContainsFunc(b.Children, childless)
	case *imap.BodyStructureSinglePart:
		return b.MessageRFC822 != nil && childless(b.MessageRFC822.BodyStructure)
	}
	return false
}

// charsetWords decodes RFC 2047 words in any charset go-message knows,
// and in any other as their bytes.
var charsetWords = &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	if cr, err := charset.Reader(cs, r); err == nil {
		return cr, nil
	}
	return r, nil
}}

// normEnvelope evens out what the server does on purpose and go-imap
// does not: encoded words are decoded in every charset, and group
// markers and MISSING_* parts are addresses go-imap leaves out. Where
// ref (go-imap's) has no address in a field, the field is not compared
// (go-imap drops a field it cannot parse whole).
func normEnvelope(e, ref *imap.Envelope) *imap.Envelope {
	if e == nil {
		e = &imap.Envelope{}
	}
	out := *e
	// The server unfolds values and drops stray CRs and LFs, which no
	// quoted string may hold.
	flat := func(s string) string {
		return strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(s))
	}
	out.Subject = flat(e.Subject)
	if d, err := charsetWords.DecodeHeader(out.Subject); err == nil {
		out.Subject = d
	}
	list := func(l, r []imap.Address) []imap.Address {
		if len(r) == 0 {
			return nil
		}
		var o []imap.Address
		for _, a := range l {
			if a.Mailbox == "" || a.Host == "" || a.Mailbox == "MISSING_MAILBOX" || a.Host == "MISSING_DOMAIN" {
				continue
			}
			a.Name = flat(a.Name)
			if d, err := charsetWords.DecodeHeader(a.Name); err == nil {
				a.Name = strings.TrimSpace(d)
			}
			o = append(o, imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host})
		}
		return o
	}
	if ref == nil {
		ref = e
	}
	if ref.Date.IsZero() {
		// The server sends the Date field as it is (RFC 9051 §7.5.2);
		// where go-imap could not parse it, imapclient sometimes can.
		out.Date = time.Time{}
	}
	out.From, out.Sender, out.ReplyTo = list(e.From, ref.From), list(e.Sender, ref.Sender), list(e.ReplyTo, ref.ReplyTo)
	out.To, out.Cc, out.Bcc = list(e.To, ref.To), list(e.Cc, ref.Cc), list(e.Bcc, ref.Bcc)
	return &out
}

// blankText clears an envelope's subject and display names.
func blankText(e *imap.Envelope) {
	e.Subject = ""
	for _, l := range [][]imap.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		for i := range l {
			l[i].Name = ""
		}
	}
}

// normBody evens out the server's deliberate differences: RFC 2045's
// default charset made explicit, the encoding's case, line counts (the
// server counts a last line without a line end, as Dovecot does), and
// sizes where the message leaves them open.
func normBody(bs imap.BodyStructure, sizes bool) imap.BodyStructure {
	switch b := bs.(type) {
	case *imap.BodyStructureSinglePart:
		o := *b
		o.Type, o.Subtype = strings.ToLower(b.Type), strings.ToLower(b.Subtype)
		// A comment in Content-Transfer-Encoding is no encoding.
		enc, _, _ := strings.Cut(b.Encoding, "(")
		if o.Encoding = strings.ToLower(strings.TrimSpace(enc)); o.Encoding == "" {
			o.Encoding = "7bit"
		}
		o.Params = maps.Clone(b.Params)
		if strings.EqualFold(o.Params["charset"], "us-ascii") {
			delete(o.Params, "charset")
		}
		if len(o.Params) == 0 {
			o.Params = nil
		}
		if o.Subtype == "" || strings.ContainsAny(o.Type+o.Subtype, " \t\r\n/;") {
			// Not a media type: RFC 2045 §5.2's default applies.
			o.Type, o.Subtype, o.Params = "text", "plain", nil
		}
		o.Text = nil
		if o.Type == "text" {
			o.Text = &imap.BodyStructureText{}
		}
		if !sizes {
			o.Size = 0
		}
		if m := b.MessageRFC822; m != nil {
			o.MessageRFC822 = &imap.BodyStructureMessageRFC822{Envelope: normEnvelope(m.Envelope, nil), BodyStructure: normBody(m.BodyStructure, sizes)}
		}
		if e := b.Extended; e != nil && e.Disposition != nil {
			ext := *e
			ext.Disposition = &imap.BodyStructureDisposition{Value: strings.ToLower(e.Disposition.Value), Params: e.Disposition.Params}
			o.Extended = &ext
		}
		return &o
	case *imap.BodyStructureMultiPart:
		o := *b
		o.Subtype = strings.ToLower(b.Subtype)
		o.Children = nil
		for _, c := range b.Children {
			o.Children = append(o.Children, normBody(c, sizes))
		}
		return &o
	}
	return bs
}

// envelopeDate is the date layout go-imap's server writes in ENVELOPE.
const envelopeDate = "Mon, 02 Jan 2006 15:04:05 -0700"

// wireText is s as go-imap's server writes it in an ENVELOPE (RFC 2047
// Q-encoded) and its client reads it back (decoded).
func wireText(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	return decodedText(enc)
}

// decodedText is s after imapclient's RFC 2047 decoding.
func decodedText(s string) string {
	out, err := (&mime.WordDecoder{}).DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}

// wireEnvelope is e after go-imap's server encoder and client decoder.
func wireEnvelope(e *imap.Envelope) *imap.Envelope {
	if e == nil {
		e = &imap.Envelope{}
	}
	out := &imap.Envelope{Subject: wireText(e.Subject)}
	if !e.Date.IsZero() {
		out.Date, _ = netmail.ParseDate(e.Date.Format(envelopeDate))
	}
	addrs := func(l []imap.Address) []imap.Address {
		var o []imap.Address
		for _, a := range l {
			o = append(o, imap.Address{Name: wireText(a.Name), Mailbox: a.Mailbox, Host: a.Host})
		}
		return o
	}
	sender, replyTo := e.Sender, e.ReplyTo
	if sender == nil {
		sender = e.From
	}
	if replyTo == nil {
		replyTo = e.From
	}
	out.From, out.Sender, out.ReplyTo = addrs(e.From), addrs(sender), addrs(replyTo)
	out.To, out.Cc, out.Bcc = addrs(e.To), addrs(e.Cc), addrs(e.Bcc)
	var h mail.Header
	if len(e.InReplyTo) > 0 {
		h.Set("In-Reply-To", "<"+strings.Join(e.InReplyTo, "> <")+">")
		out.InReplyTo, _ = h.MsgIDList("In-Reply-To")
	}
	if e.MessageID != "" {
		h.Set("Message-Id", "<"+e.MessageID+">")
		out.MessageID, _ = h.MessageID()
	}
	return out
}

// wireParams is a parameter list after the server's encoder (sorted
// key-value pairs) and the client's decoder; ok is false when the client
// cannot read it.
func wireParams(p map[string]string) (map[string]string, bool) {
	keys := slices.Sorted(maps.Keys(p))
	var out map[string]string
	k := ""
	for _, key := range keys {
		for _, s := range []string{key, p[key]} {
			if k == "" {
				k = s
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[strings.ToLower(k)] = decodedText(s)
			k = ""
		}
	}
	return out, k == ""
}

// wireBody is bs after go-imap's server encoder and client decoder.
func wireBody(bs imap.BodyStructure) (imap.BodyStructure, bool) {
	ok := true
	params := func(p map[string]string) map[string]string {
		o, good := wireParams(p)
		ok = ok && good
		return o
	}
	disp := func(d *imap.BodyStructureDisposition) *imap.BodyStructureDisposition {
		if d == nil {
			return nil
		}
		return &imap.BodyStructureDisposition{Value: d.Value, Params: params(d.Params)}
	}
	switch b := bs.(type) {
	case *imap.BodyStructureSinglePart:
		o := *b
		o.Params = params(b.Params)
		o.Description = decodedText(b.Description)
		if o.Encoding = strings.ToLower(b.Encoding); o.Encoding == "" {
			o.Encoding = "7bit"
		}
		if m := b.MessageRFC822; m != nil {
			inner, good := wireBody(m.BodyStructure)
			ok = ok && good
			o.MessageRFC822 = &imap.BodyStructureMessageRFC822{Envelope: wireEnvelope(m.Envelope), BodyStructure: inner, NumLines: m.NumLines}
		}
		if e := b.Extended; e != nil {
			o.Extended = &imap.BodyStructureSinglePartExt{Disposition: disp(e.Disposition), Language: e.Language, Location: e.Location}
		}
		return &o, ok
	case *imap.BodyStructureMultiPart:
		o := *b
		o.Children = nil
		for _, c := range b.Children {
			w, good := wireBody(c)
			ok = ok && good
			o.Children = append(o.Children, w)
		}
		if e := b.Extended; e != nil {
			o.Extended = &imap.BodyStructureMultiPartExt{Params: params(e.Params), Disposition: disp(e.Disposition), Language: e.Language, Location: e.Location}
		}
		return &o, ok
	}
	return bs, false
}

// envKey renders an envelope for comparison: nil and empty lists alike,
// dates by what they print.
func envKey(e *imap.Envelope) string {
	if e == nil {
		return "NIL"
	}
	var b strings.Builder
	date := ""
	if !e.Date.IsZero() {
		date = e.Date.Format(envelopeDate)
	}
	fmt.Fprintf(&b, "date=%q subject=%q", date, e.Subject)
	for _, l := range [][]imap.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b.WriteString(" (")
		for _, a := range l {
			fmt.Fprintf(&b, "(%q %q %q)", a.Name, a.Mailbox, a.Host)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " in-reply-to=%q message-id=%q", e.InReplyTo, e.MessageID)
	return b.String()
}

// bodyKey renders a body structure for comparison.
func bodyKey(bs imap.BodyStructure) string {
	var b strings.Builder
	params := func(p map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(p)) {
			fmt.Fprintf(&b, " %q=%q", k, p[k])
		}
	}
	disp := func(d *imap.BodyStructureDisposition) {
		if d != nil {
			fmt.Fprintf(&b, " disp=%q", d.Value)
			params(d.Params)
		}
	}
	switch p := bs.(type) {
	case *imap.BodyStructureSinglePart:
		fmt.Fprintf(&b, "(%q/%q", strings.ToLower(p.Type), strings.ToLower(p.Subtype))
		params(p.Params)
		fmt.Fprintf(&b, " id=%q desc=%q enc=%q size=%d", p.ID, p.Description, p.Encoding, p.Size)
		if m := p.MessageRFC822; m != nil {
			fmt.Fprintf(&b, " env=[%s] body=%s lines=%d", envKey(m.Envelope), bodyKey(m.BodyStructure), m.NumLines)
		}
		if p.Text != nil {
			fmt.Fprintf(&b, " lines=%d", p.Text.NumLines)
		}
		if e := p.Extended; e != nil {
			disp(e.Disposition)
			fmt.Fprintf(&b, " lang=%q loc=%q", e.Language, e.Location)
		}
	case *imap.BodyStructureMultiPart:
		b.WriteString("(")
		for _, c := range p.Children {
			b.WriteString(bodyKey(c))
		}
		fmt.Fprintf(&b, " %q", strings.ToLower(p.Subtype))
		if e := p.Extended; e != nil {
			params(e.Params)
			disp(e.Disposition)
			fmt.Fprintf(&b, " lang=%q loc=%q", e.Language, e.Location)
		}
	default:
		fmt.Fprintf(&b, "(%T", bs)
	}
	b.WriteString(")")
	return b.String()
}

// panicWatch counts log records that report a recovered panic (go-imap
// recovers a panic in a connection and only logs it).
type panicWatch struct{ n *atomic.Int32 }

func (h panicWatch) Enabled(context.Context, slog.Level) bool { return true }
func (h panicWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.n.Add(1)
	}
	return nil
}
func (h panicWatch) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicWatch) WithGroup(string) slog.Handler      { return h }

// FuzzWireInput sends arbitrary bytes to the listener, before login or
// after it (by the first byte), and closes its side. Whatever they are,
// the connection ends without a panic, and the server goes on serving.
func FuzzWireInput(f *testing.F) {
	for _, s := range []string{
		"\x00a1 ID " + strings.Repeat("(", 300) + "{0+}\r\n ((\r\n",
		"\x01a1 SEARCH (((SUBJECT {3}\r\nabc) ALL)\r\na2 FETCH 1:* (ENVELOPE BODY[HEADER.FIELDS (SUBJECT)])\r\n",
		"\x01a1 APPEND INBOX (\\Seen) {5+}\r\nhello junk {2+}\r\nxy\r\na2 APPEND {5}\r\nINBOX {3}\r\nabc\r\n",
		"\x01a1 CREATE {5+}\r\nabcde\r\na2 GETACL {5+}\r\nINBOX\r\na3 SETACL INBOX bob@example.test lr\r\n",
		"\x00a1 LOGIN {5}\r\nalice {8}\r\npassword\r\na2 AUTHENTICATE PLAIN\r\n*\r\na3 IDLE\r\nDONE\r\n",
		"\x01a1 SELECT INBOX\r\na2 STORE 1 +FLAGS (\\Seen)\r\na3 UID SEARCH CHARSET UTF-8 TEXT \"x\"\r\n",
	} {
		f.Add([]byte(s))
	}
	var panics atomic.Int32
	ts := newTestServer(f, func(o *Options) { o.Logger = slog.New(panicWatch{&panics}) })
	f.Fuzz(func(t *testing.T, in []byte) {
		c := testutil.Dial(t, ts.plain, time.Minute)
		var w bytes.Buffer
		if len(in) > 0 && in[0]&1 == 1 {
			w.WriteString("a0 LOGIN alice@example.test password\r\n")
		}
		if len(in) > 0 {
			w.Write(in[1:])
		}
		go func() {
			c.Write(w.Bytes())
			c.(*net.TCPConn).CloseWrite()
		}()
		// The server ends the connection: at EOF, or with a reset when it
		// closes before reading all (after BYE); only a timeout is wrong.
		if _, err := io.ReadAll(c); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server did not end the connection: %v", err)
			}
		}
		if n := panics.Load(); n > 0 {
			t.Fatalf("%d panics logged", n)
		}
		r := dialRaw(t, ts.plain)
		r.ok("n NOOP")
	})
}
