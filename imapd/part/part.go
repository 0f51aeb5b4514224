package part

import (
	"bytes"
	"strings"
)

// Limits on the tree one message may make: deeper or further parts are
// served as plain leaves, so a hostile message cannot make FETCH recurse
// or allocate without bound.
const (
	MaxDepth = 32
	MaxParts = 5000
)

// Param is one Content-Type or Content-Disposition parameter, name in
// lower case, value as written (unquoted).
type Param struct{ Name, Value string }

// Part is one MIME entity of a message, as offsets into the message's
// bytes: its header is b[Start:BodyStart] and its body b[BodyStart:End].
// The root Part is the message itself (Start 0).
type Part struct {
	Start, BodyStart, End int
	Header                Header
	// Type and Subtype in lower case, from Content-Type or the default
	// (text/plain; message/rfc822 inside multipart/digest).
	Type, Subtype string
	Params        []Param
	// Children of a multipart, in order; never empty for a multipart
	// (one without parts is served as text/plain, which is how readers
	// show it and what RFC 9051's grammar allows).
	Children []*Part
	// Message is the encapsulated message of a message/rfc822 (or
	// message/global) part.
	Message *Part
	// Lines is the number of lines of the body (text and message parts).
	Lines int
}

// Parse builds the part tree of a message. It never fails: whatever does
// not parse is served as it is, as text/plain.
func Parse(b []byte) *Part {
	n := 0
	return parse(b, 0, len(b), "text", "plain", 0, &n)
}

func parse(b []byte, start, end int, defType, defSub string, depth int, count *int) *Part {
	*count++
	bodyStart := HeaderEnd(b[:end], start)
	p := &Part{Start: start, BodyStart: bodyStart, End: end, Header: ParseHeader(b, start, bodyStart)}
	if v, ok := p.Header.Get("Content-Type"); ok {
		p.Type, p.Subtype, p.Params = parseContentType(v)
	}
	if p.Type == "" {
		p.Type, p.Subtype, p.Params = defType, defSub, nil
	}
	if p.Type == "text" && p.Param("charset") == "" {
		// RFC 2045 §5.2's default, made explicit as other servers do.
		p.Params = append(p.Params, Param{"charset", "us-ascii"})
	}
	deeper := depth < MaxDepth && *count < MaxParts
	switch {
	case p.Type == "multipart":
		if deeper {
			childType, childSub := "text", "plain"
			if p.Subtype == "digest" {
				childType, childSub = "message", "rfc822"
			}
			for _, r := range bodyParts(b, bodyStart, end, p.Param("boundary")) {
				if *count >= MaxParts {
					break
				}
				p.Children = append(p.Children, parse(b, r[0], r[1], childType, childSub, depth+1, count))
			}
		}
		if len(p.Children) == 0 {
			p.Type, p.Subtype, p.Params = "text", "plain", []Param{{"charset", "us-ascii"}}
			p.Lines = countLines(b[bodyStart:end])
		}
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global"):
		if deeper {
			p.Message = parse(b, bodyStart, end, "text", "plain", depth+1, count)
		}
		p.Lines = countLines(b[bodyStart:end])
	case p.Type == "text":
		p.Lines = countLines(b[bodyStart:end])
	}
	return p
}

// IsMessage reports whether p encapsulates a message (BODYSTRUCTURE
// gives its envelope, structure and lines).
func (p *Part) IsMessage() bool { return p.Message != nil }

// Param returns the value of the parameter name ("" if absent).
func (p *Part) Param(name string) string {
	for _, pr := range p.Params {
		if pr.Name == name {
			return pr.Value
		}
	}
	return ""
}

