package engine

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/internal/trace"
)

// handshakeTimeout bounds the TLS handshake after STARTTLS.
const handshakeTimeout = 30 * time.Second

// cmdStartTLS answers OK and starts TLS on the connection (RFC 9051
// §6.2.1). Anything the client pipelined after the command in plain text
// is thrown away, so it cannot be run as if it had come over TLS.
func cmdStartTLS(c *conn, cmd *proto.Command) error {
	switch {
	case len(cmd.Args) > 0:
		return syntax("STARTTLS takes no arguments")
	case c.secure:
		return bad("", "TLS is already active")
	case c.compressed():
		return bad("", "STARTTLS after COMPRESS is not supported") // TLS must be below compression (RFC 4978 §3)
	case c.srv.opts.TLSConfig == nil:
		return no("", "TLS is not available")
	}
	c.status(cmd.Tag, "OK", "", "Begin TLS negotiation now")
	if err := c.enc.Flush(); err != nil {
		return errReplied
	}
	if n := c.br.Buffered(); n > 0 {
		c.br.Discard(n)
		c.log.Warn("plain text pipelined after STARTTLS discarded", "bytes", n)
	}
	tc := tls.Server(c.nc, c.srv.opts.TLSConfig)
	c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.log.Debug("TLS handshake failed", "err", err)
		c.state = loggedOut
		return errReplied
	}
	c.nc.SetDeadline(time.Time{})
	c.setStreams(tc)
	c.secure = true
	return errReplied
}

// cmdLogin: LOGIN user password (RFC 9051 §6.2.3).
func cmdLogin(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 2 {
		return syntax("LOGIN takes a user name and a password")
	}
	user, ok1 := cmd.Args[0].AString()
	pass, ok2 := cmd.Args[1].AString()
	if !ok1 || !ok2 {
		return syntax("LOGIN takes a user name and a password")
	}
	if !c.passwordsAllowed() {
		return no("PRIVACYREQUIRED", "Use STARTTLS (or port 993) before logging in")
	}
	if err := c.login(user, pass); err != nil {
		return err
	}
	return c.loggedIn()
}

// cmdAuthenticate: AUTHENTICATE PLAIN [initial-response] (RFC 9051
// §6.2.2, RFC 4959 SASL-IR, RFC 4616 PLAIN). Challenges and responses go
// as base64 lines; "*" cancels.
func cmdAuthenticate(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) < 1 || len(cmd.Args) > 2 || cmd.Args[0].Kind != proto.Atom {
		return syntax("AUTHENTICATE takes a mechanism and an optional initial response")
	}
	mech := cmd.Args[0].Upper()
	if mech != "PLAIN" && mech != "LOGIN" && mech != scramMech {
		return no("CANNOT", "Unsupported authentication mechanism")
	}
	if !c.passwordsAllowed() {
		return no("PRIVACYREQUIRED", "Use STARTTLS (or port 993) before logging in")
	}
	var loginErr error
	var tried bool
	check := func(user, pass string) error {
		tried = true
		loginErr = c.login(user, pass)
		return loginErr
	}
	var srv sasl.Server
	switch mech {
	case scramMech:
		srv = c.scramServer(&tried, &loginErr)
	case "LOGIN":
		srv = &loginServer{check: check}
	default:
		srv = sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && !strings.EqualFold(identity, user) {
				tried = true
				loginErr = no("AUTHORIZATIONFAILED", "Logging in as another user is not supported")
				return loginErr
			}
			return check(user, pass)
		})
	}
	var resp []byte
	if len(cmd.Args) == 2 {
		ir, ok := cmd.Args[1].AString()
		if !ok {
			return syntax("Invalid initial response")
		}
		if ir != "=" {
			var err error
			if resp, err = base64.StdEncoding.DecodeString(ir); err != nil {
				return syntax("Initial response is not base64")
			}
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if tried && loginErr != nil {
			return loginErr
		}
		if err != nil {
			return no("AUTHENTICATIONFAILED", "Invalid SASL "+mech+" response")
		}
		if done {
			return c.loggedIn()
		}
		c.enc.Raw("+ ").Raw(base64.StdEncoding.EncodeToString(challenge)).CRLF()
		if err := c.enc.Flush(); err != nil {
			return err
		}
		line, err := c.dec.ReadLine()
		if err != nil {
			return err
		}
		if string(line) == "*" {
			return bad("", "AUTHENTICATE cancelled")
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			return bad("", "Response is not base64")
		}
	}
}

