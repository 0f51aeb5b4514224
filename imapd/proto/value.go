package proto

import (
	"strconv"
	"strings"
)

// Kind is what a Value holds.
type Kind uint8

const (
	// Atom is an unquoted word: a command name, a keyword, a number, a
	// sequence set, a flag (with its backslash), NIL, or a fetch item
	// with its bracketed section ("BODY[HEADER.FIELDS (To)]<0.100>").
	Atom Kind = iota + 1
	// Quoted is a quoted string, unescaped.
	Quoted
	// Literal is a literal's bytes ({n}, {n+} or, with Binary, ~{n}).
	Literal
	// List is a parenthesised list.
	List
)

func (k Kind) String() string {
	switch k {
	case Atom:
		return "atom"
	case Quoted:
		return "quoted string"
	case Literal:
		return "literal"
	case List:
		return "list"
	}
	return "nothing"
}

// Value is one argument of a command as it was written on the wire. The
// command handlers give it a meaning (mailbox name, flag list, search
// key); the decoder only knows IMAP's lexical syntax (RFC 9051 §4).
type Value struct {
	Kind   Kind
	Bytes  []byte  // Atom, Quoted, Literal
	List   []Value // List
	Binary bool    // a literal8 (~{n}), RFC 3516
}

// IsAtom reports whether v is the atom word, compared case-insensitively.
func (v Value) IsAtom(word string) bool {
	return v.Kind == Atom && strings.EqualFold(string(v.Bytes), word)
}

// IsNil reports whether v is NIL.
func (v Value) IsNil() bool { return v.IsAtom("NIL") }

// AString returns v as an astring (RFC 9051: atom / string): the text of
// an atom, a quoted string or a literal.
func (v Value) AString() (string, bool) {
	switch v.Kind {
	case Atom, Quoted, Literal:
		return string(v.Bytes), true
	}
	return "", false
}

// String returns v if it is a string (quoted or literal), not an atom.
func (v Value) String() (string, bool) {
	if v.Kind == Quoted || v.Kind == Literal {
		return string(v.Bytes), true
	}
	return "", false
}

// Number returns v as a number (RFC 9051 "number": 32 bits unsigned).
func (v Value) Number() (uint32, bool) {
	if v.Kind != Atom || len(v.Bytes) == 0 || len(v.Bytes) > 10 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(v.Bytes), 10, 32)
	return uint32(n), err == nil
}

// Number64 returns v as a 63-bit number (RFC 9051 "number64", for sizes
// and RFC 7162 mod-sequences).
func (v Value) Number64() (uint64, bool) {
	if v.Kind != Atom || len(v.Bytes) == 0 || len(v.Bytes) > 19 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(v.Bytes), 10, 63)
	return n, err == nil
}

// Upper returns an atom's text in upper case ("" for anything else), for
// matching keywords.
func (v Value) Upper() string {
	if v.Kind != Atom {
		return ""
	}
	return strings.ToUpper(string(v.Bytes))
}
