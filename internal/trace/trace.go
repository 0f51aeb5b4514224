// Package trace writes protocol transcripts: every line a client sends
// ("C: ") and the server answers ("S: "), logged at Level, below Debug, on
// the connection's logger.
//
// A transcript is for debugging a client, so it must be safe to paste
// into a bug report: it never holds a credential nor message content.
//
//   - IMAP LOGIN keeps its user name and redacts the password (and every
//     continuation line and literal of the command after the user name);
//     AUTHENTICATE keeps its mechanism and redacts the initial response and
//     every line the client sends until the command's tagged reply.
//   - SMTP AUTH keeps its mechanism and redacts the initial response and
//     every client line until a reply other than 334.
//   - Literals (APPEND, and any other), the DATA body and BDAT chunks are
//     summarised as byte counts.
//
// Lines are framed here, independently of the servers' own parsers, with
// explicit limits: at most MaxShown bytes of a line are kept and shown
// (the rest is counted), so a transcript costs a bounded amount of memory
// per connection whatever the client sends.
//
// TLS: a transcript shows plaintext only. imapd terminates STARTTLS and
// implicit TLS itself and wraps the decrypted connection again after the
// handshake. go-smtp terminates TLS inside its own connection with no hook,
// so an SMTP transcript sits below TLS: it ends at "220" after STARTTLS,
// and a connection that starts with a TLS handshake (port 465) has none.
//
// Wrap is a no-op unless the logger records Level when the connection is
// accepted: with tracing off a connection costs nothing more.
package trace

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Level is the log level of transcripts: below slog.LevelDebug ("trace"
// in the configuration).
const Level = slog.LevelDebug - 4

// MaxShown bounds the bytes of one line that a transcript keeps and shows.
const MaxShown = 512

// Protocol selects the redaction rules.
type Protocol int

const (
	IMAP Protocol = iota
	SMTP
)

// Enabled reports whether log records transcripts.
func Enabled(log *slog.Logger) bool {
	return log != nil && log.Enabled(context.Background(), Level)
}

// Conn logs the transcript of the connection it wraps.
type Conn struct {
	net.Conn
	log atomic.Pointer[slog.Logger]
	mu  sync.Mutex // guards t
	t   transcript
}

var _ net.Conn = (*Conn)(nil)

// Wrap returns c wrapped in a Conn logging to log (with c's remote
// address), or c itself when log does not record Level.
func Wrap(c net.Conn, p Protocol, log *slog.Logger) net.Conn {
	if !Enabled(log) {
		return c
	}
	tc := &Conn{Conn: c, t: transcript{proto: p}}
	if a := c.RemoteAddr(); a != nil {
		log = log.With("remote", a.String())
	}
	tc.log.Store(log)
	return tc
}

// SetLogger makes l the logger of the lines to come (a session's logger
// carries its connection id).
func (c *Conn) SetLogger(l *slog.Logger) { c.log.Store(l) }

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Attach sets l as the logger of the Conn under c, found through NetConn
// (a *tls.Conn has it); it does nothing when c is not traced.
func Attach(c net.Conn, l *slog.Logger) {
	for range 8 {
		switch x := c.(type) {
		case *Conn:
			x.SetLogger(l)
			return
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return
		}
	}
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		lines := c.t.client(p[:n])
		c.mu.Unlock()
		c.emit(lines)
	}
	return n, err
}

// Write logs before it writes, so that a client holding a reply knows
// that its line is in the log.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.mu.Lock()
		lines := c.t.server(p)
		c.mu.Unlock()
		c.emit(lines)
	}
	return c.Conn.Write(p)
}

func (c *Conn) emit(lines []string) {
	log := c.log.Load()
	for _, l := range lines {
		log.Log(context.Background(), Level, l)
	}
}

// line collects one line: its first MaxShown bytes, its last few (where
// an IMAP literal is announced), and its length.
type line struct {
	head []byte
	tail [24]byte
	nt   int // valid bytes at the end of tail
	n    int64
}

func (l *line) add(p []byte) {
	if room := MaxShown - len(l.head); room > 0 {
		l.head = append(l.head, p[:min(room, len(p))]...)
	}
	if len(p) >= len(l.tail) {
		copy(l.tail[:], p[len(p)-len(l.tail):])
		l.nt = len(l.tail)
	} else {
		keep := min(l.nt, len(l.tail)-len(p))
		copy(l.tail[:], l.tail[l.nt-keep:l.nt])
		copy(l.tail[keep:], p)
		l.nt = keep + len(p)
	}
	l.n += int64(len(p))
}

