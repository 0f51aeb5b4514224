package part

import (
	"bytes"
	"html"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// maxText bounds the text one part yields after charset conversion.
const maxText = 64 << 20

// Text returns a leaf text part's content as UTF-8: transfer encoding
// removed (the raw bytes where it is unknown) and converted from its
// charset where Go knows the charset.
func Text(b []byte, p *Part) []byte {
	raw, err := Decoded(b, p)
	if err != nil {
		raw = b[p.BodyStart:p.End]
	}
	cs := strings.ToLower(p.Param("charset"))
	if cs != "" && cs != "us-ascii" && cs != "utf-8" {
		if r, err := charset.Reader(cs, bytes.NewReader(raw)); err == nil {
			if conv, err := io.ReadAll(io.LimitReader(r, maxText)); err == nil {
				raw = conv
			}
		}
	}
	return raw
}

// PreviewLen is the most characters a preview holds (RFC 8970 §3).
const PreviewLen = 256

// Preview returns a message's preview (FETCH PREVIEW, RFC 8970): the start
// of its first text/plain part, or else of its first text/html part with
// the markup taken out, with white space folded to single spaces and cut
// to PreviewLen characters. A message without text has an empty preview.
func Preview(b []byte, root *Part) string {
	p, isHTML := previewPart(root, 0)
	if p == nil {
		return ""
	}
	body := p.BodyStart
	end := min(p.End, body+64*PreviewLen) // enough for the preview, even in markup
	lead := *p
	lead.End = end
	text := Text(b, &lead)
	if isHTML {
		text = stripMarkup(text)
	}
	return foldSpace(text, PreviewLen)
}

// previewPart finds the first text/plain leaf, depth first, or failing
// that the first text/html one; attachments are passed over.
func previewPart(p *Part, depth int) (*Part, bool) {
	if depth > 100 {
		return nil, false
	}
	switch {
	case len(p.Children) > 0:
		var html *Part
		for _, ch := range p.Children {
			found, isHTML := previewPart(ch, depth+1)
			if found != nil && !isHTML {
				return found, false
			}
			if found != nil && html == nil {
				html = found
			}
		}
		return html, html != nil
	case p.Message != nil:
		return nil, false // an attached message is not this one's text
	case p.Type != "text" || isAttachment(p):
		return nil, false
	case p.Subtype == "plain":
		return p, false
	case p.Subtype == "html":
		return p, true
	}
	return nil, false
}

func isAttachment(p *Part) bool {
	v, _ := p.Header.Get("Content-Disposition")
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "attachment")
}

// stripMarkup drops HTML tags, comments and the content of style,
// script and title elements, and decodes character references.
func stripMarkup(b []byte) []byte {
	var out bytes.Buffer
	s, lower := string(b), asciiLower(b) // same offsets
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			out.WriteString(html.UnescapeString(s))
			break
		}
		out.WriteString(html.UnescapeString(s[:i]))
		s, lower = s[i:], lower[i:]
		closer := ">"
		for _, el := range []string{"style", "script", "title"} {
			if strings.HasPrefix(lower, "<"+el) {
				closer = "</" + el
			}
		}
		if strings.HasPrefix(lower, "<!--") {
			closer = "-->"
		}
		j := strings.Index(lower, closer)
		if j < 0 {
			break // an unclosed tag: nothing after it is text
		}
		j += len(closer)
		if strings.HasPrefix(closer, "</") {
			if k := strings.IndexByte(lower[j:], '>'); k >= 0 {
				j += k + 1
			}
		}
		if closer != ">" || breaksText(lower) {
			out.WriteByte(' ')
		}
		s, lower = s[j:], lower[j:]
	}
	return out.Bytes()
}

// breaksText reports whether the tag at the start of lower separates the
// text around it (<p>, <br>, <td>…), unlike inline ones (<b>, <a>…).
func breaksText(lower string) bool {
	name := strings.TrimPrefix(lower[1:], "/")
	end := strings.IndexFunc(name, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') })
	if end >= 0 {
		name = name[:end]
	}
	switch name {
	case "br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "blockquote", "hr", "pre",
		"h1", "h2", "h3", "h4", "h5", "h6", "body", "section", "article", "header", "footer":
		return true
	}
	return false
}

// asciiLower lowers ASCII letters only, so offsets stay those of b.
func asciiLower(b []byte) string {
	l := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	return string(l)
}

// foldSpace folds runs of white space to one space, trims the ends and
// keeps at most n characters; bytes that are not UTF-8 are dropped.
func foldSpace(b []byte, n int) string {
	var out strings.Builder
	count, space := 0, false
	for len(b) > 0 && count < n {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size <= 1, unicode.IsControl(r) && !unicode.IsSpace(r):
			continue
		case unicode.IsSpace(r):
			space = out.Len() > 0
			continue
		}
		if space {
			if count+1 == n {
				break
			}
			out.WriteByte(' ')
			count++
			space = false
		}
		out.WriteRune(r)
		count++
	}
	return out.String()
}

// BodyText is a message's text as SEARCH BODY and the full-text index
// read it: every text part with its transfer encoding removed and its
// charset converted to UTF-8, and the text of office document
// attachments (OfficeText), one after another; a message that is not
// text at all gives its raw body.
func BodyText(b []byte, root *Part) []byte {
	var out bytes.Buffer
	var walk func(p *Part)
	walk = func(p *Part) {
		switch {
		case len(p.Children) > 0:
			for _, ch := range p.Children {
				walk(ch)
			}
		case p.Message != nil:
			walk(p.Message)
		case p.Type == "text" || p.Type == "message":
			out.Write(Text(b, p))
			out.WriteByte('\n')
		default:
			if t := OfficeText(b, p); t != nil {
				out.Write(t)
				out.WriteByte('\n')
			}
		}
	}
	if len(root.Children) == 0 && root.Message == nil && root.Type != "text" {
		if t := OfficeText(b, root); t != nil {
			return t
		}
		return b[root.BodyStart:root.End]
	}
	walk(root)
	return out.Bytes()
}

// DecodeWords decodes RFC 2047 encoded words in any charset go-message
// knows; on failure the raw text.
func DecodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	dec := &mime.WordDecoder{CharsetReader: charset.Reader}
	if d, err := dec.DecodeHeader(s); err == nil {
		return d
	}
	return s
}
