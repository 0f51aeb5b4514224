package part

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
)

// Section is a FETCH body section (RFC 9051 §6.4.5): a part path and a
// specifier.
type Section struct {
	Path []int
	// Spec is "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"
	// or "MIME".
	Spec   string
	Fields []string // for HEADER.FIELDS and HEADER.FIELDS.NOT
}

// Find returns the part a path names, or nil. Part numbers follow RFC
// 9051 §6.4.5: the parts of a multipart are numbered from 1; a message
// that is not multipart has only part 1, its body; the parts of an
// encapsulated message are numbered below the message/rfc822 part.
func (root *Part) Find(path []int) *Part {
	cur := root
	for i, n := range path {
		container := cur
		if i > 0 && cur.Message != nil {
			container = cur.Message
		}
		switch {
		case len(container.Children) > 0:
			if n < 1 || n > len(container.Children) {
				return nil
			}
			cur = container.Children[n-1]
		case i == 0 || container != cur:
			if n != 1 {
				return nil
			}
			cur = container
		default:
			return nil
		}
	}
	return cur
}

// Extract returns the bytes of a section of message b (parsed as root),
// exactly as stored, and false when the section names no part. HEADER,
// TEXT and HEADER.FIELDS of a part apply to its encapsulated message.
func Extract(b []byte, root *Part, s Section) ([]byte, bool) {
	p := root.Find(s.Path)
	if p == nil {
		return nil, false
	}
	msg := p
	if len(s.Path) > 0 {
		switch s.Spec {
		case "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT":
			if p.Message == nil {
				return nil, false
			}
			msg = p.Message
		}
	}
	switch s.Spec {
	case "":
		if len(s.Path) == 0 {
			return b[root.Start:root.End], true
		}
		return b[p.BodyStart:p.End], true
	case "MIME":
		if len(s.Path) == 0 {
			return nil, false
		}
		return b[p.Start:p.BodyStart], true
	case "HEADER":
		return b[msg.Start:msg.BodyStart], true
	case "TEXT":
		return b[msg.BodyStart:msg.End], true
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		return headerFields(msg.Header, s.Fields, s.Spec == "HEADER.FIELDS.NOT"), true
	}
	return nil, false
}

// headerFields returns the fields named (or, with not, not named) in
// fields, as written, followed by the empty line (RFC 9051 §6.4.5).
func headerFields(h Header, fields []string, not bool) []byte {
	var out []byte
	for _, f := range h {
		match := false
		for _, name := range fields {
			if strings.EqualFold(f.Name, name) {
				match = true
				break
			}
		}
		if match != not {
			out = append(out, f.Raw...)
			if !bytes.HasSuffix(f.Raw, []byte("\n")) {
				out = append(out, '\r', '\n')
			}
		}
	}
	return append(out, '\r', '\n')
}

// ErrUnknownCTE is a BINARY fetch of a part whose transfer encoding the
// server cannot decode (RFC 3516 §4.3: NO [UNKNOWN-CTE]).
var ErrUnknownCTE = errors.New("unknown content transfer encoding")

// Encoding returns a part's Content-Transfer-Encoding as written, "7BIT"
// when absent (as BODYSTRUCTURE shows it).
func (p *Part) Encoding() string {
	v, _ := p.Header.Get("Content-Transfer-Encoding")
	if v = strings.TrimSpace(stripComments(v)); v == "" {
		return "7BIT"
	}
	return v
}

// Decoded returns the content of a leaf part with its transfer encoding
// removed (FETCH BINARY, RFC 3516). Base64 and quoted-printable are read
// leniently: characters outside the alphabet are skipped, a broken tail
// ends the content.
func Decoded(b []byte, p *Part) ([]byte, error) {
	body := b[p.BodyStart:p.End]
	switch strings.ToLower(p.Encoding()) {
	case "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		clean := make([]byte, 0, len(body))
		for _, c := range body {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
				clean = append(clean, c)
			}
		}
		clean = clean[:len(clean)/4*4+tail(len(clean)%4)]
		out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
		n, err := base64.RawStdEncoding.Decode(out, clean)
		if err != nil {
			return out[:n], nil
		}
		return out[:n], nil
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil && len(out) == 0 {
			return body, nil
		}
		return out, nil
	}
	return nil, ErrUnknownCTE
}

// tail is how many of the last, incomplete base64 quantum's characters
// can be decoded: one alone cannot.
func tail(n int) int {
	if n == 1 {
		return 0
	}
	return n
}
