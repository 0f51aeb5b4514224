package part

import (
	"bytes"
	"strings"
)

// MaxFields bounds the header fields kept for one header; a header with
// more is served, but fields past the limit are not seen by ENVELOPE,
// BODYSTRUCTURE or SEARCH.
const MaxFields = 2000

// Field is one header field as written: Name without the colon (and
// without the white space the obsolete syntax allows before it, RFC 5322
// §4.5), Raw the whole field including its line ends, Value the text
// after the colon.
type Field struct {
	Name  string
	Raw   []byte
	Value []byte
}

// Header is the fields of one header block, in order.
type Header []Field

// HeaderEnd returns the offset just past the header block of b that
// starts at start: after the empty line that ends it (CRLF or bare LF), or
// len(b) when there is none.
func HeaderEnd(b []byte, start int) int {
	i := start
	for i < len(b) {
		// i is at the start of a line.
		if b[i] == '\n' {
			return i + 1
		}
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		nl := bytes.IndexByte(b[i:], '\n')
		if nl < 0 {
			return len(b)
		}
		i += nl + 1
	}
	return len(b)
}

// ParseHeader splits the header block b[start:end] into fields. Lines that
// are no field (no colon) are skipped, as readers do.
func ParseHeader(b []byte, start, end int) Header {
	var h Header
	i := start
	for i < end && len(h) < MaxFields {
		// A field: its first line, then continuation lines that start
		// with white space.
		j := i
		for {
			nl := bytes.IndexByte(b[j:end], '\n')
			if nl < 0 {
				j = end
				break
			}
			j += nl + 1
			if j >= end || (b[j] != ' ' && b[j] != '\t') {
				break
			}
		}
		raw := b[i:j:j]
		i = j
		if len(bytes.TrimRight(raw, "\r\n")) == 0 {
			break // the empty line ending the header
		}
		colon := bytes.IndexByte(raw, ':')
		if colon <= 0 {
			continue
		}
		name := strings.TrimRight(string(raw[:colon]), " \t")
		if name == "" || strings.ContainsAny(name, " \t\r\n") {
			continue
		}
		h = append(h, Field{Name: name, Raw: raw, Value: raw[colon+1:]})
	}
	return h
}

// Get returns the value of the first field named name (case-insensitive),
// unfolded and trimmed, and whether there is one.
func (h Header) Get(name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return Unfold(f.Value), true
		}
	}
	return "", false
}

// Count returns how many fields are named name.
func (h Header) Count(name string) int {
	n := 0
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// Unfold removes the line ends of a folded value (RFC 5322 §2.2.3) and
// trims surrounding white space.
func Unfold(v []byte) string {
	if !bytes.ContainsAny(v, "\r\n") {
		return strings.TrimSpace(string(v))
	}
	var b strings.Builder
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}
