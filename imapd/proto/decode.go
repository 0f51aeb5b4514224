package proto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Command is one client command: its tag, its name in upper case ("UID
// FETCH" for the UID forms, RFC 9051 §6.4.9) and its arguments as written.
type Command struct {
	Tag  string
	Name string
	Args []Value
}

// Pending describes a literal the client has announced, before any of its
// bytes are read: the command so far (top-level arguments complete before
// it) and where the literal stands.
type Pending struct {
	Tag, Name string
	Args      []Value // top-level arguments before the literal
	Depth     int     // 0 for a top-level literal, 1 inside one list, …
	Size      int64
	Sync      bool // the client waits for a continuation request
	Binary    bool // literal8 (~{n})
}

// Hooks let the connection decide, while a command is being read, what
// the decoder cannot know: whether the command is allowed in this state,
// and how large a literal may be.
type Hooks struct {
	// Begin is called once the tag and name are read, before any argument
	// is parsed. An error refuses the command: the decoder skips the rest
	// of it (its literals are never asked for) and returns the error.
	Begin func(tag, name string) error
	// Literal approves an announced literal. exempt takes it out of
	// Limits.Literal and Limits.Command (APPEND's message, which has its
	// own limit the hook checks). An error refuses the command before a
	// synchronizing literal is asked for.
	Literal func(p Pending) (exempt bool, err error)
	// Continue sends a command continuation request ("+ …") and flushes,
	// so the client sends a synchronizing literal.
	Continue func() error
}

// Error is a command the decoder refused. Unless Fatal, the decoder is in
// step with the client again, and the caller answers with a tagged BAD (or
// NO, when NO is set) carrying Code; Fatal means the stream cannot be
// followed any more: answer BYE and close without reading further.
type Error struct {
	Tag   string // "" when no tag could be read ("*" is used then)
	Code  string // RFC 5530 response code, "" for none
	Text  string
	NO    bool
	Fatal bool
}

func (e *Error) Error() string {
	if e.Code != "" {
		return "[" + e.Code + "] " + e.Text
	}
	return e.Text
}

// Decoder reads commands from a client connection. It is not safe for
// concurrent use; one goroutine per connection owns it.
type Decoder struct {
	r     *bufio.Reader
	lim   Limits
	hooks Hooks

	line   []byte // the current line, CRLF removed
	pos    int
	total  int64 // bytes of the current command counted against Limits.Command
	values int
	broken error // a fatal error: every later read returns it
}

// NewDecoder reads from r with the given limits (zero fields take
// DefaultLimits') and hooks.
func NewDecoder(r *bufio.Reader, lim Limits, hooks Hooks) *Decoder {
	def := DefaultLimits
	if lim.Line <= 0 {
		lim.Line = def.Line
	}
	if lim.Literal <= 0 {
		lim.Literal = def.Literal
	}
	if lim.Command <= 0 {
		lim.Command = def.Command
	}
	if lim.Depth <= 0 {
		lim.Depth = def.Depth
	}
	if lim.Values <= 0 {
		lim.Values = def.Values
	}
	if lim.Discard <= 0 {
		lim.Discard = def.Discard
	}
	return &Decoder{r: r, lim: lim, hooks: hooks}
}

// errSkip is returned by readLine for a line over the limit; the caller
// turns it into a fatal Error.
var errLineTooLong = errors.New("line too long")

// ReadLine reads one line that is not a command: a SASL response during
// AUTHENTICATE, DONE during IDLE. It returns the line without its CRLF.
func (d *Decoder) ReadLine() ([]byte, error) {
	if d.broken != nil {
		return nil, d.broken
	}
	line, err := d.readLine()
	if errors.Is(err, errLineTooLong) {
		return nil, d.fatal("", "Line too long")
	}
	return line, err
}

// readLine reads up to LF (CRLF or a bare LF) and returns the line without
// them, reading at most Limits.Line bytes before giving up.
func (d *Decoder) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(line)+len(chunk) > d.lim.Line+2 {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (d *Decoder) fatal(tag, text string) error {
	d.broken = &Error{Tag: tag, Code: "LIMIT", Text: text, Fatal: true}
	return d.broken
}

// ReadCommand reads the next command. An *Error is a refused command (see
// Error); any other error is the connection's (EOF, a timeout).
func (d *Decoder) ReadCommand() (*Command, error) {
	if d.broken != nil {
		return nil, d.broken
	}
	for {
		line, err := d.readLine()
		if errors.Is(err, errLineTooLong) {
			return nil, d.fatal("", "Command line too long")
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // tolerated, as other servers do
		}
		d.line, d.pos, d.total, d.values = line, 0, int64(len(line)), 0
		cmd, err := d.command()
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) && !pe.Fatal {
				if serr := d.skip(); serr != nil {
					return nil, serr
				}
			}
			return nil, err
		}
		return cmd, nil
	}
}

