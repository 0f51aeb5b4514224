package smtpd

import (
	"bytes"
	"errors"
	"fmt"
)

// Limits of the header scanner. RFC 5322 §2.1.1 bounds a line at 998
// octets but says nothing of how many fields a header has or how far one
// field folds; these bound what checking one message's header costs.
// Postfix keeps 100 KiB of a header (header_size_limit); a megabyte is
// far beyond any real message.
const (
	maxHeaderBytes  = 1 << 20
	maxHeaderFields = 10000
	// maxOriginators bounds the mailboxes of a From: field, each of which
	// submission checks against the directory and the store.
	maxOriginators = 50
)

var errHeaderTooLarge = errors.New("message header too large")

// headerLineError is a header line that is neither a field nor the
// continuation of one.
type headerLineError struct {
	line   int
	reason string
}

func (e *headerLineError) Error() string {
	return fmt.Sprintf("header line %d %s", e.line, e.reason)
}

// scanHeader calls fn with the name and the raw value of every field of
// msg's header, in order. The grammar is RFC 5322 §2.2 with the obsolete
// syntax of §4.5.3: white space may stand between a field name and its
// colon ("From :"), and the name is given without it. A line ends at LF,
// with or without a CR before it; a bare CR is not a line end, so callers
// that care normalise line endings first (normalizeLineEndings). The
// header ends at the first empty line, or with msg. value runs from after
// the colon to the end of the field's last line, folding line breaks
// included (unfold removes them).
//
// strict refuses a line that is neither a field nor a continuation line
// (and a continuation line with no field before it); otherwise such lines
// are skipped, as a lenient reader would. Either way a header over
// maxHeaderBytes or maxHeaderFields is an error.
func scanHeader(msg []byte, strict bool, fn func(name, value []byte)) error {
	var (
		name               []byte // the field being read; nil between fields
		valStart, valEnd   int
		fields, pos, lines int
	)
	flush := func() {
		if name != nil {
			fn(name, msg[valStart:valEnd])
		}
		name = nil
	}
	for pos < len(msg) {
		if pos >= maxHeaderBytes {
			return errHeaderTooLarge
		}
		lines++
		next := len(msg)
		end := len(msg)
		if i := bytes.IndexByte(msg[pos:], '\n'); i >= 0 {
			end = pos + i
			next = end + 1
		}
		if end > pos && msg[end-1] == '\r' && end < len(msg) {
			end--
		}
		line := msg[pos:end]
		switch {
		case len(line) == 0:
			flush()
			return nil
		case line[0] == ' ' || line[0] == '\t':
			if name != nil {
				valEnd = end
			} else if strict {
				return &headerLineError{lines, "is a continuation line without a field"}
			}
		default:
			flush()
			colon := bytes.IndexByte(line, ':')
			if colon < 0 || !validFieldName(bytes.TrimRight(line[:colon], " \t")) {
				if strict {
					return &headerLineError{lines, "is not a header field"}
				}
				break
			}
			if fields++; fields > maxHeaderFields {
				return errHeaderTooLarge
			}
			name = bytes.TrimRight(line[:colon], " \t")
			valStart, valEnd = pos+colon+1, end
		}
		pos = next
	}
	flush()
	return nil
}

// validFieldName reports whether n is an RFC 5322 §3.6.8 field name:
// printable US-ASCII other than the colon.
func validFieldName(n []byte) bool {
	if len(n) == 0 {
		return false
	}
	for _, c := range n {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// equalFoldASCII compares a field name with a lower-case ASCII name.
func equalFoldASCII(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// unfold removes the line breaks of a folded field value (RFC 5322
// §2.2.3), keeping the white space that follows them.
func unfold(v []byte) string {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			out = append(out, c)
		}
	}
	return string(out)
}

// originator is what a message's header says about who wrote and who
// sent it: every From and Sender field, raw, and whether the fields that
// submission adds when missing are there.
type originator struct {
	from, sender    [][]byte
	date, messageID bool
}

// readOriginator scans msg's header (see scanHeader for strict).
func readOriginator(msg []byte, strict bool) (originator, error) {
	var o originator
	err := scanHeader(msg, strict, func(name, value []byte) {
		switch {
		case equalFoldASCII(name, "from"):
			o.from = append(o.from, value)
		case equalFoldASCII(name, "sender"):
			o.sender = append(o.sender, value)
		case equalFoldASCII(name, "date"):
			o.date = true
		case equalFoldASCII(name, "message-id"):
			o.messageID = true
		}
	})
	return o, err
}

// checkCounts enforces RFC 5322 §3.6: at most one From and at most one
// Sender field (the "exactly one From" half is submission's to decide).
func (o originator) checkCounts() error {
	switch {
	case len(o.from) > 1:
		return fmt.Errorf("message has %d From: header fields; RFC 5322 allows one", len(o.from))
	case len(o.sender) > 1:
		return fmt.Errorf("message has %d Sender: header fields; RFC 5322 allows at most one", len(o.sender))
	}
	return nil
}

// normalizeLineEndings turns every bare CR and bare LF of msg into CRLF,
// the only line ending RFC 5321 §2.3.8 and RFC 5322 §2.3 allow. Readers
// disagree on what a bare one means (a line end to some, a character to
// others), so mail whose header has been checked, and mail that leaves
// for another server, must not contain one: the bytes checked, signed and
// sent are then the bytes every reader sees. msg itself is returned when
// it needs no change.
func normalizeLineEndings(msg []byte) []byte {
	extra := 0
	for i, c := range msg {
		if c == '\r' && (i+1 == len(msg) || msg[i+1] != '\n') || c == '\n' && (i == 0 || msg[i-1] != '\r') {
			extra++
		}
	}
	if extra == 0 {
		return msg
	}
	out := make([]byte, 0, len(msg)+extra)
	for i, c := range msg {
		switch {
		case c == '\r' && (i+1 == len(msg) || msg[i+1] != '\n'):
			out = append(out, '\r', '\n')
		case c == '\n' && (i == 0 || msg[i-1] != '\r'):
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// normalizeInPlace is normalizeLineEndings done in msg's own buffer when
// its capacity has room for the CRs and LFs to add (a message buffer is
// of a size class larger than the message, see getBuf), else in a copy.
// msg's bytes are overwritten: only for a buffer the caller owns.
func normalizeInPlace(msg []byte) []byte {
	extra := 0
	for i, c := range msg {
		if c == '\r' && (i+1 == len(msg) || msg[i+1] != '\n') || c == '\n' && (i == 0 || msg[i-1] != '\r') {
			extra++
		}
	}
	if extra == 0 {
		return msg
	}
	if cap(msg)-len(msg) < extra {
		return normalizeLineEndings(msg)
	}
	// From the end backwards: each byte moves up by the line ends added
	// before it, so it is read before anything is written over it.
	out := msg[:len(msg)+extra]
	j := len(out)
	next := -1 // the byte after msg[i] as it was, -1 at the end
	for i := len(msg) - 1; i >= 0; i-- {
		c := msg[i]
		switch {
		case c == '\r' && next != '\n', c == '\n' && (i == 0 || msg[i-1] != '\r'):
			j -= 2
			out[j], out[j+1] = '\r', '\n'
		default:
			j--
			out[j] = c
		}
		next = int(c)
	}
	return out
}
