package imapd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// extConn sits between the socket and go-imap. go-imap's server has no
// hook for commands it does not know and prints only the capabilities it
// knows, so this layer:
//
//   - frames the client's input: it reads each command whole (its lines
//     and the literals of its arguments, asking for synchronizing ones
//     itself) within the limits in wire.go, refuses what is over them or
//     needs a login that has not happened, answers the commands Mailroom
//     adds itself (ID; the ACL family), and hands every other command to
//     go-imap only once it is complete and within the limits. Only
//     APPEND's message literal is streamed to go-imap as it arrives;
//   - terminates STARTTLS itself, so that it keeps reading plaintext above
//     TLS; go-imap then always sees a plain connection and runs with
//     insecure auth allowed, and this layer enforces the real rule
//     (LOGINDISABLED, LOGIN/AUTHENTICATE refused before TLS);
//   - frames go-imap's output the same way, skipping literals so message
//     content is never looked at, and rewrites only CAPABILITY responses
//     and response codes, and go-imap's untyped parse errors (see
//     serverLine);
//   - caps read deadlines: the login timeout before authentication and the
//     idle timeout after.
//
// Read is only ever called from the connection's command goroutine, and
// go-imap asks for a command's bytes only after it has answered the
// previous one, so a command answered here never overtakes one before it.
type extConn struct {
	raw   net.Conn // the socket, or a *tls.Conn for implicit TLS
	srv   *Server
	lopts ListenerOptions
	start time.Time

	mu     sync.Mutex // guards cur, wbuf, timer, cmdTag and writes to cur
	cur    net.Conn   // raw, or the TLS connection after STARTTLS
	br     *bufio.Reader
	out    outFramer
	wbuf   []byte      // output not yet written to cur
	timer  *time.Timer // flushes wbuf shortly after the first byte
	werr   error       // the first write error; later writes fail with it
	cmdTag string      // tag of the command go-imap is working on

	isTLS  atomic.Bool
	authed atomic.Bool
	closed atomic.Bool
	// answered is set when go-imap writes the tagged response of cmdTag:
	// whatever of that command it has not read by then is dropped.
	answered atomic.Bool
	// entered is set when go-imap hands the current command to the
	// session (enteredSession), so it has parsed it.
	entered atomic.Bool

	// Input state, owned by the reading goroutine.
	segs     [][]byte // the current command's lines and literals for go-imap
	passLit  int64    // message literal bytes to stream to go-imap
	litSync  bool     // that literal is synchronizing
	litSeen  bool     // go-imap has taken some of its bytes
	inCmd    bool     // an APPEND continues after its message literal
	cmdBytes int      // bytes of that command's lines so far
	readErr  error    // sticky: once set, Read only returns it

	session atomic.Pointer[session]
	release func() // gives back the connection's slot
}

func newExtConn(raw net.Conn, srv *Server, lopts ListenerOptions, release func()) *extConn {
	c := &extConn{raw: raw, srv: srv, lopts: lopts, start: time.Now(), release: release}
	c.cur = c.traced(raw)
	c.br = bufio.NewReaderSize(c.cur, 4<<10)
	_, tlsConn := raw.(*tls.Conn)
	c.isTLS.Store(tlsConn)
	return c
}

// Output coalescing: go-imap flushes after every response line, which
// for a FETCH of 100,000 messages is 100,000 write calls. extConn buffers
// instead and writes when go-imap next reads (it is about to wait for the
// client, so no answer is held back), when flushSize bytes are waiting, or
// flushDelay after the first waiting byte (IDLE updates come from another
// goroutine that never reads).
const (
	flushSize    = 32 << 10
	flushDelay   = 2 * time.Millisecond
	flushTimeout = 2 * time.Minute // one flush may take this long
)

// flushLocked writes out the buffered output. The caller holds c.mu.
func (c *extConn) flushLocked() error {
	return c.flushWithin(flushTimeout)
}

func (c *extConn) flushWithin(timeout time.Duration) error {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if len(c.wbuf) == 0 || c.werr != nil {
		c.wbuf = c.wbuf[:0]
		return c.werr
	}
	c.raw.SetWriteDeadline(time.Now().Add(timeout))
	_, c.werr = c.cur.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	return c.werr
}