// countLines counts the lines of a body: its line ends, and a last line
// without one.
func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// bodyParts returns the [start, end) of each part of a multipart body
// b[start:end] with the given boundary (RFC 2046 §5.1.1): a delimiter is
// "--boundary" at the start of a line, followed by optional white space
// and the line end; the line end before it belongs to the delimiter. The
// preamble and the epilogue are not parts; a missing close delimiter ends
// the last part at the end of the body.
func bodyParts(b []byte, start, end int, boundary string) [][2]int {
	if boundary == "" || len(boundary) > 200 {
		return nil
	}
	delim := []byte("--" + boundary)
	var parts [][2]int
	partStart := -1
	for i := start; i < end; {
		lineEnd := bytes.IndexByte(b[i:end], '\n')
		next := end
		if lineEnd >= 0 {
			next = i + lineEnd + 1
		}
		line := b[i:next]
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			// Anything after "--" on a close delimiter is ignored, as
			// readers do.
			closing := bytes.HasPrefix(rest, []byte("--"))
			if len(rest) == 0 || closing {
				if partStart >= 0 {
					parts = append(parts, [2]int{partStart, precedingLineEnd(b, partStart, i)})
				}
				// A delimiter that ends the body without a line end closes
				// an open part, or is one empty part (as go-message reads
				// it).
				unended := next == end && !bytes.HasSuffix(line, []byte("\n"))
				if closing || unended && partStart >= 0 {
					return parts
				}
				if unended {
					return [][2]int{{end, end}}
				}
				partStart = next
			}
		}
		i = next
	}
	if partStart >= 0 {
		// No close delimiter: the last part runs to the end of the body.
		parts = append(parts, [2]int{partStart, end})
	}
	return parts
}

// precedingLineEnd returns where a part ends that is followed by a
// delimiter at i: before the CRLF (or LF) that precedes the delimiter.
func precedingLineEnd(b []byte, partStart, i int) int {
	if i > partStart && b[i-1] == '\n' {
		i--
		if i > partStart && b[i-1] == '\r' {
			i--
		}
	}
	return i
}

// parseContentType reads "type/subtype; name=value; …" leniently: a
// value without a slash, or with characters no token has, is no type at
// all (the default applies).
func parseContentType(v string) (typ, sub string, params []Param) {
	if !commentsClosed(v) {
		return "", "", nil // not a structured value anyone reads alike
	}
	value, params := parseParams(v)
	t, s, ok := strings.Cut(value, "/")
	t, s = strings.TrimSpace(t), strings.TrimSpace(s)
	if !ok || !isToken(t) || !isToken(s) {
		return "", "", nil
	}
	return strings.ToLower(t), strings.ToLower(s), params
}

// parseParams splits a structured value into its leading value and its
// ";"-separated parameters, skipping comments. Quoted values are
// unquoted; RFC 2231 continuations are kept as the separate parameters
// they are written as.
func parseParams(v string) (string, []Param) {
	v = stripComments(v)
	value, rest, _ := strings.Cut(v, ";")
	var params []Param
	for rest != "" && len(params) < 100 {
		var item string
		item, rest = cutParam(rest)
		name, val, ok := strings.Cut(item, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' {
			val = unquote(val)
		}
		params = append(params, Param{name, val})
	}
	return strings.TrimSpace(value), params
}

// cutParam returns the text up to the next ";" outside a quoted string.
func cutParam(s string) (item, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ';' && !inQuote:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// unquote removes the quotes and escapes of a quoted string (and stops at
// its closing quote).
func unquote(s string) string {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stripComments removes RFC 5322 comments (nested, outside quoted
// strings).
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (inQuote || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
			}
			i++
			continue
		case c == '"' && depth == 0:
			inQuote = !inQuote
		case c == '(' && !inQuote:
			depth++
			continue
		case c == ')' && !inQuote && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// commentsClosed reports whether every comment in s (outside quoted
// strings) is closed.
func commentsClosed(s string) bool {
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"' && depth == 0:
			inQuote = !inQuote
		case c == '(' && !inQuote:
			depth++
		case c == ')' && !inQuote && depth > 0:
			depth--
		}
	}
	return depth == 0
}

// isToken reports whether s is an RFC 2045 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}
