package sieve

import (
	"bytes"
	"strings"
)

// ParseMessage splits a raw RFC 5322 message into the header fields and
// body a Message holds. It is lenient: a line that is not a field ends
// the header.
func ParseMessage(raw []byte) *Message {
	var fields []HeaderField
	rest := raw
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		line := rest
		if end >= 0 {
			line = rest[:end]
		}
		l := strings.TrimRight(string(line), "\r")
		if l == "" {
			if end >= 0 {
				rest = rest[end+1:]
			} else {
				rest = nil
			}
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].Value += " " + strings.TrimLeft(l, " \t")
		} else if name, val, ok := strings.Cut(l, ":"); ok && validFieldName(name) {
			fields = append(fields, HeaderField{Name: name, Value: val})
		} else {
			break
		}
		if end < 0 {
			rest = nil
			break
		}
		rest = rest[end+1:]
	}
	body := rest
	return &Message{Header: fields, Size: int64(len(raw)), Body: func() ([]byte, error) { return body, nil }}
}
