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
//   - frames the client's input (lines, literals, continuation lines) and
//     answers the commands Mailroom adds itself (ID; the ACL family),
//     handing every other byte to go-imap unchanged;
//   - terminates STARTTLS itself, so that it keeps reading plaintext above
//     TLS; go-imap then always sees a plain connection and runs with
//     insecure auth allowed, and this layer enforces the real rule
//     (LOGINDISABLED, LOGIN/AUTHENTICATE refused before TLS);
//   - frames go-imap's output the same way, skipping literals so message
//     content is never looked at, and rewrites only CAPABILITY lists;
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

	mu    sync.Mutex // guards cur, wbuf, timer and writes to cur
	cur   net.Conn   // raw, or the TLS connection after STARTTLS
	br    *bufio.Reader
	out   outFramer
	wbuf  []byte      // output not yet written to cur
	timer *time.Timer // flushes wbuf shortly after the first byte
	werr  error       // the first write error; later writes fail with it

	isTLS  atomic.Bool
	authed atomic.Bool
	closed atomic.Bool

	// Input state, owned by the reading goroutine.
	pending []byte // bytes of the current unit for go-imap
	passLit int64  // literal bytes to hand over unparsed
	inCmd   bool   // a pass-through command continues after its literal
	litTag  string // tag of the command whose literal is being passed
	litSync bool   // that literal is synchronizing
	litSeen bool   // go-imap has taken some of its bytes
	litWait atomic.Int32
	readErr error

	session atomic.Pointer[session]
	release func() // gives back the connection's slot
}

const (
	litNone = iota
	litAwaiting
	litGranted
	litRefused
)

func newExtConn(raw net.Conn, srv *Server, lopts ListenerOptions, release func()) *extConn {
	c := &extConn{raw: raw, cur: raw, srv: srv, lopts: lopts, start: time.Now(), release: release}
	c.br = bufio.NewReaderSize(raw, 4<<10)
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
		if len(c.pending) > 0 {
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		}
		if c.readErr != nil {
			return 0, c.readErr
		}
		if c.passLit > 0 {
			if c.litWait.Load() == litRefused && !c.litSeen {
				// go-imap refused the literal before reading it. A client
				// waiting for "+" sends nothing more; one that used
				// LITERAL+ sends it anyway, and it is discarded here with
				// the rest of its command (RFC 7888 §4).
				c.litWait.Store(litNone)
				c.inCmd = false
				if !c.litSync {
					if err := c.discardRefused(); err != nil {
						return 0, err
					}
				}
				c.passLit = 0
				continue
			}
			n := int(min(int64(len(p)), c.passLit))
			n, err := c.br.Read(p[:n])
			c.litSeen = true
			c.passLit -= int64(n)
			if c.passLit == 0 {
				c.litWait.Store(litNone)
			}
			return n, err
		}
		line, err := readLine(c.br)
		if err != nil {
			if len(line) == 0 || errors.Is(err, errLineTooLong) {
				if errors.Is(err, errLineTooLong) {
					c.writeDirect("* BYE [LIMIT] Command line too long\r\n")
				}
				return 0, err
			}
			c.readErr = err // hand over what came, then the error
		}
		if !c.inCmd {
			if tag, name, ok := splitCommand(line); ok {
				handled, err := c.intercept(tag, name, line)
				if err != nil {
					return 0, err
				}
				if handled {
					continue
				}
			}
		}
		c.passThrough(line)
	}
}

// passThrough queues a line for go-imap and notes a literal it announces.
func (c *extConn) passThrough(line []byte) {
	c.pending = line
	tag, _, _ := splitCommand(line)
	if !c.inCmd {
		c.litTag = tag
	}
	n, sync, ok := literalAtEnd(line)
	c.inCmd = ok
	if !ok {
		return
	}
	c.passLit, c.litSync, c.litSeen = n, sync, false
	if sync {
		c.litWait.Store(litAwaiting)
	} else {
		c.litWait.Store(litGranted)
	}
}

// maxDiscard bounds the refused literal data read and thrown away; past it
// the connection is closed instead, as RFC 7888 allows.
const maxDiscard = 64 << 20

// discardRefused skips a refused non-synchronizing literal and the rest of
// its command.
func (c *extConn) discardRefused() error {
	if c.passLit > maxDiscard {
		c.writeDirect("* BYE [TOOBIG] Literal too large\r\n")
		return errors.New("imap: refused literal too large to discard")
	}
	if _, err := io.CopyN(io.Discard, c.br, c.passLit); err != nil {
		return err
	}
	for {
		line, err := readLine(c.br)
		if err != nil {
			return err
		}
		n, sync, ok := literalAtEnd(line)
		if !ok || sync {
			return nil
		}
		if n > maxDiscard {
			return errors.New("imap: refused literal too large to discard")
		}
		if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
			return err
		}
	}
}

