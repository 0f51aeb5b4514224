package part

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"mailroom/imapd/proto"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func wire(f func(e *proto.Encoder)) string {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	e := proto.NewEncoder(w)
	f(e)
	e.Flush()
	return buf.String()
}

func envelopeOf(msg []byte) string {
	p := Parse(msg)
	return wire(func(e *proto.Encoder) { WriteEnvelope(e, EnvelopeOf(p.Header)) })
}

// TestEnvelope uses the cases of imaptest's fetch-envelope script, which
// Dovecot passes: groups, empty Sender/Reply-To, comments as names,
// source routes.
func TestEnvelope(t *testing.T) {
	tests := []struct{ header, want string }{
		{`Message-ID: <msg@id>
In-Reply-To: <reply@to.id>
Date: Thu, 15 Feb 2007 01:02:03 +0200
Subject: subject header
From: From Real <fromuser@fromdomain.org>
To: To Real <touser@todomain.org>
Cc: Cc Real <ccuser@ccdomain.org>
Bcc: Bcc Real <bccuser@bccdomain.org>
Sender: Sender Real <senderuser@senderdomain.org>
Reply-To: ReplyTo Real <replytouser@replytodomain.org>
`, `("Thu, 15 Feb 2007 01:02:03 +0200" "subject header" (("From Real" NIL "fromuser" "fromdomain.org")) (("Sender Real" NIL "senderuser" "senderdomain.org")) (("ReplyTo Real" NIL "replytouser" "replytodomain.org")) (("To Real" NIL "touser" "todomain.org")) (("Cc Real" NIL "ccuser" "ccdomain.org")) (("Bcc Real" NIL "bccuser" "bccdomain.org")) "<reply@to.id>" "<msg@id>")`},
		{`Date: Thu, 15 Feb 2007 01:02:03 +0200
From: user@domain (Real Name)
To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;
Cc: group:;, group2: (foo) ;
`, `("Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) ((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)`},
		{`Date: Thu, 15 Feb 2007 01:02:03 +0200
From: user@domain (Real Name)
Sender: 
Reply-To: 
`, `("Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) NIL NIL NIL NIL NIL)`},
		{`Date: Thu, 15 Feb 2007 01:02:03 +0200
From: <@route:user@domain>
`, `("Thu, 15 Feb 2007 01:02:03 +0200" NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) NIL NIL NIL NIL NIL)`},
		{`From: "Doe, \"John\"" <john@example.com>, jane@example.com
To: undisclosed-recipients:;
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=
 folded
From : second@example.com
`, `(NIL "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= folded" (("Doe, \"John\"" NIL "john" "example.com")(NIL NIL "jane" "example.com")) (("Doe, \"John\"" NIL "john" "example.com")(NIL NIL "jane" "example.com")) (("Doe, \"John\"" NIL "john" "example.com")(NIL NIL "jane" "example.com")) ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)`},
		{"From: nobody\nTo: @\n", `(NIL NIL ((NIL NIL "nobody" "MISSING_DOMAIN")) ((NIL NIL "nobody" "MISSING_DOMAIN")) ((NIL NIL "nobody" "MISSING_DOMAIN")) ((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")) NIL NIL NIL NIL)`},
	}
	for _, tt := range tests {
		got := envelopeOf(crlf(tt.header + "\nbody\n"))
		want := strings.ReplaceAll(tt.want, ")(", ")(")
		if got != want {
			t.Errorf("header:\n%s\ngot  %s\nwant %s", tt.header, got, want)
		}
	}
}

const nested = `From: user@domain.org
Date: Sat, 24 Mar 2007 23:00:00 +0200
Mime-Version: 1.0
Content-Type: multipart/mixed; boundary="foo
 bar"

Root MIME prologue

--foo bar
Content-Type: text/x-myown; charset=us-ascii

hello

--foo bar
Content-Type: message/rfc822

From: sub@domain.org
Date: Sun, 12 Aug 2012 12:34:56 +0300
Subject: submsg
Content-Type: multipart/alternative; boundary="sub1"

Sub MIME prologue
--sub1
Content-Type: text/html

<p>Hello world</p>

--sub1
Content-Type: text/plain

Hello another world

--sub1--
Sub MIME epilogue

--foo bar--
Root MIME epilogue
`