func (c *extConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *extConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	for {
		if len(c.segs) > 0 {
			if c.answered.Load() {
				// go-imap refused the command before reading all of it;
				// the rest was framed here and is dropped with it.
				c.segs = nil
				continue
			}
			// One segment at most per call, so that go-imap never holds
			// more of a command than it has asked for.
			n := copy(p, c.segs[0])
			if c.segs[0] = c.segs[0][n:]; len(c.segs[0]) == 0 {
				c.segs = c.segs[1:]
			}
			return n, nil
		}
		if c.readErr != nil {
			return 0, c.readErr
		}
		if c.passLit > 0 {
			if c.answered.Load() && !c.litSeen {
				// go-imap refused the message before reading it. A client
				// waiting for "+" sends nothing more; one that used
				// LITERAL+ sends it anyway, and it is discarded here with
				// the rest of its command (RFC 7888 §4).
				c.inCmd = false
				n := c.passLit
				c.passLit = 0
				if !c.litSync {
					if err := c.discard(n); err != nil {
						return 0, err
					}
				}
				continue
			}
			n := int(min(int64(len(p)), c.passLit))
			n, err := c.br.Read(p[:n])
			c.litSeen = true
			c.passLit -= int64(n)
			if err != nil {
				c.fail(err)
			}
			return n, err
		}
		limit := maxCommand
		if c.inCmd {
			limit -= c.cmdBytes
		}
		line, err := readLine(c.br, limit)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return 0, c.bye("[LIMIT] Command line too long", err)
			}
			c.fail(err)
			if len(line) == 0 {
				return 0, err
			}
			c.segs = [][]byte{line} // hand over what came, then the error
			continue
		}
		if c.inCmd {
			if err := c.appendTail(line); err != nil {
				return 0, err
			}
			continue
		}
		tag, name, ok := splitCommand(line)
		if !ok {
			// Not a command: IDLE's DONE, a SASL response, or garbage
			// that go-imap answers.
			c.segs = [][]byte{line}
			continue
		}
		if err := c.command(tag, name, line); err != nil {
			return 0, err
		}
	}
}

// fail makes err the sticky read error.
func (c *extConn) fail(err error) error {
	if c.readErr == nil {
		c.readErr = err
	}
	return c.readErr
}

// errBye stops go-imap's writes after this layer said BYE.
var errBye = errors.New("imap: connection closed with BYE")

// bye ends the connection: after the BYE nothing more is read from the
// client, so nothing more of what it sent is executed, and nothing more
// is written.
func (c *extConn) bye(text string, err error) error {
	c.writeDirect("* BYE " + text + "\r\n")
	c.mu.Lock()
	c.werr = errBye
	c.wbuf = c.wbuf[:0]
	c.mu.Unlock()
	return c.fail(err)
}

// command frames a command whose first line is line, and answers it or
// queues it for go-imap.
func (c *extConn) command(tag, name string, line []byte) error {
	c.mu.Lock()
	c.cmdTag = tag
	c.answered.Store(false)
	c.entered.Store(false)
	c.mu.Unlock()

	switch {
	case name == "STARTTLS" && c.srv.opts.TLSConfig != nil && !c.isTLS.Load() && !c.authed.Load():
		if !bytes.EqualFold(bytes.TrimRight(line, "\r\n"), []byte(tag+" STARTTLS")) {
			return c.refuse(line, tag+" BAD [CLIENTBUG] STARTTLS takes no arguments")
		}
		return c.startTLS(tag)
	case (name == "LOGIN" || name == "AUTHENTICATE") && !c.isTLS.Load() && !c.lopts.InsecureAuth:
		return c.refuse(line, tag+" NO [PRIVACYREQUIRED] Use STARTTLS (or port 993) before logging in")
	case !notAuthCommands[name] && !c.authed.Load():
		if !authCommands[name] {
			// go-imap ends the connection at an unknown command before
			// login (against cross-protocol attacks); it reads no more
			// than this line.
			c.segs = [][]byte{line}
			return nil
		}
		// Refused before its arguments are read: before login, only the
		// few commands above are parsed at all.
		return c.refuse(line, tag+" BAD [CLIENTBUG] "+name+" is only valid after login")
	}

	segs, stream, err := c.frame(tag, name, line)
	if err != nil || segs == nil {
		return err
	}
	switch name {
	case "ID":
		return c.handleID(tag, segs)
	case "SETACL", "DELETEACL", "GETACL", "LISTRIGHTS", "MYRIGHTS":
		return c.handleACL(tag, name, segs)
	}
	c.segs = segs
	if stream {
		// APPEND's message: go-imap checks its size against APPENDLIMIT
		// and asks for it ("+") or refuses it (answered).
		n, sync, _ := literalAtEnd(segs[len(segs)-1])
		c.passLit, c.litSync, c.litSeen, c.inCmd = n, sync, false, true
	}
	return nil
}

