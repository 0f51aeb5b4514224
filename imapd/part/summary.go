package part

import (
	"bytes"
	"strings"
)

// A summary is the header fields a message is listed, sorted, threaded
// and searched by (SummaryField), as they were written, in their order:
// a header block of its own, read back with ParseHeader. Kept with each
// body at delivery, it lets SORT, THREAD, ENVELOPE and header SEARCH keys
// work without reading the message. Its first byte says whether it is
// complete: a header whose summary fields exceed MaxSummary bytes is not
// summarised (the caller reads the message instead).

// MaxSummary bounds a summary's size.
const MaxSummary = 16 << 10

// Summary markers: the first byte of an encoded summary.
const (
	summaryComplete byte = 's'
	summaryTooLarge byte = 'x'
)

// SummaryField reports whether a header field belongs in the summary:
// those ENVELOPE, SORT, THREAD and the SEARCH address, subject and sent
// date keys read.
func SummaryField(name string) bool {
	switch len(name) {
	case 2:
		return strings.EqualFold(name, "to") || strings.EqualFold(name, "cc")
	case 3:
		return strings.EqualFold(name, "bcc")
	case 4:
		return strings.EqualFold(name, "date") || strings.EqualFold(name, "from")
	case 6:
		return strings.EqualFold(name, "sender")
	case 7:
		return strings.EqualFold(name, "subject")
	case 8:
		return strings.EqualFold(name, "reply-to")
	case 10:
		return strings.EqualFold(name, "message-id") || strings.EqualFold(name, "references")
	case 11:
		return strings.EqualFold(name, "in-reply-to")
	}
	return false
}

// Summarize returns the encoded summary of a message's header.
func Summarize(msg []byte) []byte {
	h := ParseHeader(msg, 0, HeaderEnd(msg, 0))
	out := []byte{summaryComplete}
	for _, f := range h {
		if !SummaryField(f.Name) {
			continue
		}
		if len(out)+len(f.Raw)+2 > MaxSummary {
			return []byte{summaryTooLarge}
		}
		out = append(out, f.Raw...)
		if !bytes.HasSuffix(f.Raw, []byte("\n")) {
			out = append(out, '\r', '\n') // the last field of a header without a body
		}
	}
	return out
}

// SummaryHeader reads an encoded summary back as a header; ok is false
// when the summary is incomplete or not one.
func SummaryHeader(s []byte) (Header, bool) {
	if len(s) == 0 || s[0] != summaryComplete {
		return nil, false
	}
	return ParseHeader(s, 1, len(s)), true
}

// SummaryComplete reports whether s is a complete encoded summary.
func SummaryComplete(s []byte) bool { return len(s) > 0 && s[0] == summaryComplete }

// HasSummaryField reports whether a header block (a delivery prefix)
// holds a summary field, without allocating.
func HasSummaryField(b []byte) bool {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if c := bytes.IndexByte(line, ':'); c > 0 {
			if SummaryField(string(bytes.TrimRight(line[:c], " \t"))) {
				return true
			}
		}
	}
	return false
}

// SummaryGet returns the first field named name of an encoded, complete
// summary, unfolded, without parsing the rest.
func SummaryGet(s []byte, name string) (string, bool) {
	if len(s) == 0 || s[0] != summaryComplete {
		return "", false
	}
	b := s[1:]
	for len(b) > 0 {
		c := bytes.IndexByte(b, ':')
		nl := bytes.IndexByte(b, '\n')
		if c < 0 {
			return "", false
		}
		// The field runs to the first line end not followed by white
		// space.
		end := len(b)
		for i := nl; i >= 0 && i < len(b); {
			if i+1 < len(b) && (b[i+1] == ' ' || b[i+1] == '\t') {
				j := bytes.IndexByte(b[i+1:], '\n')
				if j < 0 {
					break
				}
				i += 1 + j
				continue
			}
			end = i + 1
			break
		}
		if (nl < 0 || c < nl) && strings.EqualFold(string(bytes.TrimRight(b[:c], " \t")), name) {
			return Unfold(b[c+1 : end]), true
		}
		b = b[end:]
	}
	return "", false
}
