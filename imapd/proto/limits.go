package proto

// Limits bound what one command may make the server read and hold. Every
// limit is checked while reading, before the bytes are kept, so no input
// can make the decoder grow without bound or recurse (lists are built
// with an explicit stack, never by recursion).
type Limits struct {
	// Line bounds one line of a command, without its literals. RFC 7162
	// §4 asks servers to accept at least 8192 octets; clients sending
	// long UID sets need more.
	Line int
	// Literal bounds one literal in any command but the message of
	// APPEND, whose limit the caller decides (APPENDLIMIT) when it is
	// asked to approve the literal.
	Literal int64
	// Command bounds the bytes of one command, lines and literals
	// together, APPEND's message literals excluded.
	Command int64
	// Depth bounds the nesting of parenthesised lists (SEARCH, FETCH
	// BODY[HEADER.FIELDS (…)], ID, APPEND flags).
	Depth int
	// Values bounds the number of values (atoms, strings, lists) in one
	// command, all levels together.
	Values int
	// Discard bounds how much of a refused non-synchronizing literal is
	// read and thrown away to stay in step with the client; beyond it the
	// connection cannot be resynchronised and is closed.
	Discard int64
}

// DefaultLimits are generous for every real client and small enough that
// a hostile one costs little.
var DefaultLimits = Limits{
	Line:    64 << 10,
	Literal: 64 << 10,
	Command: 1 << 20,
	Depth:   32,
	Values:  16 << 10,
	Discard: 64 << 20,
}

// MaxSetRanges bounds the ranges of one sequence set ("1,3,5:7" has 3).
// A client asking for more ranges than this is better served by a
// search; RFC 9051 sets no limit.
const MaxSetRanges = 4096