func (d *Decoder) command() (*Command, error) {
	tag := d.tag()
	if tag == "" {
		return nil, &Error{Text: "Missing or invalid tag"}
	}
	cmd := &Command{Tag: tag}
	if !d.sp() {
		return nil, &Error{Tag: tag, Text: "Missing command"}
	}
	name := d.atomWord()
	if name == "" {
		return nil, &Error{Tag: tag, Text: "Missing command"}
	}
	cmd.Name = strings.ToUpper(name)
	if cmd.Name == "UID" {
		if !d.sp() {
			return nil, &Error{Tag: tag, Text: "Missing command after UID"}
		}
		sub := d.atomWord()
		if sub == "" {
			return nil, &Error{Tag: tag, Text: "Missing command after UID"}
		}
		cmd.Name += " " + strings.ToUpper(sub)
	}
	if d.hooks.Begin != nil {
		if err := d.hooks.Begin(cmd.Tag, cmd.Name); err != nil {
			return nil, err
		}
	}
	args, err := d.arguments(cmd)
	if err != nil {
		return nil, err
	}
	cmd.Args = args
	return cmd, nil
}

// tag reads a tag: one or more ASTRING-CHARs but "+" (RFC 9051 §9).
func (d *Decoder) tag() string {
	start := d.pos
	for d.pos < len(d.line) {
		c := d.line[d.pos]
		if !isAtomChar(c) && c != ']' || c == '+' {
			break
		}
		d.pos++
	}
	return string(d.line[start:d.pos])
}

// atomWord reads a plain atom (command names), brackets not allowed.
func (d *Decoder) atomWord() string {
	start := d.pos
	for d.pos < len(d.line) && isAtomChar(d.line[d.pos]) && d.line[d.pos] != '[' {
		d.pos++
	}
	return string(d.line[start:d.pos])
}

func (d *Decoder) sp() bool {
	if d.pos < len(d.line) && d.line[d.pos] == ' ' {
		d.pos++
		return true
	}
	return false
}

