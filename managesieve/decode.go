package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of the decoder (RFC 5804 §4 leaves them to the server).
const (
	// maxLine bounds a command line outside literals: names, quoted
	// strings and numbers.
	maxLine = 8 << 10
	// maxArgs bounds a command's arguments (RENAMESCRIPT has two, plus
	// slack for a client's mistakes to be reported, not buffered).
	maxArgs = 4
	// maxPreAuthLiteral bounds a literal before login: an AUTHENTICATE
	// response, never a script.
	maxPreAuthLiteral = 8 << 10
)

// errSyntax marks a command the client got wrong; the connection goes on
// after the line is discarded.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

func syntaxErrf(format string, a ...any) error { return &syntaxError{fmt.Sprintf(format, a...)} }

// errLiteralTooLarge: the rest of the command cannot be skipped safely
// (its bytes would be read as commands), so the connection ends.
var errLiteralTooLarge = errors.New("literal too large")

type argKind int

const (
	argString argKind = iota
	argNumber
)

type arg struct {
	kind argKind
	s    string
	n    int64
}

// command is one decoded command: its name upper-cased and its arguments.
type command struct {
	name string
	args []arg
}

// decoder reads commands (RFC 5804 §4 grammar): an atom, then strings
// (quoted or literal {n+}/{n}) and numbers separated by spaces, then
// CRLF.
type decoder struct {
	r          *bufio.Reader
	maxLiteral int64
}

// readCommand returns the next command. A *syntaxError leaves the reader
// at the start of the next line; any other error ends the connection.
func (d *decoder) readCommand() (*command, error) {
	budget := maxLine
	name, err := d.atom(&budget)
	if err != nil {
		return nil, d.recover(err)
	}
	if name == "" {
		c, err := d.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == '\n' {
			return nil, syntaxErrf("empty command")
		}
		if c == '\r' {
			if c2, err := d.r.ReadByte(); err != nil || c2 != '\n' {
				return nil, d.recover(syntaxErrf("expected CRLF"))
			}
			return nil, syntaxErrf("empty command")
		}
		return nil, d.recover(syntaxErrf("expected a command name"))
	}
	cmd := &command{name: strings.ToUpper(name)}
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch c {
		case '\r':
			if c2, err := d.r.ReadByte(); err != nil || c2 != '\n' {
				return nil, d.recover(syntaxErrf("expected CRLF"))
			}
			return cmd, nil
		case '\n':
			return cmd, nil
		case ' ':
		default:
			return nil, d.recover(syntaxErrf("expected a space or the end of the line"))
		}
		if len(cmd.args) == maxArgs {
			return nil, d.recover(syntaxErrf("too many arguments"))
		}
		a, err := d.value(&budget)
		if err != nil {
			return nil, d.recover(err)
		}
		cmd.args = append(cmd.args, a)
	}
}

// readResponse reads a client's SASL response line: one string.
func (d *decoder) readResponse() (string, error) {
	budget := maxLine
	a, err := d.value(&budget)
	if err != nil {
		return "", d.recover(err)
	}
	if a.kind != argString {
		return "", d.recover(syntaxErrf("expected a string"))
	}
	if err := d.eol(); err != nil {
		return "", d.recover(err)
	}
	return a.s, nil
}

func (d *decoder) eol() error {
	c, err := d.r.ReadByte()
	if err != nil {
		return err
	}
	if c == '\r' {
		c, err = d.r.ReadByte()
		if err != nil {
			return err
		}
	}
	if c != '\n' {
		return syntaxErrf("expected the end of the line")
	}
	return nil
}

// recover skips the rest of the line after a syntax error.
func (d *decoder) recover(err error) error {
	var se *syntaxError
	if !errors.As(err, &se) {
		return err
	}
	n := 0
	for {
		c, rerr := d.r.ReadByte()
		if rerr != nil {
			return rerr
		}
		if c == '\n' {
			return err
		}
		if n++; n > maxLine*4 {
			return fmt.Errorf("line too long: %w", errLiteralTooLarge)
		}
	}
}

func isAtomChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func (d *decoder) atom(budget *int) (string, error) {
	var b strings.Builder
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return "", err
		}
		if !isAtomChar(c) {
			d.r.UnreadByte()
			return b.String(), nil
		}
		if *budget--; *budget < 0 {
			return "", syntaxErrf("line too long")
		}
		b.WriteByte(c)
	}
}

// value reads a quoted string, a literal or a number.
func (d *decoder) value(budget *int) (arg, error) {
	c, err := d.r.ReadByte()
	if err != nil {
		return arg{}, err
	}
	switch {
	case c == '"':
		var b strings.Builder
		for {
			c, err := d.r.ReadByte()
			if err != nil {
				return arg{}, err
			}
			if *budget--; *budget < 0 {
				return arg{}, syntaxErrf("line too long")
			}
			switch c {
			case '"':
				return arg{kind: argString, s: b.String()}, nil
			case '\\':
				c, err = d.r.ReadByte()
				if err != nil {
					return arg{}, err
				}
				if c != '"' && c != '\\' {
					return arg{}, syntaxErrf("bad escape in quoted string")
				}
			case '\r', '\n', 0:
				if c == '\n' {
					d.r.UnreadByte()
				}
				return arg{}, syntaxErrf("line break or NUL in quoted string")
			}
			b.WriteByte(c)
		}
	case c == '{':
		return d.literal(budget)
	case c >= '0' && c <= '9':
		d.r.UnreadByte()
		digits, err := d.atom(budget)
		if err != nil {
			return arg{}, err
		}
		n, perr := strconv.ParseInt(digits, 10, 64)
		if perr != nil || n > 1<<32 {
			return arg{}, syntaxErrf("bad number")
		}
		return arg{kind: argNumber, n: n}, nil
	}
	if c == '\n' || c == '\r' {
		d.r.UnreadByte()
	}
	return arg{}, syntaxErrf("expected a string or a number")
}

// literal reads {n+}CRLF or {n}CRLF and then n octets (RFC 5804 §4:
// the server never sends a continuation, so both forms are read alike).
func (d *decoder) literal(budget *int) (arg, error) {
	spec, err := d.atom(budget)
	if err != nil {
		return arg{}, err
	}
	c, err := d.r.ReadByte()
	if err != nil {
		return arg{}, err
	}
	if c == '+' {
		if c, err = d.r.ReadByte(); err != nil {
			return arg{}, err
		}
	}
	n, perr := strconv.ParseInt(spec, 10, 64)
	if c != '}' || perr != nil || n < 0 {
		return arg{}, syntaxErrf("bad literal")
	}
	if err := d.eol(); err != nil {
		return arg{}, err
	}
	if n > d.maxLiteral {
		return arg{}, errLiteralTooLarge
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(d.r, buf); err != nil {
		return arg{}, err
	}
	return arg{kind: argString, s: string(buf)}, nil
}