func (l *line) reset() { l.head, l.nt, l.n = l.head[:0], 0, 0 }

// text returns the line as shown, without its line end.
func (l *line) text() string {
	s := string(l.head)
	if l.n > int64(len(l.head)) {
		return printable(s) + "… (" + strconv.FormatInt(l.n, 10) + " bytes)"
	}
	return printable(strings.TrimRight(s, "\r\n"))
}

// end returns the last bytes of the line without its line end.
func (l *line) end() []byte {
	return bytes.TrimRight(l.tail[:l.nt], "\r\n")
}

// printable escapes control characters so that one logged line is one line.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// side is one direction of the stream.
type side struct {
	cur  line
	lit  int64 // literal (or BDAT chunk) bytes still to come
	litN int64 // its size
}

// feed splits p into complete lines and literal data, calling onLine and
// onLit; a line still open at the end of p stays in s.cur.
func (s *side) feed(p []byte, onLine func(*line), onLit func(n int64)) {
	for len(p) > 0 {
		if s.lit > 0 {
			n := min(int64(len(p)), s.lit)
			s.lit -= n
			p = p[n:]
			if s.lit == 0 {
				onLit(s.litN)
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.cur.add(p)
			return
		}
		s.cur.add(p[:i+1])
		p = p[i+1:]
		onLine(&s.cur)
		s.cur.reset()
	}
}

// transcript follows both directions of one connection.
type transcript struct {
	proto    Protocol
	in, out  side
	started  bool // a byte went either way
	stopped  bool // TLS: nothing more is shown
	inCmd    bool // the client's next line continues a command after a literal
	secret   bool // ... and is a credential (IMAP LOGIN)
	sasl     bool // client lines are SASL responses
	tag      string
	litWait  bool // a synchronizing literal waits for "+"
	data     bool // SMTP DATA body
	dataN    int64
	wantData bool // SMTP: DATA sent, waiting for 354
	wantTLS  bool // STARTTLS sent, waiting for its reply
	lines    []string
}

const redacted = "[redacted]"

func (t *transcript) start(p []byte) bool {
	if t.stopped {
		return false
	}
	if !t.started {
		t.started = true
		if p[0] == 0x16 { // a TLS handshake record
			t.stopped = true
			t.lines = append(t.lines, "TLS handshake: no transcript of an encrypted connection")
			return false
		}
	}
	return true
}

// client takes bytes read from the client and returns the lines to log.
func (t *transcript) client(p []byte) []string {
	t.lines = nil // the caller logs them after unlocking
	if t.start(p) {
		t.in.feed(p, t.clientLine, func(n int64) {
			if t.secret {
				t.emit("C: ", redacted)
			} else {
				t.emit("C: ", "["+strconv.FormatInt(n, 10)+" bytes]")
			}
		})
	}
	return t.lines
}

// server takes bytes written to the client and returns the lines to log.
func (t *transcript) server(p []byte) []string {
	t.lines = nil
	if t.start(p) {
		t.out.feed(p, t.serverLine, func(n int64) {
			t.emit("S: ", "["+strconv.FormatInt(n, 10)+" bytes]")
		})
	}
	return t.lines
}

func (t *transcript) emit(prefix, s string) { t.lines = append(t.lines, prefix+s) }

func (t *transcript) clientLine(l *line) {
	if t.proto == SMTP {
		t.smtpClient(l)
		return
	}
	t.imapClient(l)
}

func (t *transcript) serverLine(l *line) {
	if t.proto == SMTP {
		t.smtpServer(l)
		return
	}
	t.imapServer(l)
}

// words returns the first two space-separated words of s and the rest.
func words(s string) (a, b, rest string) {
	a, rest, _ = strings.Cut(s, " ")
	b, rest, _ = strings.Cut(rest, " ")
	return a, b, rest
}

func (t *transcript) imapClient(l *line) {
	text := l.text()
	switch {
	case t.sasl:
		if strings.TrimRight(string(l.head), "\r\n") == "*" {
			t.emit("C: ", "*")
		} else {
			t.emit("C: ", redacted)
		}
		return
	case t.inCmd && t.secret:
		t.emit("C: ", redacted)
	case t.inCmd:
		t.emit("C: ", text)
	default:
		tag, cmd, rest := words(text)
		t.tag, t.secret = tag, false
		switch strings.ToUpper(cmd) {
		case "LOGIN":
			user, more := firstArg(rest)
			if more {
				user += " " + redacted
			}
			t.secret = true // literals and continuation lines of LOGIN
			t.emit("C: ", tag+" "+cmd+" "+user)
		case "AUTHENTICATE":
			mech, ir, _ := strings.Cut(rest, " ")
			if ir != "" {
				mech += " " + redacted
			}
			t.sasl = true
			t.emit("C: ", tag+" "+cmd+" "+mech)
		default:
			t.emit("C: ", text)
		}
	}
	n, sync, ok := imapLiteral(l.end())
	t.inCmd = ok
	if !ok {
		t.secret = false
		return
	}
	t.in.lit, t.in.litN, t.litWait = n, n, sync
	if n == 0 {
		t.in.lit = 0 // nothing to count: the command goes on at once
		t.litWait = false
	}
}

// firstArg returns the first IMAP argument of s (an atom, a quoted string
// or a literal announcement) and whether more follows.
func firstArg(s string) (string, bool) {
	if strings.HasPrefix(s, `"`) {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return s[:i+1], i+1 < len(s)
			}
		}
		return s, false
	}
	a, rest, _ := strings.Cut(s, " ")
	return a, rest != ""
}

