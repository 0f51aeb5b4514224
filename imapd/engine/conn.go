package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/internal/hangup"
	"mailroom/internal/trace"
	"mailroom/store"
)

// state is where a connection stands (RFC 9051 §3).
type state uint8

const (
	notAuthenticated state = 1 << iota
	authenticated
	selected
	loggedOut

	anyState = notAuthenticated | authenticated | selected
	authed   = authenticated | selected
)

// Buffer sizes: small, because most connections sit idle (hardening issue
// and issue #11: memory per idle connection).
const (
	readBuffer  = 4 << 10
	writeBuffer = 4 << 10
)

// conn is one client connection. One goroutine (serve) owns all of it;
// only IDLE adds a reader goroutine, which it waits for before returning.
type conn struct {
	srv   *Server
	nc    net.Conn // the connection (TLS after STARTTLS)
	rw    net.Conn // what commands are read from and written to: nc, or its transcript
	lopts ListenerOptions
	log   *slog.Logger

	br  *bufio.Reader
	bw  *bufio.Writer
	dec *proto.Decoder
	enc *proto.Encoder

	// connCtx ends when the connection does; ctx is the running
	// command's, which also ends when the client hangs up meanwhile.
	connCtx context.Context
	ctx     context.Context
	cancel  context.CancelFunc

	state       state
	account     *acl.Account
	sel         *view            // the selected mailbox
	selRights   acl.Rights       // the rights on it, as of the last check
	searchRes   []store.UID      // SEARCH RETURN (SAVE), RFC 5182
	secure      bool             // TLS, implicit or after STARTTLS
	utf8        bool             // ENABLE UTF8=ACCEPT (or IMAP4rev2)
	rev2        bool             // ENABLE IMAP4rev2: no \Recent, ESEARCH for SEARCH
	condstore   bool             // RFC 7162 enabled: MODSEQ with every FLAGS
	qresync     bool             // ENABLE QRESYNC: VANISHED instead of EXPUNGE
	uidOnly     bool             // ENABLE UIDONLY (RFC 9586): UIDs only, both ways
	contexts    []*searchContext // SEARCH/SORT RETURN (UPDATE), RFC 5267
	notify      *notifySpec      // NOTIFY SET, RFC 5465
	start       time.Time
	commands    int    // commands read so far
	appendBytes int64  // message bytes of the APPEND being read
	envelope    []byte // the encoded ENVELOPE of the message FETCH writes, when kept
	shutdown    atomic.Bool
}

func newConn(s *Server, nc net.Conn, lopts ListenerOptions) *conn {
	// Not derived from the server's context: on shutdown a command in
	// flight finishes (serve's AfterFunc only interrupts reads).
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv: s, nc: nc, lopts: lopts,
		log:     s.log.With("conn", s.next.Add(1), "remote", nc.RemoteAddr().String()),
		connCtx: ctx,
		ctx:     ctx,
		cancel:  cancel,
		state:   notAuthenticated,
		start:   time.Now(),
	}
	c.secure = isTLS(nc)
	c.setStreams(nc)
	return c
}

// isTLS reports whether nc (under the connection-slot wrapper) is TLS:
// an implicit-TLS listener.
func isTLS(nc net.Conn) bool {
	if rc, ok := nc.(*releaseConn); ok {
		nc = rc.Conn
	}
	_, ok := nc.(*tls.Conn)
	return ok
}

// setStreams (re)builds the buffered reader, writer, decoder and encoder
// over nc: at connect and after STARTTLS.
func (c *conn) setStreams(nc net.Conn) {
	c.nc = nc
	// At trace level the plaintext side is transcribed (credentials
	// redacted); otherwise rw is nc itself.
	c.rw = trace.Wrap(nc, trace.IMAP, c.log)
	c.br = bufio.NewReaderSize(c.rw, readBuffer)
	c.bw = bufio.NewWriterSize(c.rw, writeBuffer)
	c.dec = proto.NewDecoder(c.br, proto.Limits{}, proto.Hooks{
		Begin:    c.begin,
		Literal:  c.literal,
		Continue: c.continueLiteral,
	})
	c.enc = proto.NewEncoder(c.bw)
	c.enc.UTF8 = c.utf8
}