// frame reads the rest of a command: the literals of its arguments and
// the lines after them, up to the end of the command or, for APPEND, up
// to the message literal. It returns the pieces for go-imap, with the
// literals already asked for marked non-synchronizing; segs is nil when
// the command was refused here (the answer is written). An error ends
// the connection.
func (c *extConn) frame(tag, name string, line []byte) (segs [][]byte, stream bool, err error) {
	size, depth := len(line), 0
	var lits int64
	for {
		if err := scanLine(line, &depth); err != nil {
			text := " BAD [CLIENTBUG] Unterminated quoted string"
			if errors.Is(err, errTooDeep) {
				text = " BAD [LIMIT] Lists nested too deeply"
			}
			return nil, false, c.refuse(line, tag+text)
		}
		n, sync, ok := literalAtEnd(line)
		if !ok {
			return append(segs, line), false, nil
		}
		if name == "APPEND" && !(len(segs) == 0 && mailboxLiteral(line)) {
			c.cmdBytes = size
			return append(segs, line), true, nil
		}
		if n > maxArgLiteral || lits+n > maxArgLiterals {
			return nil, false, c.refuse(line, tag+" NO [TOOBIG] Literal too large for this command")
		}
		lits += n
		if sync {
			if err := c.writeDirect("+ Ready for literal data\r\n"); err != nil {
				return nil, false, c.fail(err)
			}
			line = nonSync(line)
			size++ // go-imap counts the "+" too
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(c.br, lit); err != nil {
			return nil, false, c.fail(err)
		}
		segs = append(segs, line, lit)
		if line, err = readLine(c.br, maxCommand-size); err != nil {
			if errors.Is(err, errLineTooLong) {
				return nil, false, c.bye("[LIMIT] Command too long", err)
			}
			return nil, false, c.fail(err)
		}
		size += len(line)
	}
}

// appendTail passes on the line that follows APPEND's message literal.
func (c *extConn) appendTail(line []byte) error {
	// go-imap has stored the message by now and expects only CRLF (after
	// ")" for APPEND UTF8); on anything else it answers nothing at all,
	// and the client would wait forever. The message is stored, so it gets
	// the answer for that, and what follows is ignored (MULTIAPPEND is not
	// offered).
	end := bytes.TrimRight(line, "\r\n")
	if bytes.HasPrefix(end, []byte(")")) {
		end = end[1:]
		line = []byte(")\r\n")
	} else {
		line = []byte("\r\n")
	}
	c.segs = [][]byte{line}
	c.inCmd = false
	if len(bytes.TrimLeft(end, " ")) > 0 {
		if n, sync, ok := literalAtEnd(end); ok && !sync {
			return c.discard(n)
		}
	}
	return nil
}

// refuse answers a command (resp, without CRLF) without reading the rest
// of it. A client waiting for "+" sends nothing more of the command; one
// that sent a non-synchronizing literal (RFC 7888) sends the rest anyway,
// and it is read and thrown away first, up to maxDiscard bytes. Past that
// the connection is closed, as RFC 7888 §4 allows.
func (c *extConn) refuse(line []byte, resp string) error {
	if n, sync, ok := literalAtEnd(line); ok && !sync {
		if err := c.discard(n); err != nil {
			return err
		}
	}
	return c.writeDirect(resp + "\r\n")
}

// discard skips a refused non-synchronizing literal of n bytes and the
// rest of its command.
func (c *extConn) discard(n int64) error {
	var total int64
	for {
		if total += n; total > maxDiscard {
			return c.bye("[TOOBIG] Literal too large", errors.New("imap: refused literal too large to discard"))
		}
		if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
			return c.fail(err)
		}
		line, err := readLine(c.br, maxCommand)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return c.bye("[LIMIT] Command line too long", err)
			}
			return c.fail(err)
		}
		total += int64(len(line))
		var sync, ok bool
		if n, sync, ok = literalAtEnd(line); !ok || sync {
			return nil
		}
	}
}

// aclArgs is how many arguments each ACL command takes.
var aclArgs = map[string]int{"SETACL": 3, "DELETEACL": 2, "GETACL": 1, "LISTRIGHTS": 2, "MYRIGHTS": 1}

