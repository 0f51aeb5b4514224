package proto

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"unicode/utf8"
)

// maxQuoted is the longest string sent quoted; longer ones go as literals,
// which clients read without scanning for escapes.
const maxQuoted = 1024

// Encoder writes server responses. It owns the choice between atom,
// quoted string, literal and literal8 (RFC 9051 §4.3, RFC 3516): callers
// say what a value is, never how to write it. The first write error
// sticks; Err and Flush report it.
type Encoder struct {
	w *bufio.Writer
	// UTF8 is set once the client has enabled UTF8=ACCEPT (RFC 6855):
	// quoted strings may then carry UTF-8.
	UTF8 bool
	// Sync, if set, is called by Flush once the buffer is written out: a
	// layer below it that holds data back (COMPRESS) sends it then.
	Sync func() error
	err  error
}

// NewEncoder writes to w.
func NewEncoder(w *bufio.Writer) *Encoder { return &Encoder{w: w} }

// Err returns the first write error.
func (e *Encoder) Err() error { return e.err }

// Flush writes out what is buffered.
func (e *Encoder) Flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err == nil && e.Sync != nil {
		e.err = e.Sync()
	}
	return e.err
}

// Raw writes protocol text as it is: keywords, punctuation, response
// codes the caller built from atoms.
func (e *Encoder) Raw(s string) *Encoder {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
	return e
}

func (e *Encoder) byte(c byte) *Encoder {
	if e.err == nil {
		e.err = e.w.WriteByte(c)
	}
	return e
}

// SP writes a space.
func (e *Encoder) SP() *Encoder { return e.byte(' ') }

// CRLF ends a response line.
func (e *Encoder) CRLF() *Encoder { return e.Raw("\r\n") }

// Open and Close write the parentheses of a list.
func (e *Encoder) Open() *Encoder  { return e.byte('(') }
func (e *Encoder) Close() *Encoder { return e.byte(')') }

// Number writes a number.
func (e *Encoder) Number(n uint64) *Encoder {
	if e.err == nil {
		var buf [20]byte
		_, e.err = e.w.Write(strconv.AppendUint(buf[:0], n, 10))
	}
	return e
}

// Atom writes s as an atom if it is one, and as a string otherwise, so
// nothing a client or a message supplied can break the syntax.
func (e *Encoder) Atom(s string) *Encoder {
	if isAtom(s) {
		return e.Raw(s)
	}
	return e.String(s)
}

// Flag writes a flag: a system flag ("\\Seen") as it is, a keyword as an
// atom.
func (e *Encoder) Flag(f string) *Encoder {
	switch {
	case f == `\*`:
		return e.Raw(f) // PERMANENTFLAGS' "any keyword" (RFC 9051 §7.1)
	case len(f) > 1 && f[0] == '\\' && atomChars(f[1:]), atomChars(f):
		return e.Raw(f) // a keyword may be any atom, even NIL
	}
	return e.String(f)
}

// Nil writes NIL.
func (e *Encoder) Nil() *Encoder { return e.Raw("NIL") }

// String writes s as a quoted string when it can be one, else as a
// literal. NUL, which no string may hold (RFC 9051 §4.3), is written as
// U+FFFD.
func (e *Encoder) String(s string) *Encoder {
	return e.Bytes([]byte(s))
}

// NString writes NIL for an empty s, else s as a string (ENVELOPE's
// nstring fields, where the empty value is NIL).
func (e *Encoder) NString(s string) *Encoder {
	if s == "" {
		return e.Nil()
	}
	return e.String(s)
}

// Bytes is String for a byte slice.
func (e *Encoder) Bytes(b []byte) *Encoder {
	if bytes.IndexByte(b, 0) >= 0 {
		b = bytes.ReplaceAll(b, []byte{0}, []byte("\uFFFD"))
	}
	if e.quotable(b) {
		e.byte('"')
		for _, c := range b {
			if c == '"' || c == '\\' {
				e.byte('\\')
			}
			e.byte(c)
		}
		return e.byte('"')
	}
	return e.literalHeader(int64(len(b)), false).write(b)
}

func (e *Encoder) quotable(b []byte) bool {
	if len(b) > maxQuoted {
		return false
	}
	ascii := true
	for _, c := range b {
		switch {
		case c == '\r' || c == '\n' || c == 0:
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	return ascii || e.UTF8 && utf8.Valid(b)
}

func (e *Encoder) write(b []byte) *Encoder {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
	return e
}

func (e *Encoder) literalHeader(n int64, binary bool) *Encoder {
	if binary {
		e.byte('~')
	}
	e.byte('{')
	if e.err == nil {
		var buf [20]byte
		_, e.err = e.w.Write(strconv.AppendInt(buf[:0], n, 10))
	}
	return e.Raw("}\r\n")
}

// Literal writes b as a literal. Content that holds NUL must not be a
// plain literal (RFC 9051 §4.3): callers check with HasNUL and use
// Literal8 (FETCH BINARY) or another encoding.
func (e *Encoder) Literal(b []byte) *Encoder {
	return e.literalHeader(int64(len(b)), false).write(b)
}

// Literal8 writes b as a literal8 (RFC 3516), which may hold any octet.
func (e *Encoder) Literal8(b []byte) *Encoder {
	return e.literalHeader(int64(len(b)), true).write(b)
}

// LiteralFrom writes n bytes read from r as a literal (or literal8), so
// large content streams from the store without being held whole.
func (e *Encoder) LiteralFrom(r io.Reader, n int64, binary bool) *Encoder {
	e.literalHeader(n, binary)
	if e.err == nil {
		var m int64
		m, e.err = io.CopyN(e.w, r, n)
		if e.err == nil && m != n {
			e.err = io.ErrUnexpectedEOF
		}
	}
	return e
}

// HasNUL reports whether b holds a NUL octet.
func HasNUL(b []byte) bool { return bytes.IndexByte(b, 0) >= 0 }

// isAtom reports whether s can be written as an atom: not empty, not NIL
// (which would read back as nothing), ATOM-CHARs only.
func isAtom(s string) bool {
	if len(s) == 3 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'i' && (s[2]|0x20) == 'l' {
		return false
	}
	return atomChars(s)
}

// atomChars reports whether s is one or more ATOM-CHARs.
func atomChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return false
		}
	}
	return true
}
