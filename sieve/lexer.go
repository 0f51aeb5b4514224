package sieve

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is a position in a script, 1-based.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// SyntaxError is a compile-time error with its position in the script.
type SyntaxError struct {
	Pos Pos
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokTag
	tokNumber
	tokString
	tokLBracket
	tokRBracket
	tokLParen
	tokRParen
	tokLBrace
	tokRBrace
	tokComma
	tokSemicolon
)

var tokNames = [...]string{"end of script", "identifier", "tag", "number", "string", `"["`, `"]"`, `"("`, `")"`, `"{"`, `"}"`, `","`, `";"`}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier (lower-cased), tag without ':', string value
	num  int64
}

// lexer splits a script into tokens (RFC 5228 §8.1).
type lexer struct {
	src    string
	off    int
	line   int
	col    int
	limits *Limits
}

func newLexer(src string, l *Limits) *lexer { return &lexer{src: src, line: 1, col: 1, limits: l} }

func (lx *lexer) errf(p Pos, format string, a ...any) error {
	return &SyntaxError{Pos: p, Msg: fmt.Sprintf(format, a...)}
}

func (lx *lexer) pos() Pos { return Pos{lx.line, lx.col} }

func (lx *lexer) advance(n int) {
	for i := 0; i < n && lx.off < len(lx.src); i++ {
		if lx.src[lx.off] == '\n' {
			lx.line++
			lx.col = 1
		} else {
			lx.col++
		}
		lx.off++
	}
}

// skipSpace skips white space and both kinds of comments.
func (lx *lexer) skipSpace() error {
	for lx.off < len(lx.src) {
		c := lx.src[lx.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			lx.advance(1)
		case c == '#':
			for lx.off < len(lx.src) && lx.src[lx.off] != '\n' {
				lx.advance(1)
			}
		case strings.HasPrefix(lx.src[lx.off:], "/*"):
			p := lx.pos()
			end := strings.Index(lx.src[lx.off+2:], "*/")
			if end < 0 {
				return lx.errf(p, "unterminated comment")
			}
			lx.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

func isIdentStart(c byte) bool { return c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

func (lx *lexer) next() (token, error) {
	if err := lx.skipSpace(); err != nil {
		return token{}, err
	}
	p := lx.pos()
	if lx.off >= len(lx.src) {
		return token{kind: tokEOF, pos: p}, nil
	}
	c := lx.src[lx.off]
	single := map[byte]tokKind{'[': tokLBracket, ']': tokRBracket, '(': tokLParen, ')': tokRParen, '{': tokLBrace, '}': tokRBrace, ',': tokComma, ';': tokSemicolon}
	if k, ok := single[c]; ok {
		lx.advance(1)
		return token{kind: k, pos: p}, nil
	}
	switch {
	case c == ':':
		lx.advance(1)
		if lx.off >= len(lx.src) || !isIdentStart(lx.src[lx.off]) {
			return token{}, lx.errf(p, "expected a tag name after ':'")
		}
		id := lx.ident()
		return token{kind: tokTag, pos: p, text: id}, nil
	case c >= '0' && c <= '9':
		return lx.number(p)
	case c == '"':
		return lx.quoted(p)
	case isIdentStart(c):
		id := lx.ident()
		if id == "text" && lx.off < len(lx.src) && lx.src[lx.off] == ':' {
			lx.advance(1)
			return lx.multiline(p)
		}
		return token{kind: tokIdent, pos: p, text: id}, nil
	}
	return token{}, lx.errf(p, "unexpected character %q", c)
}

func (lx *lexer) ident() string {
	start := lx.off
	for lx.off < len(lx.src) && isIdentChar(lx.src[lx.off]) {
		lx.advance(1)
	}
	return strings.ToLower(lx.src[start:lx.off])
}

// number reads a number with an optional K, M or G quantifier (§2.4.1).
func (lx *lexer) number(p Pos) (token, error) {
	start := lx.off
	for lx.off < len(lx.src) && lx.src[lx.off] >= '0' && lx.src[lx.off] <= '9' {
		lx.advance(1)
	}
	n, err := strconv.ParseInt(lx.src[start:lx.off], 10, 64)
	if err != nil || n > maxNumber {
		return token{}, lx.errf(p, "number too large")
	}
	if lx.off < len(lx.src) {
		mult := int64(1)
		switch lx.src[lx.off] | 0x20 {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		}
		if mult > 1 {
			lx.advance(1)
			if n > maxNumber/mult {
				return token{}, lx.errf(p, "number too large")
			}
			n *= mult
		}
	}
	if lx.off < len(lx.src) && isIdentChar(lx.src[lx.off]) {
		return token{}, lx.errf(p, "bad number")
	}
	return token{kind: tokNumber, pos: p, num: n}, nil
}

// maxNumber: RFC 5228 §2.4.1 requires at least 2^31-1; we allow 2^53 so
// sizes in G still fit and arithmetic never overflows.
const maxNumber = 1 << 53

func (lx *lexer) quoted(p Pos) (token, error) {
	lx.advance(1)
	var b strings.Builder
	for {
		if lx.off >= len(lx.src) {
			return token{}, lx.errf(p, "unterminated string")
		}
		c := lx.src[lx.off]
		if c == '"' {
			lx.advance(1)
			break
		}
		if c == '\\' && lx.off+1 < len(lx.src) {
			// §2.4.2: "\" followed by any character is that character.
			lx.advance(1)
			c = lx.src[lx.off]
		}
		b.WriteByte(c)
		lx.advance(1)
		if b.Len() > lx.limits.MaxStringLen {
			return token{}, lx.errf(p, "string longer than %d bytes", lx.limits.MaxStringLen)
		}
	}
	return token{kind: tokString, pos: p, text: b.String()}, nil
}

// multiline reads "text:" up to a line holding a single "." (§2.4.2).
func (lx *lexer) multiline(p Pos) (token, error) {
	// Rest of the "text:" line: white space and an optional hash comment.
	for lx.off < len(lx.src) && (lx.src[lx.off] == ' ' || lx.src[lx.off] == '\t') {
		lx.advance(1)
	}
	if lx.off < len(lx.src) && lx.src[lx.off] == '#' {
		for lx.off < len(lx.src) && lx.src[lx.off] != '\n' {
			lx.advance(1)
		}
	}
	if lx.off < len(lx.src) && lx.src[lx.off] == '\r' {
		lx.advance(1)
	}
	if lx.off >= len(lx.src) || lx.src[lx.off] != '\n' {
		return token{}, lx.errf(p, "expected end of line after text:")
	}
	lx.advance(1)
	var b strings.Builder
	for {
		if lx.off >= len(lx.src) {
			return token{}, lx.errf(p, "unterminated multi-line string")
		}
		end := strings.IndexByte(lx.src[lx.off:], '\n')
		var line string
		if end < 0 {
			line = lx.src[lx.off:]
			end = len(line)
		} else {
			line = lx.src[lx.off : lx.off+end]
			end++
		}
		lx.advance(end)
		trimmed := strings.TrimSuffix(line, "\r")
		if trimmed == "." {
			break
		}
		if strings.HasPrefix(trimmed, "..") { // dot-stuffing
			trimmed = trimmed[1:]
		}
		b.WriteString(trimmed)
		b.WriteString("\r\n")
		if b.Len() > lx.limits.MaxStringLen {
			return token{}, lx.errf(p, "string longer than %d bytes", lx.limits.MaxStringLen)
		}
	}
	return token{kind: tokString, pos: p, text: b.String()}, nil
}