func TestBodyStructure(t *testing.T) {
	msg := crlf(nested)
	root := Parse(msg)
	got := wire(func(e *proto.Encoder) { WriteBodyStructure(e, msg, root, false) })
	want := `(("text" "x-myown" ("charset" "us-ascii") NIL NIL "7BIT" 7 1)("message" "rfc822" NIL NIL NIL "7BIT" 298 (NIL "submsg" (("sub" NIL "sub" "domain.org")) (("sub" NIL "sub" "domain.org")) (("sub" NIL "sub" "domain.org")) NIL NIL NIL NIL NIL) (("text" "html" ("charset" "us-ascii") NIL NIL "7BIT" 20 1)("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 21 1) "alternative") 18) "mixed")`
	// The encapsulated message's Date is a string; check it separately.
	want = strings.Replace(want, `(NIL "submsg"`, `("Sun, 12 Aug 2012 12:34:56 +0300" "submsg"`, 1)
	want = strings.ReplaceAll(want, `(("sub" NIL "sub" "domain.org"))`, `((NIL NIL "sub" "domain.org"))`)
	if got != want {
		t.Errorf("BODY:\ngot  %s\nwant %s", got, want)
	}
	ext := wire(func(e *proto.Encoder) { WriteBodyStructure(e, msg, root, true) })
	if !strings.HasSuffix(ext, `"mixed" ("boundary" "foo bar") NIL NIL NIL)`) {
		t.Errorf("BODYSTRUCTURE multipart extension: %s", ext)
	}
}

func TestSections(t *testing.T) {
	msg := crlf(nested)
	root := Parse(msg)
	tests := []struct {
		sec  Section
		want string
	}{
		{Section{Path: []int{1}}, "hello\r\n"},
		{Section{Path: []int{1}, Spec: "MIME"}, "Content-Type: text/x-myown; charset=us-ascii\r\n\r\n"},
		{Section{Path: []int{2}, Spec: "HEADER.FIELDS", Fields: []string{"subject", "X-None"}}, "Subject: submsg\r\n\r\n"},
		{Section{Path: []int{2, 1}}, "<p>Hello world</p>\r\n"},
		{Section{Path: []int{2, 2}, Spec: "MIME"}, "Content-Type: text/plain\r\n\r\n"},
		{Section{Spec: "HEADER.FIELDS.NOT", Fields: []string{"from", "date", "mime-version"}}, "Content-Type: multipart/mixed; boundary=\"foo\r\n bar\"\r\n\r\n"},
		{Section{Path: []int{2}, Spec: "TEXT"}, ""}, // checked below
	}
	for _, tt := range tests[:len(tests)-1] {
		got, ok := Extract(msg, root, tt.sec)
		if !ok || string(got) != tt.want {
			t.Errorf("%+v: %q %v, want %q", tt.sec, got, ok, tt.want)
		}
	}
	text, _ := Extract(msg, root, Section{Path: []int{2}, Spec: "TEXT"})
	if !bytes.HasPrefix(text, []byte("Sub MIME prologue\r\n--sub1")) || !bytes.HasSuffix(text, []byte("Sub MIME epilogue\r\n")) {
		t.Errorf("2.TEXT: %q", text)
	}
	whole, _ := Extract(msg, root, Section{})
	if !bytes.Equal(whole, msg) {
		t.Errorf("BODY[] is not the message")
	}
	for _, bad := range [][]int{{3}, {1, 1}, {2, 3}, {0}} {
		if _, ok := Extract(msg, root, Section{Path: bad}); ok {
			t.Errorf("path %v found", bad)
		}
	}
	if _, ok := Extract(msg, root, Section{Path: []int{1}, Spec: "HEADER"}); ok {
		t.Errorf("1.HEADER of a text part found")
	}
	// A message that is not multipart has part 1, its body.
	plain := crlf("Subject: x\n\nbody\n")
	if got, ok := Extract(plain, Parse(plain), Section{Path: []int{1}}); !ok || string(got) != "body\r\n" {
		t.Errorf("BODY[1] of a plain message: %q %v", got, ok)
	}
}

func TestDecoded(t *testing.T) {
	msg := crlf(`Content-Type: multipart/mixed; boundary=b

--b
Content-Transfer-Encoding: base64

aGVsbG8g
d29ybGQ=
--b
Content-Transfer-Encoding: Quoted-Printable

caf=C3=A9 =
join
--b
Content-Transfer-Encoding: x-uuencode

begin
--b--
`)
	root := Parse(msg)
	for i, want := range []string{"hello world", "café join"} {
		got, err := Decoded(msg, root.Children[i])
		if err != nil || string(got) != want {
			t.Errorf("part %d: %q %v, want %q", i+1, got, err, want)
		}
	}
	if _, err := Decoded(msg, root.Children[2]); err != ErrUnknownCTE {
		t.Errorf("x-uuencode: %v", err)
	}
}