// handleACL parses an RFC 4314 command and hands it to the session. It is
// only reached after login (command refuses it before).
func (c *extConn) handleACL(tag, name string, segs [][]byte) error {
	s := c.session.Load()
	if s == nil || s.account == nil {
		return c.writeDirect(tag + " BAD [CLIENTBUG] " + name + " is only valid after login\r\n")
	}
	r := argsReader(segs)
	var args []string
	var err error
	for range aclArgs[name] {
		if err = r.sp(); err != nil {
			break
		}
		var a arg
		if a, err = r.next(); err != nil {
			break
		}
		v, ok := a.str()
		if !ok {
			err = errSyntax
			break
		}
		args = append(args, v)
	}
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return c.writeDirect(tag + " BAD [CLIENTBUG] Syntax error in " + name + " arguments\r\n")
	}
	var out []string
	switch name {
	case "SETACL":
		err = s.setACL(args[0], args[1], args[2])
	case "DELETEACL":
		err = s.deleteACL(args[0], args[1])
	case "GETACL":
		out, err = s.getACL(args[0])
	case "LISTRIGHTS":
		out, err = s.listRights(args[0], args[1])
	case "MYRIGHTS":
		out, err = s.myRights(args[0])
	}
	var b strings.Builder
	for _, l := range out {
		b.WriteString(l + "\r\n")
	}
	b.WriteString(statusLine(tag, err))
	return c.writeDirect(b.String())
}

func (c *extConn) startTLS(tag string) error {
	// Anything the client sent after STARTTLS arrived in plaintext and may
	// have been injected by an attacker: drop it (RFC 9051 §6.2.1).
	c.br.Discard(c.br.Buffered())
	c.writeDirect(tag + " OK Begin TLS negotiation now\r\n")
	tc := tls.Server(c.raw, c.srv.opts.TLSConfig)
	c.raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		return c.fail(fmt.Errorf("starttls: %w", err))
	}
	c.raw.SetDeadline(time.Time{})
	cur := c.traced(tc)
	c.mu.Lock()
	c.cur = cur
	c.mu.Unlock()
	c.br = bufio.NewReaderSize(cur, 4<<10)
	c.isTLS.Store(true)
	return nil
}

func (c *extConn) handleID(tag string, segs [][]byte) error {
	r := argsReader(segs)
	params := map[string]string{}
	err := r.sp()
	var a arg
	if err == nil {
		a, err = r.next()
	}
	if err == nil {
		err = r.end()
	}
	if err == nil && a.kind == argList && len(a.list)%2 == 0 && len(a.list) <= 60 {
		for i := 0; i < len(a.list); i += 2 {
			k, _ := a.list[i].str()
			v, _ := a.list[i+1].str()
			params[strings.ToLower(k)] = v
		}
	} else if err == nil && a.kind != argNil {
		err = errSyntax
	}
	if err != nil {
		return c.writeDirect(tag + " BAD [CLIENTBUG] Invalid ID arguments\r\n")
	}
	if len(params) > 0 {
		if s := c.session.Load(); s != nil {
			s.log.Debug("client id", "name", params["name"], "version", params["version"])
		}
	}
	return c.writeDirect(`* ID ("name" "Mailroom" "vendor" "Mailroom")` + "\r\n" + tag + " OK ID completed\r\n")
}

// argsReader returns a parser over the arguments of a command framed
// whole: after the command name on its first line, then its literals and
// further lines.
func argsReader(segs [][]byte) *argReader {
	return &argReader{
		br:     bufio.NewReader(bytes.NewReader(bytes.Join(segs[1:], nil))),
		line:   argsOf(segs[0]),
		maxLit: maxArgLiterals,
	}
}

// writeDirect writes a response of this layer's own, bypassing the output
// framer (it is always at a line boundary between go-imap's responses).
func (c *extConn) writeDirect(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wbuf = append(c.wbuf, s...)
	return c.flushLocked()
}

// Write passes go-imap's output through the framer into the buffer.
func (c *extConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	c.wbuf = c.out.process(c.wbuf, p, c.serverLine)
	switch {
	case len(c.wbuf) >= flushSize:
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	case len(c.wbuf) > 0 && c.timer == nil:
		c.timer = time.AfterFunc(flushDelay, func() { c.flush() })
	}
	return len(p), nil
}

// serverLine sees each complete line go-imap writes (never literal
// content) and returns it, rewritten if it lists capabilities or is one of
// go-imap's untyped parse errors. The caller holds c.mu.
func (c *extConn) serverLine(line []byte) []byte {
	if tag, ok := statusResponse(line); ok && tag == c.cmdTag {
		c.answered.Store(true)
		// go-imap answers every error its decoder does not type (an
		// invalid date, sequence set or modified UTF-7 name, an unknown
		// SEARCH key, lists nested 1000 deep) with this response, as if
		// the server had failed. Before the session was entered it is
		// always the client's syntax: say so.
		if !c.entered.Load() && bytes.Equal(line[len(tag):], []byte(" NO [SERVERBUG] Internal server error\r\n")) {
			return []byte(tag + " BAD [CLIENTBUG] Invalid command arguments\r\n")
		}
	}
	if i := capsAt(line); i >= 0 {
		return c.rewriteCaps(line, i)
	}
	return line
}