// intercept answers the commands this layer owns. It returns handled=false
// for everything go-imap should see.
func (c *extConn) intercept(tag, name string, line []byte) (bool, error) {
	switch name {
	case "STARTTLS":
		if c.srv.opts.TLSConfig == nil || c.isTLS.Load() || c.authed.Load() {
			return false, nil // go-imap answers that it cannot
		}
		return true, c.startTLS(tag, line)
	case "LOGIN", "AUTHENTICATE":
		if c.isTLS.Load() || c.lopts.InsecureAuth {
			return false, nil
		}
		if err := c.drain(line); err != nil {
			return true, err
		}
		c.writeDirect(tag + " NO [PRIVACYREQUIRED] Use STARTTLS (or port 993) before logging in\r\n")
		return true, nil
	case "ID":
		return true, c.handleID(tag, line)
	case "SETACL", "DELETEACL", "GETACL", "LISTRIGHTS", "MYRIGHTS":
		return true, c.handleACL(tag, name, line)
	}
	return false, nil
}

// aclArgs is how many arguments each ACL command takes.
var aclArgs = map[string]int{"SETACL": 3, "DELETEACL": 2, "GETACL": 1, "LISTRIGHTS": 2, "MYRIGHTS": 1}

// handleACL parses an RFC 4314 command and hands it to the session.
func (c *extConn) handleACL(tag, name string, line []byte) error {
	r := c.args(line)
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
		c.writeDirect(tag + " BAD [CLIENTBUG] Syntax error in " + name + " arguments\r\n")
		return c.tooBroken(err)
	}
	s := c.session.Load()
	if s == nil || s.account == nil || !c.authed.Load() {
		c.writeDirect(tag + " BAD " + name + " is only valid after login\r\n")
		return nil
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

// drain consumes the rest of a command this layer refuses without
// parsing it: literals it announced (bounded) and their continuation lines.
func (c *extConn) drain(line []byte) error {
	var total int64
	for {
		n, sync, ok := literalAtEnd(line)
		if !ok || sync {
			// A client that waits for "+" before a literal is told no
			// instead, and sends nothing more of this command.
			return nil
		}
		if total += n; total > 64<<10 {
			return errors.New("imap: oversized literal in a refused command")
		}
		if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
			return err
		}
		var err error
		if line, err = readLine(c.br); err != nil {
			return err
		}
	}
}

func (c *extConn) startTLS(tag string, line []byte) error {
	if !bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte(tag+" STARTTLS")) && !strings.EqualFold(string(bytes.TrimRight(line, "\r\n")), tag+" STARTTLS") {
		c.writeDirect(tag + " BAD STARTTLS takes no arguments\r\n")
		return nil
	}
	// Anything the client sent after STARTTLS arrived in plaintext and may
	// have been injected by an attacker: drop it (RFC 9051 §6.2.1).
	c.br.Discard(c.br.Buffered())
	c.writeDirect(tag + " OK Begin TLS negotiation now\r\n")
	tc := tls.Server(c.raw, c.srv.opts.TLSConfig)
	c.raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	c.raw.SetDeadline(time.Time{})
	c.mu.Lock()
	c.cur = tc
	c.mu.Unlock()
	c.br = bufio.NewReaderSize(tc, 4<<10)
	c.isTLS.Store(true)
	return nil
}

func (c *extConn) handleID(tag string, line []byte) error {
	r := c.args(line)
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
		c.writeDirect(tag + " BAD Invalid ID arguments\r\n")
		return c.tooBroken(err)
	}
	if len(params) > 0 {
		if s := c.session.Load(); s != nil {
			s.log.Debug("client id", "name", params["name"], "version", params["version"])
		}
	}
	c.writeDirect(`* ID ("name" "Mailroom" "vendor" "Mailroom")` + "\r\n" + tag + " OK ID completed\r\n")
	return nil
}

// tooBroken turns a parse error that leaves the input stream at an
// unknown position into a connection error; plain syntax errors are
// answered and the connection goes on.
func (c *extConn) tooBroken(err error) error {
	if errors.Is(err, errSyntax) {
		return nil
	}
	return err
}

// args returns a parser over the arguments after the command name.
func (c *extConn) args(line []byte) *argReader {
	l := bytes.TrimRight(line, "\r\n")
	sp := bytes.IndexByte(l, ' ')
	rest := line[sp+1:]
	if sp2 := bytes.IndexByte(rest, ' '); sp2 >= 0 {
		rest = rest[sp2:]
	} else {
		rest = rest[len(bytes.TrimRight(rest, "\r\n")):]
	}
	return &argReader{br: c.br, line: rest, maxLit: 1 << 20, cont: func() error {
		return c.writeDirect("+ Ready for literal data\r\n")
	}}
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
// content) and returns it, rewritten if it lists capabilities.
func (c *extConn) serverLine(line []byte) []byte {
	switch w := c.litWait.Load(); {
	case w == litAwaiting && bytes.HasPrefix(line, []byte("+")):
		c.litWait.Store(litGranted)
	case (w == litAwaiting || w == litGranted) && c.litTag != "" && bytes.HasPrefix(line, []byte(c.litTag+" ")):
		c.litWait.Store(litRefused) // Read ignores this once go-imap took the literal
	}
	if i := bytes.Index(line, []byte("CAPABILITY ")); i >= 0 && (i == 2 || (i > 0 && line[i-1] == '[')) {
		return c.rewriteCaps(line, i+len("CAPABILITY "))
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
			if len(f.line) > maxLine { // not a line we would rewrite
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
		if !f.mid {
			line = onLine(line)
		}
		out = append(out, line...)
		n, _, ok := literalAtEnd(line)
		f.lit, f.mid = n, ok
	}
	return out
}