// loginServer is the server side of the LOGIN SASL mechanism
// (draft-murchison-sasl-login): "Username:", "Password:", each answered
// in base64; an initial response is the user name. go-sasl has only the
// client side.
type loginServer struct {
	check     func(user, pass string) error
	user      string
	askedUser bool
	haveUser  bool
}

var _ sasl.Server = (*loginServer)(nil)

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case !l.haveUser && resp == nil && !l.askedUser:
		l.askedUser = true
		return []byte("Username:"), false, nil
	case !l.haveUser:
		l.user, l.haveUser = string(resp), true
		return []byte("Password:"), false, nil
	}
	if err := l.check(l.user, string(resp)); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// errLoginFailed is the one answer to a failed login, whatever failed
// (RFC 5530 AUTHENTICATIONFAILED), so it tells nothing of which accounts
// exist.
var errLoginFailed = no("AUTHENTICATIONFAILED", "Invalid credentials")

// login checks a password, delayed by the throttle after failures, and
// moves the connection to the authenticated state; the caller answers
// with loggedIn.
func (c *conn) login(user, pass string) error {
	s := c.srv
	// Failed logins slow the next attempt for the same name from this
	// address (and, past allowances, the name anywhere and the address for
	// any name): see netlimit.Throttle.
	name, from := acl.Fold(user), c.nc.RemoteAddr()
	s.opts.Sleep(c.ctx, s.throttle.Delay(name, from))
	if c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	a, err := s.opts.Directory.Authenticate(c.ctx, user, pass)
	if err != nil {
		if errors.Is(err, acl.ErrAuthFailed) {
			s.throttle.Fail(name, from)
			s.noteLogin(false)
			c.log.Warn("login failed", "user", user)
			return errLoginFailed
		}
		return err
	}
	return c.admit(a, name, from)
}

// admit moves the connection to the authenticated state once a's
// credentials checked (login, SCRAM): the throttle forgets the failures,
// the session is counted.
func (c *conn) admit(a *acl.Account, name string, from net.Addr) error {
	s := c.srv
	s.throttle.Succeed(name, from)
	s.noteLogin(true)
	if !s.sessions.acquire(a.Address, s.limits.Load().maxSessions) {
		c.log.Warn("login refused: too many sessions", "user", a.Address)
		return no("LIMIT", "Too many sessions for this account")
	}
	if err := s.opts.Store.EnsureAccount(c.ctx, a.Address, true); err != nil {
		s.sessions.release(a.Address)
		return err
	}
	c.account = a
	c.state = authenticated
	c.log = c.log.With("user", a.Address)
	trace.Attach(c.rw, c.log)
	c.log.Info("login")
	return nil
}

// noteLogin tells Options.OnLogin of a credential check.
func (s *Server) noteLogin(ok bool) {
	if s.opts.OnLogin != nil {
		s.opts.OnLogin(ok)
	}
}

// loggedIn is the OK of a successful login, with the capabilities that
// changed (RFC 9051 §6.2.3).
func (c *conn) loggedIn() error {
	if c.state == notAuthenticated {
		return errors.New("loggedIn before login")
	}
	return ok("CAPABILITY "+strings.Join(c.capabilities(), " "), "Logged in")
}

// cmdUnauthenticate returns to the not-authenticated state (RFC 8437).
func cmdUnauthenticate(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("UNAUTHENTICATE takes no arguments")
	}
	if c.sel != nil {
		c.deselect()
	}
	c.srv.sessions.release(c.account.Address)
	c.account = nil
	c.state = notAuthenticated
	c.start = time.Now() // the login timeout starts again
	return nil
}