// serve runs the connection: greeting, then one command after another
// until LOGOUT, an error, a timeout or shutdown.
func (c *conn) serve() {
	defer c.close()
	defer func() {
		// A panic is a bug; it ends this connection, never the server.
		if r := recover(); r != nil {
			c.log.Error("panic", "err", r, "stack", string(debug.Stack()))
			c.bye("SERVERBUG", "Internal server error")
		}
	}()
	// The socket as accepted: its deadline reaches the layers STARTTLS and
	// COMPRESS put above it, and c.nc, which they replace, is the
	// connection goroutine's alone.
	nc := c.nc
	stop := context.AfterFunc(c.srv.ctx, func() {
		c.shutdown.Store(true)
		nc.SetReadDeadline(time.Now())
	})
	defer stop()
	c.log.Debug("connected")
	c.enc.Raw("* OK [CAPABILITY ").Raw(strings.Join(c.capabilities(), " ")).Raw("] Mailroom ready").CRLF()
	if c.enc.Flush() != nil {
		return
	}
	for c.state != loggedOut {
		c.setReadDeadline()
		c.waitForCommand()
		cmd, err := c.dec.ReadCommand()
		if err != nil {
			if !c.readFailed(err) {
				return
			}
		} else {
			c.commands++
			c.run(cmd)
		}
		// Flush unless more pipelined commands are already here.
		if c.br.Buffered() == 0 || c.state == loggedOut {
			if c.enc.Flush() != nil {
				return
			}
		}
	}
}

// readFailed answers a command the decoder refused and reports whether
// the connection goes on.
func (c *conn) readFailed(err error) bool {
	var pe *proto.Error
	switch {
	case errors.As(err, &pe) && !pe.Fatal:
		kind := "BAD"
		if pe.NO {
			kind = "NO"
		}
		c.status(pe.Tag, kind, pe.Code, pe.Text)
		return true
	case errors.As(err, &pe):
		// Out of step with the client: say why and read nothing more.
		c.bye(pe.Code, pe.Text)
	case c.shutdown.Load():
		c.bye("UNAVAILABLE", "Server shutting down")
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.state == notAuthenticated {
			c.bye("", "Login timeout")
		} else {
			c.bye("", "Autologout: idle for too long")
		}
		c.log.Debug("timeout", "state", c.state)
	default:
		// A health check or port probe: connected, closed, said nothing.
		if c.commands == 0 {
			c.log.Debug("closed without a command")
		} else {
			c.log.Debug("read", "err", err)
		}
	}
	return false
}

func (c *conn) setReadDeadline() {
	l := c.srv.limits.Load()
	deadline := time.Now().Add(l.idleTimeout)
	if c.state == notAuthenticated {
		deadline = c.start.Add(l.loginTimeout)
	}
	c.nc.SetReadDeadline(deadline)
	if c.shutdown.Load() {
		c.nc.SetReadDeadline(time.Now())
	}
}

// close ends the session and the connection.
func (c *conn) close() {
	c.cancel()
	c.stopNotify()
	c.enc.Flush()
	if c.sel != nil {
		c.deselect()
	}
	if c.account != nil {
		c.srv.sessions.release(c.account.Address)
	}
	c.nc.Close()
	c.log.Debug("closed")
}