// arguments reads values up to the end of the command: space-separated,
// lists nested up to Limits.Depth with an explicit stack.
func (d *Decoder) arguments(cmd *Command) ([]Value, error) {
	var top []Value
	var stack [][]Value // open lists, innermost last
	bad := func(format string, a ...any) error {
		return &Error{Tag: cmd.Tag, Text: fmt.Sprintf(format, a...)}
	}
	add := func(v Value) error {
		d.values++
		if d.values > d.lim.Values {
			return &Error{Tag: cmd.Tag, Code: "LIMIT", Text: "Too many arguments"}
		}
		if len(stack) == 0 {
			top = append(top, v)
		} else {
			stack[len(stack)-1] = append(stack[len(stack)-1], v)
		}
		return nil
	}
	// needSep: a value (or the command name) was just completed, so the
	// next byte must be SP, ")" or the end of the line.
	needSep := true
	for {
		if d.pos == len(d.line) {
			if len(stack) > 0 {
				return nil, bad("Unterminated list")
			}
			return top, nil
		}
		c := d.line[d.pos]
		switch {
		case c == ' ':
			if !needSep {
				return nil, bad("Unexpected space")
			}
			d.pos++
			needSep = false
			continue
		case c == ')':
			if len(stack) == 0 {
				return nil, bad("Unexpected )")
			}
			d.pos++
			l := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if l == nil {
				l = []Value{}
			}
			if err := add(Value{Kind: List, List: l}); err != nil {
				return nil, err
			}
			needSep = true
			continue
		}
		if needSep {
			return nil, bad("Expected space")
		}
		switch {
		case c == '(':
			if len(stack) >= d.lim.Depth {
				return nil, &Error{Tag: cmd.Tag, Code: "LIMIT", Text: "Lists nested too deeply"}
			}
			d.pos++
			stack = append(stack, nil)
			continue
		case c == '"':
			s, err := d.quoted()
			if err != nil {
				return nil, bad("%v", err)
			}
			if err := add(Value{Kind: Quoted, Bytes: s}); err != nil {
				return nil, err
			}
		case c == '{' || c == '~' && d.pos+1 < len(d.line) && d.line[d.pos+1] == '{':
			p, err := d.announcement()
			if err != nil {
				return nil, bad("%v", err)
			}
			p.Tag, p.Name, p.Args, p.Depth = cmd.Tag, cmd.Name, top, len(stack)
			b, err := d.literal(p)
			if err != nil {
				return nil, err
			}
			if err := add(Value{Kind: Literal, Bytes: b, Binary: p.Binary}); err != nil {
				return nil, err
			}
		default:
			a := d.atom()
			if a == nil {
				return nil, bad("Unexpected character %q", c)
			}
			if err := add(Value{Kind: Atom, Bytes: a}); err != nil {
				return nil, err
			}
		}
		needSep = true
	}
}

// atom reads an atom, allowing the characters list patterns, flags and
// sequence sets use (*, %, \, ]) and a bracketed section with anything
// but CR, LF and NUL inside ("BODY[HEADER.FIELDS (To Cc)]<0.2048>").
func (d *Decoder) atom() []byte {
	start := d.pos
	for d.pos < len(d.line) {
		c := d.line[d.pos]
		if c == '[' {
			if end := d.section(d.pos); end > 0 {
				d.pos = end
				continue
			}
			// An unmatched "[" is an ordinary character (a mailbox name
			// may hold one).
			d.pos++
			continue
		}
		if !isAtomChar(c) && c != ']' && c != '*' && c != '%' && c != '\\' {
			break
		}
		d.pos++
	}
	if d.pos == start {
		return nil
	}
	return d.line[start:d.pos:d.pos]
}

