package managesieve

import (
	"bufio"
	"fmt"
	"strings"
)

// encoder writes responses (RFC 5804 §4): it owns quoting and literals.
type encoder struct{ w *bufio.Writer }

// str writes s quoted when that is safe and short, as a literal
// otherwise.
func (e *encoder) str(s string) {
	if len(s) <= 1024 && !strings.ContainsAny(s, "\r\n\x00") {
		e.w.WriteByte('"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				e.w.WriteByte('\\')
			}
			e.w.WriteByte(s[i])
		}
		e.w.WriteByte('"')
		return
	}
	fmt.Fprintf(e.w, "{%d}\r\n%s", len(s), s)
}

// status writes OK, NO or BYE with an optional response code and text.
func (e *encoder) status(kind, code, text string) error {
	e.w.WriteString(kind)
	if code != "" {
		e.w.WriteString(" (" + code + ")")
	}
	if text != "" {
		e.w.WriteByte(' ')
		e.str(text)
	}
	e.w.WriteString("\r\n")
	return e.w.Flush()
}

func (e *encoder) line(parts ...string) {
	for i, p := range parts {
		if i > 0 {
			e.w.WriteByte(' ')
		}
		e.str(p)
	}
	e.w.WriteString("\r\n")
}