// begin is the decoder's hook once a command's tag and name are read: an
// unknown command, or one not allowed in this state, is refused before
// its arguments are parsed or any literal is asked for.
func (c *conn) begin(tag, name string) error {
	c.appendBytes = 0 // message bytes of this command's APPEND so far
	cmd, ok := lookup(name)
	switch {
	case !ok:
		return &proto.Error{Tag: tag, Text: "Unknown command " + name}
	case cmd.states&c.state != 0 && cmd.seqNumbers && c.uidOnly:
		return &proto.Error{Tag: tag, Code: "UIDREQUIRED", Text: name + " uses message sequence numbers, which UIDONLY does not allow; use UID " + name}
	case cmd.states&c.state != 0:
		return nil
	case c.state == notAuthenticated:
		return &proto.Error{Tag: tag, Text: name + " is not allowed before login"}
	case c.state == authenticated && cmd.states == selected:
		return &proto.Error{Tag: tag, Text: name + " needs a selected mailbox"}
	}
	return &proto.Error{Tag: tag, Text: name + " is not allowed now"}
}

// literal is the decoder's hook for an announced literal: the message of
// APPEND may be as large as APPENDLIMIT; every other literal stays within
// the decoder's own limit.
func (c *conn) literal(p proto.Pending) (bool, error) {
	if err := metadataLiteral(p); err != nil {
		return false, err
	}
	catenateText := p.Name == "APPEND" && p.Depth == 1 && len(p.Args) >= 2 && p.Args[len(p.Args)-1].IsAtom("CATENATE")
	if p.Name == "APPEND" && p.Depth == 0 && len(p.Args) >= 1 || catenateText {
		if limit := c.srv.opts.AppendLimit; limit > 0 && p.Size > limit {
			return false, &proto.Error{Tag: p.Tag, Code: "TOOBIG", Text: "Message larger than APPENDLIMIT", NO: true}
		}
		// All the messages of one APPEND (MULTIAPPEND) are held until it
		// runs: bound their sum too.
		if c.appendBytes += p.Size; c.appendBytes > appendBudget(c.srv.opts.AppendLimit) {
			return false, &proto.Error{Tag: p.Tag, Code: "TOOBIG", Text: "Messages of one APPEND too large together", NO: true}
		}
		return true, nil
	}
	return false, nil
}

// appendBudget bounds the bytes of all the messages of one APPEND.
func appendBudget(limit int64) int64 {
	return max(4*limit, 64<<20)
}

func (c *conn) continueLiteral() error {
	c.enc.Raw("+ Ready for literal data").CRLF()
	return c.enc.Flush()
}

// run dispatches one command and writes its tagged completion.
func (c *conn) run(cmd *proto.Command) {
	h, _ := lookup(cmd.Name) // begin has checked it exists and is allowed
	cmdCtx, cancel := context.WithCancel(c.connCtx)
	stop := func() {}
	if cmd.Name != "IDLE" {
		// IDLE reads the connection itself, so it sees a hang-up at once;
		// a watcher there would hold a thread in poll for every idle
		// client.
		stop = hangup.Watch(c.nc, cancel)
	}
	c.ctx = cmdCtx
	err := h.run(c, cmd)
	stop()
	cancel()
	c.ctx = c.connCtx
	if errors.Is(err, errReplied) {
		return
	}
	r := c.response(cmd.Name, err)
	// Changes others made are told before the tagged response; EXPUNGE
	// not after FETCH, STORE or SEARCH by sequence number (RFC 9051
	// §7.5.1), whose numbers the client is still using.
	c.announce(!h.keepNumbers)
	if c.state == loggedOut && cmd.Name != "LOGOUT" {
		return // announce said BYE
	}
	c.status(cmd.Tag, r.Kind, r.Code, r.Text)
}

// status writes a status response; tag "" is untagged.
func (c *conn) status(tag, kind, code, text string) {
	if tag == "" {
		tag = "*"
	}
	c.enc.Raw(tag).SP().Raw(kind).SP()
	if code != "" {
		c.enc.Raw("[").Raw(code).Raw("] ")
	}
	c.enc.Raw(text).CRLF()
}

// bye says goodbye: the connection ends after it.
func (c *conn) bye(code, text string) {
	c.status("", "BYE", code, text)
	c.enc.Flush()
	c.state = loggedOut
}