func (t *transcript) imapServer(l *line) {
	t.emit("S: ", l.text())
	head := string(l.head)
	switch {
	case t.sasl && strings.HasPrefix(head, t.tag+" "):
		t.sasl = false
	case t.litWait && strings.HasPrefix(head, "+"):
		t.litWait = false
	case t.litWait && (strings.HasPrefix(head, t.tag+" ") || strings.HasPrefix(head, "* BYE")):
		// The literal was refused before it was sent: the client's next
		// line is a new command.
		t.litWait, t.in.lit, t.inCmd, t.secret = false, 0, false, false
	}
	if n, _, ok := imapLiteral(l.end()); ok {
		t.out.lit, t.out.litN = n, n
	}
}

// imapLiteral reports the literal announced at the end of a line:
// "{N}" (synchronizing), "{N+}" or "~{N}".
func imapLiteral(b []byte) (n int64, sync, ok bool) {
	if len(b) < 3 || b[len(b)-1] != '}' {
		return 0, false, false
	}
	i := bytes.LastIndexByte(b, '{')
	if i < 0 {
		return 0, false, false
	}
	num := b[i+1 : len(b)-1]
	sync = true
	if len(num) > 0 && num[len(num)-1] == '+' {
		num, sync = num[:len(num)-1], false
	}
	if len(num) == 0 || len(num) > 18 {
		return 0, false, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, sync, true
}

func (t *transcript) smtpClient(l *line) {
	head := strings.TrimRight(string(l.head), "\r\n")
	switch {
	case t.data:
		if head == "." && l.n <= 3 {
			t.data = false
			t.emit("C: ", "["+strconv.FormatInt(t.dataN, 10)+" bytes of message]")
			t.emit("C: ", ".")
			return
		}
		t.dataN += l.n
		return
	case t.sasl:
		if head == "*" {
			t.emit("C: ", "*")
		} else {
			t.emit("C: ", redacted)
		}
		return
	}
	text := l.text()
	verb, arg, _ := words(text)
	switch strings.ToUpper(verb) {
	case "AUTH":
		if _, _, ir := words(text); ir != "" {
			arg += " " + redacted
		}
		t.sasl = true
		t.emit("C: ", verb+" "+arg)
		return
	case "DATA":
		t.wantData = true
	case "STARTTLS":
		t.wantTLS = true
	case "BDAT":
		if n, err := strconv.ParseInt(arg, 10, 64); err == nil && n > 0 {
			t.in.lit, t.in.litN = n, n
		}
	}
	t.emit("C: ", text)
}

func (t *transcript) smtpServer(l *line) {
	t.emit("S: ", l.text())
	head := string(l.head)
	if len(head) >= 4 && head[3] == '-' {
		return // not the last line of the reply
	}
	code := head[:min(3, len(head))]
	if t.sasl && code != "334" {
		t.sasl = false
	}
	if t.wantData {
		t.wantData = false
		if code == "354" {
			t.data, t.dataN = true, 0
		}
	}
	if t.wantTLS {
		t.wantTLS = false
		if code == "220" {
			t.stopped = true
			t.emit("", "TLS handshake: the transcript ends here")
		}
	}
}