// rewriteCaps replaces the TLS- and auth-related capabilities go-imap
// printed (it always sees a plain connection with insecure auth allowed)
// with the real ones, and adds Mailroom's own.
func (c *extConn) rewriteCaps(line []byte, from int) []byte {
	end := from + bytes.IndexAny(line[from:], "]\r\n")
	if end < from {
		return line
	}
	var caps []string
	hadAuth := false
	for _, tok := range strings.Fields(string(line[from:end])) {
		up := strings.ToUpper(tok)
		switch {
		case up == "STARTTLS" || up == "LOGINDISABLED":
			continue
		case strings.HasPrefix(up, "AUTH="):
			hadAuth = true
			continue
		}
		caps = append(caps, tok)
	}
	secure := c.isTLS.Load()
	if !secure && c.srv.opts.TLSConfig != nil && !c.authed.Load() {
		caps = append(caps, "STARTTLS") // RFC 9051 §6.2.1: before login only
	}
	if hadAuth {
		if secure || c.lopts.InsecureAuth {
			caps = append(caps, "AUTH=PLAIN")
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
	}
	caps = append(caps, c.srv.extraCaps()...)
	out := make([]byte, 0, len(line)+64)
	out = append(out, line[:from]...)
	out = append(out, strings.Join(caps, " ")...)
	return append(out, line[end:]...)
}

// SetReadDeadline applies the login timeout before authentication and
// the idle timeout after it, on top of go-imap's own deadlines.
func (c *extConn) SetReadDeadline(t time.Time) error {
	if !c.authed.Load() {
		if lt := c.srv.limits.Load().loginTimeout; lt > 0 && (t.IsZero() || t.After(c.start.Add(lt))) {
			t = c.start.Add(lt)
		}
	} else if d := c.srv.limits.Load().idleTimeout; d > 0 && (t.IsZero() || time.Until(t) > d) {
		t = time.Now().Add(d)
	}
	return c.raw.SetReadDeadline(t)
}

// SetWriteDeadline is ignored: go-imap sets one per response, but writes
// happen at flush time, each flush with its own deadline (flushTimeout).
func (c *extConn) SetWriteDeadline(time.Time) error { return nil }
func (c *extConn) SetDeadline(t time.Time) error    { return c.SetReadDeadline(t) }
func (c *extConn) LocalAddr() net.Addr              { return c.raw.LocalAddr() }
func (c *extConn) RemoteAddr() net.Addr             { return c.raw.RemoteAddr() }

func (c *extConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.release != nil {
		c.release()
	}
	c.mu.Lock()
	c.flushWithin(5 * time.Second) // a BYE go-imap wrote last
	cur := c.cur
	c.mu.Unlock()
	return cur.Close()
}

// outFramer follows the server's output: whole lines, and literal bytes
// that are passed on without being looked at.
type outFramer struct {
	line []byte
	lit  int64
	mid  bool // the current line continues after a literal
}

// process appends to out what can be written now; an incomplete line is
// held back until its end arrives.
func (f *outFramer) process(out, p []byte, onLine func([]byte) []byte) []byte {
	for len(p) > 0 {
		if f.lit > 0 {
			n := int(min(int64(len(p)), f.lit))
			out = append(out, p[:n]...)
			f.lit -= int64(n)
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.line = append(f.line, p...)
			if len(f.line) > maxCommand { // not a line we would rewrite
				out = append(out, f.line...)
				f.line, f.mid = f.line[:0], true
			}
			p = nil
			break
		}
		var line []byte
		if len(f.line) == 0 {
			line = p[:i+1] // the common case: a whole line in one write
		} else {
			line = append(f.line, p[:i+1]...)
			f.line = f.line[:0]
		}
		p = p[i+1:]
		status := false
		if !f.mid {
			line = onLine(line)
			_, status = statusResponse(line)
		}
		out = append(out, line...)
		// A status response's text never announces a literal, whatever
		// it ends with (it may quote the client).
		n, _, ok := literalAtEnd(line)
		f.lit, f.mid = n, ok && !status
	}
	return out
}
