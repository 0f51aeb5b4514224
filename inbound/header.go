package inbound

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
)

// maxHeaderBytes bounds how far the header is read. smtpd has refused a
// larger header already (552 5.3.4); this is a second fence.
const maxHeaderBytes = 1 << 20

// field is one header field of a message: its name and where it lies in
// the message, continuation lines and the line end included.
type field struct {
	name       string
	start, end int
}

func (f field) value(msg []byte) string {
	raw := msg[f.start:f.end]
	_, v, _ := bytes.Cut(raw, []byte(":"))
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// headerFields lists the fields of msg's header, up to the empty line
// (or maxHeaderBytes). A line that is not a field is skipped, as is
// whatever continues it.
func headerFields(msg []byte) []field {
	var out []field
	i := 0
	for i < len(msg) && i < maxHeaderBytes {
		end := lineEnd(msg, i)
		line := msg[i:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the empty line ends the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(out); n > 0 && out[n-1].end == i {
				out[n-1].end = end
			}
			i = end
			continue
		}
		if colon := bytes.IndexByte(line, ':'); colon > 0 {
			name := strings.TrimRight(string(line[:colon]), " \t")
			out = append(out, field{name: name, start: i, end: end})
		}
		i = end
	}
	return out
}

// lineEnd is the offset just past the line starting at i.
func lineEnd(msg []byte, i int) int {
	if j := bytes.IndexByte(msg[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(msg)
}

var wordDecoder = &mime.WordDecoder{}

// fromDomain is the domain of the (first) mailbox of the From field,
// lower-case, or "" when there is no From or it cannot be read.
func fromDomain(msg []byte, fields []field) string {
	for _, f := range fields {
		if !strings.EqualFold(f.name, "From") {
			continue
		}
		p := mail.AddressParser{WordDecoder: wordDecoder}
		list, err := p.ParseList(f.value(msg))
		if err != nil || len(list) == 0 {
			return ""
		}
		addr := list[0].Address
		at := strings.LastIndexByte(addr, '@')
		if at < 0 {
			return ""
		}
		return strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))
	}
	return ""
}