// section returns the index just past the "]" matching the "[" at i, with
// quoted strings inside skipped, or -1.
func (d *Decoder) section(i int) int {
	depth := 0
	inQuote := false
	for ; i < len(d.line); i++ {
		c := d.line[i]
		switch {
		case c == 0:
			return -1
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '[':
			depth++
		case c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// quoted reads a quoted string (RFC 9051 §4.3): no CR, LF or NUL; only
// \" and \\ escapes. UTF-8 is accepted (RFC 9051, RFC 6855).
func (d *Decoder) quoted() ([]byte, error) {
	d.pos++ // opening quote
	var out []byte
	for d.pos < len(d.line) {
		c := d.line[d.pos]
		d.pos++
		switch c {
		case '"':
			if out == nil {
				out = []byte{}
			}
			return out, nil
		case '\\':
			if d.pos == len(d.line) || d.line[d.pos] != '"' && d.line[d.pos] != '\\' {
				return nil, errors.New("Invalid escape in quoted string")
			}
			out = append(out, d.line[d.pos])
			d.pos++
		case 0:
			return nil, errors.New("NUL in quoted string")
		default:
			out = append(out, c)
		}
	}
	return nil, errors.New("Unterminated quoted string")
}

// announcement parses "{n}", "{n+}" or "~{n}" at d.pos, which must end the
// line (RFC 9051 §4.3, RFC 7888, RFC 3516).
func (d *Decoder) announcement() (Pending, error) {
	var p Pending
	rest := d.line[d.pos:]
	if rest[0] == '~' {
		p.Binary = true
		rest = rest[1:]
	}
	if len(rest) < 3 || rest[len(rest)-1] != '}' {
		return p, errors.New("Invalid literal")
	}
	digits := rest[1 : len(rest)-1]
	p.Sync = true
	if n := len(digits); n > 0 && digits[n-1] == '+' {
		digits, p.Sync = digits[:n-1], false
	}
	if len(digits) == 0 || len(digits) > 19 {
		return p, errors.New("Invalid literal size")
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return p, errors.New("Invalid literal")
		}
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return p, errors.New("Invalid literal size")
	}
	p.Size = n
	d.pos = len(d.line)
	return p, nil
}

// literal approves, asks for and reads an announced literal, then reads
// the line that continues the command.
func (d *Decoder) literal(p Pending) ([]byte, error) {
	exempt := false
	var err error
	if d.hooks.Literal != nil {
		exempt, err = d.hooks.Literal(p)
	}
	if err == nil && !exempt && p.Size > d.lim.Literal {
		err = &Error{Tag: p.Tag, Code: "TOOBIG", Text: "Literal too large", NO: true}
	}
	if err == nil && !exempt && d.total+p.Size > d.lim.Command {
		err = &Error{Tag: p.Tag, Code: "TOOBIG", Text: "Command too large", NO: true}
	}
	if err != nil {
		// Back up to the announcement so skip() sees it and, for a
		// non-synchronizing literal, throws its bytes away.
		d.pos = len(d.line)
		return nil, err
	}
	if p.Sync && d.hooks.Continue != nil {
		if err := d.hooks.Continue(); err != nil {
			return nil, err
		}
	}
	if !exempt {
		d.total += p.Size
	}
	b := make([]byte, p.Size)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, err
	}
	line, err := d.readLine()
	if errors.Is(err, errLineTooLong) {
		return nil, d.fatal(p.Tag, "Command line too long")
	}
	if err != nil {
		return nil, err
	}
	d.total += int64(len(line))
	if d.total > d.lim.Command && !exempt {
		return nil, d.fatal(p.Tag, "Command too large")
	}
	d.line, d.pos = line, 0
	return b, nil
}

// skip brings the decoder back in step after a refused command: the rest
// of the command is read and dropped. A line ending in a synchronizing
// literal ends the command (the client will not send it without a
// continuation); a non-synchronizing literal's bytes are read and
// dropped, up to Limits.Discard.
func (d *Decoder) skip() error {
	var dropped int64
	for {
		n, sync, ok := trailingLiteral(d.line)
		if !ok || sync {
			return nil
		}
		dropped += n
		if dropped > d.lim.Discard {
			return d.fatal("", "Literal too large to skip")
		}
		if _, err := io.CopyN(io.Discard, d.r, n); err != nil {
			return err
		}
		line, err := d.readLine()
		if errors.Is(err, errLineTooLong) {
			return d.fatal("", "Command line too long")
		}
		if err != nil {
			return err
		}
		d.line, d.pos = line, 0
	}
}

// trailingLiteral reports whether a line ends with a literal announcement.
func trailingLiteral(line []byte) (n int64, sync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := line[open+1 : len(line)-1]
	sync = true
	if k := len(digits); k > 0 && digits[k-1] == '+' {
		digits, sync = digits[:k-1], false
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false, false
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || v < 0 {
		return 0, false, false
	}
	return v, sync, true
}

// isAtomChar reports whether c is an ATOM-CHAR (RFC 9051 §9): any CHAR but
// atom-specials: ( ) { SP CTL % * " \ ].
func isAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}