// TestSamplesInBounds parses the sample corpus: every offset within the
// message, and every part's sections extractable.
func TestSamplesInBounds(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/messages/*.eml")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkTree(t, b, Parse(b))
	}
}

func checkTree(t *testing.T, b []byte, p *Part) {
	t.Helper()
	if p.Start < 0 || p.Start > p.BodyStart || p.BodyStart > p.End || p.End > len(b) {
		t.Fatalf("offsets out of order: %d %d %d of %d", p.Start, p.BodyStart, p.End, len(b))
	}
	if p.Type == "multipart" && len(p.Children) == 0 {
		t.Fatalf("multipart without parts")
	}
	for _, c := range p.Children {
		if c.Start < p.BodyStart || c.End > p.End {
			t.Fatalf("child outside its parent")
		}
		checkTree(t, b, c)
	}
	if p.Message != nil {
		checkTree(t, b, p.Message)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(crlf(nested))
	f.Add([]byte("From: a@b (c)\r\nTo: g: x@y;, <@r:z@w>\r\n\r\nbody"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\nContent-Type: multipart/digest; boundary=y\n\n--y\n\n--y--\n--x--\n"))
	files, _ := filepath.Glob("../../testdata/messages/*.eml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		root := Parse(b)
		checkTree(t, b, root)
		h, _ := Extract(b, root, Section{Spec: "HEADER"})
		text, _ := Extract(b, root, Section{Spec: "TEXT"})
		if whole, _ := Extract(b, root, Section{}); !bytes.Equal(whole, b) || !bytes.Equal(append(bytes.Clone(h), text...), b) {
			t.Fatal("BODY[] or HEADER + TEXT is not the message")
		}
		wire(func(e *proto.Encoder) {
			WriteBodyStructure(e, b, root, true)
			WriteEnvelope(e, EnvelopeOf(root.Header))
		})
		for _, path := range [][]int{nil, {1}, {1, 1}, {2, 1, 1}} {
			for _, spec := range []string{"", "HEADER", "TEXT", "MIME", "HEADER.FIELDS"} {
				Extract(b, root, Section{Path: path, Spec: spec, Fields: []string{"subject"}})
			}
			if p := root.Find(path); p != nil {
				Decoded(b, p)
			}
		}
		checkPreview(t, Preview(b, root))
	})
}

// checkPreview holds RFC 8970's rules: plain UTF-8 text of at most
// PreviewLen characters, here with white space folded.
func checkPreview(t *testing.T, p string) {
	t.Helper()
	if !utf8.ValidString(p) || utf8.RuneCountInString(p) > PreviewLen ||
		strings.TrimSpace(p) != p || strings.Contains(p, "  ") || strings.ContainsAny(p, "\r\n\t\x00") {
		t.Fatalf("bad preview %q", p)
	}
}

// TestPreview: the first text/plain part wins over HTML wherever it is;
// HTML alone is shown without its markup, style, title or entities; attachments
// and attached messages are not the message's text; charsets and
// transfer encodings are undone; the result is cut at 256 characters.
func TestPreview(t *testing.T) {
	long := strings.Repeat("é", 300)
	for _, c := range []struct{ name, msg, want string }{
		{"plain", "Subject: x\n\nHello\n  there,\tworld.\n", "Hello there, world."},
		{"none", "Subject: x\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0K\n", ""},
		{"html only", "Content-Type: text/html\n\n<html><head><style>p{color:red}</style><title>T</title></head><body><!-- c --><p>Caf&eacute; &amp; <b>tea</b></p><script>x()</script>now</body></html>\n", "Café & tea now"},
		{"alternative", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b\nContent-Type: text/plain\n\nplain\n--b--\n", "plain"},
		{"attachment skipped", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nattached\n--b\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner text\n--b\nContent-Type: text/plain\n\nbody text\n--b--\n", "body text"},
		{"qp latin1", "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nd=E9j=E0 vu\n", "déjà vu"},
		{"long", "Subject: x\n\n" + long + "\n", long[:2*PreviewLen]},
	} {
		b := crlf(c.msg)
		got := Preview(b, Parse(b))
		checkPreview(t, got)
		if got != c.want {
			t.Errorf("%s: preview %q, want %q", c.name, got, c.want)
		}
	}
}
