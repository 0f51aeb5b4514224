package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file holds the IMAP framing the extension layer (conn.go) needs:
// finding where a line ends, whether it announces a literal, and parsing
// the arguments of the few commands the layer answers itself. RFC 9051
// §4 and §9 (formal syntax) define what is parsed.

// maxLine bounds one line of a command (not counting literals); go-imap's
// own limit is larger, but none of our commands needs more.
const maxLine = 64 << 10

var errLineTooLong = errors.New("imap: command line too long")

// readLine reads up to and including CRLF (a bare LF is accepted too).
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
		if len(line) > maxLine {
			return line, errLineTooLong
		}
	}
}

// literalAtEnd reports whether a line (with its CRLF) ends with a literal
// announcement "{n}", "{n+}" or "~{n}", and returns n and whether the
// literal is synchronizing (the sender waits for a "+" continuation).
func literalAtEnd(line []byte) (n int64, sync bool, ok bool) {
	l := bytes.TrimRight(line, "\r\n")
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(l, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := l[open+1 : len(l)-1]
	sync = true
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		digits, sync = digits[:len(digits)-1], false
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false, false
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || v < 0 {
		return 0, false, false
	}
	return v, sync, true
}

// splitCommand returns the tag and upper-cased command name of a command
// line, or ok=false for anything that is not "tag SP name" (IDLE's DONE,
// SASL responses, garbage).
func splitCommand(line []byte) (tag, name string, ok bool) {
	l := bytes.TrimRight(line, "\r\n")
	sp := bytes.IndexByte(l, ' ')
	if sp <= 0 {
		return "", "", false
	}
	tag = string(l[:sp])
	rest := l[sp+1:]
	end := bytes.IndexAny(rest, " \r\n")
	if end < 0 {
		end = len(rest)
	}
	name = strings.ToUpper(string(rest[:end]))
	if name == "" || !validTag(tag) {
		return "", "", false
	}
	return tag, name, true
}

// validTag: a tag is 1*<any ASTRING-CHAR except "+"> (RFC 9051 §9).
func validTag(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`(){%*"\+`, c) >= 0 {
			return false
		}
	}
	return t != ""
}

// arg is one parsed argument: an atom, a string (quoted or literal), NIL,
// or a parenthesized list.
type arg struct {
	kind  argKind
	value string
	list  []arg
}

type argKind int

const (
	argAtom argKind = iota
	argString
	argNil
	argList
)

// argReader parses the arguments of one command, reading literals from br
// and asking for synchronizing ones with cont (which writes "+ ...").
type argReader struct {
	br      *bufio.Reader
	line    []byte // rest of the current line, CRLF included
	cont    func() error
	maxLit  int64
	literal int64 // total literal bytes read, bounded by maxLit
}

var errSyntax = errors.New("syntax error")

func (r *argReader) peek() byte {
	if len(r.line) == 0 {
		return 0
	}
	return r.line[0]
}

func (r *argReader) sp() error {
	if r.peek() != ' ' {
		return errSyntax
	}
	r.line = r.line[1:]
	return nil
}

// end consumes the CRLF that ends the command.
func (r *argReader) end() error {
	l := bytes.TrimLeft(r.line, " ")
	if len(bytes.TrimRight(l, "\r\n")) != 0 {
		return errSyntax
	}
	r.line = nil
	return nil
}

// next parses one argument.
func (r *argReader) next() (arg, error) {
	switch c := r.peek(); {
	case c == '"':
		return r.quoted()
	case c == '{' || c == '~':
		return r.literalArg()
	case c == '(':
		r.line = r.line[1:]
		var list []arg
		for r.peek() != ')' {
			if len(list) > 0 {
				if err := r.sp(); err != nil {
					return arg{}, err
				}
			}
			a, err := r.next()
			if err != nil {
				return arg{}, err
			}
			list = append(list, a)
			if len(list) > 1000 {
				return arg{}, errSyntax
			}
		}
		r.line = r.line[1:]
		return arg{kind: argList, list: list}, nil
	default:
		i := 0
		for i < len(r.line) && isAtomChar(r.line[i]) {
			i++
		}
		if i == 0 {
			return arg{}, errSyntax
		}
		v := string(r.line[:i])
		r.line = r.line[i:]
		if strings.EqualFold(v, "NIL") {
			return arg{kind: argNil}, nil
		}
		return arg{kind: argAtom, value: v}, nil
	}
}

// isAtomChar accepts ASTRING-CHAR (RFC 9051 §9) and, with UTF8=ACCEPT,
// any byte of a UTF-8 sequence.
func isAtomChar(c byte) bool {
	return c > 0x20 && c != 0x7f && strings.IndexByte(`(){"\`, c) < 0
}

func (r *argReader) quoted() (arg, error) {
	var b strings.Builder
	for i := 1; i < len(r.line); i++ {
		switch c := r.line[i]; c {
		case '"':
			r.line = r.line[i+1:]
			return arg{kind: argString, value: b.String()}, nil
		case '\\':
			i++
			if i >= len(r.line) || (r.line[i] != '"' && r.line[i] != '\\') {
				return arg{}, errSyntax
			}
			b.WriteByte(r.line[i])
		case '\r', '\n':
			return arg{}, errSyntax
		default:
			b.WriteByte(c)
		}
	}
	return arg{}, errSyntax
}

// literalArg reads a literal announced at the end of the current line and
// then the next line of the command.
func (r *argReader) literalArg() (arg, error) {
	if r.peek() == '~' {
		r.line = r.line[1:]
	}
	n, sync, ok := literalAtEnd(r.line)
	if !ok || bytes.IndexByte(bytes.TrimRight(r.line, "\r\n"), '}') != len(bytes.TrimRight(r.line, "\r\n"))-1 {
		return arg{}, errSyntax
	}
	if r.literal+n > r.maxLit {
		return arg{}, fmt.Errorf("literal of %d bytes is too large", n)
	}
	r.literal += n
	if sync {
		if err := r.cont(); err != nil {
			return arg{}, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return arg{}, err
	}
	line, err := readLine(r.br)
	if err != nil {
		return arg{}, err
	}
	r.line = line
	return arg{kind: argString, value: string(buf)}, nil
}

// astring returns an argument usable as an astring or nstring value.
func (a arg) str() (string, bool) {
	switch a.kind {
	case argAtom, argString:
		return a.value, true
	}
	return "", false
}

// quote renders s as an IMAP quoted string, or a literal if it cannot be
// quoted.
func quote(s string) string {
	if strings.ContainsAny(s, "\r\n\x00") || len(s) > 1024 {
		return fmt.Sprintf("{%d}\r\n%s", len(s), s)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
