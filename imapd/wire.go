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

// Limits on one command (RFC 9051 §4 leaves them to the server; RFC 2683
// §3.2.1.5 asks servers to take lines of at least 8000 octets). The layer
// checks them before go-imap or its own parser sees a byte of the command,
// so neither ever meets input beyond them.
const (
	// maxCommand bounds the bytes of one command outside its literals, all
	// its lines together. go-imap's decoder stops at 50 KiB in the middle
	// of a line and reads what follows as a new command, so this stays
	// below. A command over it ends the connection with BYE [LIMIT]: the
	// end of an overlong line is never read, so nothing of it can run.
	maxCommand = 48 << 10
	// maxArgLiteral bounds one literal of a command other than APPEND's
	// message, and maxArgLiterals all of them in one command. go-imap
	// holds such literals in memory and refuses more than 4096 bytes (by
	// then waiting for bytes a client waiting for "+" never sends), so one
	// literal cannot be larger; no argument needs more than a few hundred.
	maxArgLiteral  = 4 << 10
	maxArgLiterals = 64 << 10
	// maxNesting bounds the depth of parenthesized lists. go-imap's decoder
	// stops at 1000 with an untyped error (answered NO [SERVERBUG]); this
	// layer's own parser had no limit at all. Real clients nest a few
	// levels (SEARCH, FETCH BODY[HEADER.FIELDS (...)], ID).
	maxNesting = 100
	// maxDiscard bounds the refused literal data read and thrown away; past
	// it the connection is closed instead, as RFC 7888 §4 allows.
	maxDiscard = 64 << 20
)

var (
	errLineTooLong = errors.New("imap: command too long")
	errTooDeep     = errors.New("imap: lists nested too deeply")
	errQuote       = errors.New("imap: unterminated quoted string")
)

// readLine reads up to and including LF (CRLF, or a bare LF), failing
// with errLineTooLong once more than limit bytes came without one.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return line, errLineTooLong
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// scanLine follows the parenthesis depth of a command across one of its
// lines (literal data is never scanned), skipping quoted strings. A quoted
// string cannot span lines (RFC 9051 §4.3); go-imap would read on into the
// next line, so an unterminated one is refused here.
func scanLine(line []byte, depth *int) error {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			for i++; ; i++ {
				if i >= len(line) || line[i] == '\r' || line[i] == '\n' {
					return errQuote
				}
				if line[i] == '\\' {
					i++
					continue
				}
				if line[i] == '"' {
					break
				}
			}
		case '(':
			if *depth++; *depth > maxNesting {
				return errTooDeep
			}
		case ')':
			*depth = max(*depth-1, 0)
		}
	}
	return nil
}

// nonSync rewrites the synchronizing literal announced at the end of line
// as a non-synchronizing one ("{n}" to "{n+}"), for a literal this layer
// has already asked for and read.
func nonSync(line []byte) []byte {
	l := bytes.TrimRight(line, "\r\n")
	out := make([]byte, 0, len(line)+1)
	out = append(out, l[:len(l)-1]...)
	out = append(out, "+}"...)
	return append(out, line[len(l):]...)
}

// argsOf returns what follows the command name on a command's first line,
// CRLF included.
func argsOf(line []byte) []byte {
	sp := bytes.IndexByte(line, ' ')
	rest := line[sp+1:]
	if sp2 := bytes.IndexByte(rest, ' '); sp2 >= 0 {
		return rest[sp2:]
	}
	return rest[len(bytes.TrimRight(rest, "\r\n")):]
}

// mailboxLiteral reports whether an APPEND line is "tag APPEND {n}": its
// literal is the mailbox name, not the message.
func mailboxLiteral(line []byte) bool {
	a := bytes.TrimRight(argsOf(line), "\r\n")
	return len(a) > 1 && a[0] == ' ' && a[1] == '{' && bytes.IndexByte(a[2:], '{') < 0
}

// notAuthCommands are the commands valid before login (RFC 9051 §6.1,
// §6.2; ID is RFC 2971).
var notAuthCommands = map[string]bool{
	"CAPABILITY": true, "NOOP": true, "LOGOUT": true, "STARTTLS": true,
	"AUTHENTICATE": true, "LOGIN": true, "ID": true,
}

// authCommands are the commands valid only after login, refused before
// it without being read further.
var authCommands = map[string]bool{
	"SELECT": true, "EXAMINE": true, "CREATE": true, "DELETE": true, "RENAME": true,
	"SUBSCRIBE": true, "UNSUBSCRIBE": true, "LIST": true, "LSUB": true, "STATUS": true,
	"APPEND": true, "NAMESPACE": true, "IDLE": true, "ENABLE": true, "UNAUTHENTICATE": true,
	"CHECK": true, "CLOSE": true, "UNSELECT": true, "EXPUNGE": true, "SEARCH": true,
	"FETCH": true, "STORE": true, "COPY": true, "MOVE": true, "UID": true,
	"SETACL": true, "DELETEACL": true, "GETACL": true, "LISTRIGHTS": true, "MYRIGHTS": true,
}

// statusWords are the status responses (RFC 9051 §7.1); their text never
// carries a literal.
var statusWords = map[string]bool{"OK": true, "NO": true, "BAD": true, "BYE": true, "PREAUTH": true}

// statusResponse reports whether a server line is a status response or a
// continuation request, and returns its tag ("*" when untagged, "+" for a
// continuation).
func statusResponse(line []byte) (tag string, ok bool) {
	if len(line) > 0 && line[0] == '+' && (len(line) == 1 || line[1] == ' ' || line[1] == '\r' || line[1] == '\n') {
		return "+", true
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return "", false
	}
	rest := line[sp+1:]
	end := bytes.IndexAny(rest, " \r\n")
	if end < 0 {
		end = len(rest)
	}
	if !statusWords[string(rest[:end])] {
		return "", false
	}
	return string(line[:sp]), true
}

// capsAt returns the offset of the capability list in a server line that
// is a CAPABILITY response ("* CAPABILITY ...") or a status response with
// a CAPABILITY response code ("* OK [CAPABILITY ...] ..."), or -1.
func capsAt(line []byte) int {
	if p := []byte("* CAPABILITY "); bytes.HasPrefix(line, p) {
		return len(p)
	}
	if _, ok := statusResponse(line); !ok {
		return -1
	}
	sp := bytes.IndexByte(line, ' ')
	sp2 := bytes.IndexByte(line[sp+1:], ' ')
	if sp2 < 0 {
		return -1
	}
	at := sp + 1 + sp2 + 1
	if p := []byte("[CAPABILITY "); bytes.HasPrefix(line[at:], p) {
		return at + len(p)
	}
	return -1
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
	depth   int   // lists open, bounded by maxNesting
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
		if r.depth >= maxNesting {
			return arg{}, errTooDeep
		}
		r.depth++
		defer func() { r.depth-- }()
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
	if sync && r.cont != nil {
		if err := r.cont(); err != nil {
			return arg{}, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return arg{}, err
	}
	line, err := readLine(r.br, maxCommand)
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
