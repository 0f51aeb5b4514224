package inbound

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// formatAuthResults is the Authentication-Results field (RFC 8601) for
// results, with each result on its own continuation line.
func formatAuthResults(authservID string, results []authres.Result) string {
	v := authres.Format(authservID, results)
	return "Authentication-Results: " + strings.ReplaceAll(v, "; ", ";\r\n\t") + "\r\n"
}

// StripAuthResults removes from msg's header every Authentication-Results
// field whose authserv-id is authservID: only this host may speak in its
// name, and a sender could otherwise forge a pass (RFC 8601 §5). Fields
// of other hosts stay. The removal is done in msg's own buffer, moving
// the bytes after each removed field down; the shortened message is
// returned. Nothing is copied when there is no such field, the usual
// case.
func StripAuthResults(msg []byte, authservID string) []byte {
	fields := headerFields(msg)
	removed := 0
	for _, f := range fields {
		// Earlier removals moved this field down by removed bytes.
		f.start, f.end = f.start-removed, f.end-removed
		if !strings.EqualFold(f.name, "Authentication-Results") || !strings.EqualFold(authservIDOf(f.value(msg)), authservID) {
			continue
		}
		msg = append(msg[:f.start], msg[f.end:]...)
		removed += f.end - f.start
	}
	return msg
}

// authservIDOf is the authserv-id of an Authentication-Results value: the
// token before the first ';' or space, comments dropped.
func authservIDOf(v string) string {
	v = stripComments(v)
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, "; \t"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSuffix(v, ".")
}

// stripComments drops RFC 5322 comments (nested parentheses, with
// quoted-pairs) from v.
func stripComments(v string) string {
	if !strings.Contains(v, "(") {
		return v
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}
