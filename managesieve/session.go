package managesieve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"mailroom/acl"
	"mailroom/sieve"
	"mailroom/store"
)

// maxScriptLiteral bounds a literal after login: a script and some slack
// so that a script just over the store's limit gets a clear NO.
const maxScriptLiteral = store.MaxSieveScriptSize + 64<<10

// maxErrors ends a connection after this many bad commands in a row.
const maxErrors = 10

// session is one connection. One goroutine owns it.
type session struct {
	srv   *Server
	conn  net.Conn
	lopts ListenerOptions
	ctx   context.Context
	log   *slog.Logger
	dec   *decoder
	enc   *encoder
	tls   bool

	user    *acl.Account // authenticated
	account string       // whose scripts: the user's, or a team's (authzid)
}

func (sess *session) run() error {
	sess.capabilities()
	if err := sess.enc.status("OK", "", "Mailroom ManageSieve ready"); err != nil {
		return err
	}
	errs := 0
	for {
		sess.conn.SetReadDeadline(time.Now().Add(sess.srv.opts.Timeout))
		cmd, err := sess.dec.readCommand()
		var se *syntaxError
		switch {
		case errors.As(err, &se):
			if errs++; errs >= maxErrors {
				sess.enc.status("BYE", "", "Too many errors")
				return err
			}
			if err := sess.enc.status("NO", "", "Syntax error: "+se.msg); err != nil {
				return err
			}
			continue
		case errors.Is(err, errLiteralTooLarge):
			sess.enc.status("BYE", "QUOTA/MAXSIZE", "Literal too large")
			return err
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				sess.enc.status("BYE", "", "Idle for too long")
			}
			return err
		}
		done, err := sess.dispatch(cmd)
		if err != nil {
			if errors.As(err, &se) {
				if errs++; errs >= maxErrors {
					sess.enc.status("BYE", "", "Too many errors")
					return err
				}
				if err := sess.enc.status("NO", "", se.msg); err != nil {
					return err
				}
				continue
			}
			return err
		}
		errs = 0
		if done {
			return nil
		}
	}
}

// capabilities writes the capability lines (RFC 5804 §1.7).
func (sess *session) capabilities() {
	e := sess.enc
	e.line("IMPLEMENTATION", "Mailroom")
	if sess.user == nil {
		mechs := ""
		if sess.tls || sess.lopts.InsecureAuth {
			mechs = "PLAIN LOGIN"
		}
		e.line("SASL", mechs)
	}
	e.line("SIEVE", sieve.Capability())
	if !sess.tls && sess.srv.opts.TLSConfig != nil && sess.user == nil {
		e.line("STARTTLS")
	}
	e.line("MAXREDIRECTS", strconv.Itoa(sess.srv.opts.Limits.MaxRedirects))
	if sess.user != nil {
		e.line("OWNER", sess.account)
	}
	e.line("VERSION", "1.0")
}

type handler struct {
	auth  bool // needs authentication
	nargs []argKind
	opt   int // trailing optional arguments
	fn    func(sess *session, args []arg) (bool, error)
}

// commands is the dispatch table; which state each needs is in auth.
var commands = map[string]handler{
	"CAPABILITY":     {fn: (*session).cmdCapability},
	"LOGOUT":         {fn: (*session).cmdLogout},
	"NOOP":           {nargs: []argKind{argString}, opt: 1, fn: (*session).cmdNoop},
	"STARTTLS":       {fn: (*session).cmdStartTLS},
	"AUTHENTICATE":   {nargs: []argKind{argString, argString}, opt: 1, fn: (*session).cmdAuthenticate},
	"UNAUTHENTICATE": {auth: true, fn: (*session).cmdUnauthenticate},
	"HAVESPACE":      {auth: true, nargs: []argKind{argString, argNumber}, fn: (*session).cmdHaveSpace},
	"PUTSCRIPT":      {auth: true, nargs: []argKind{argString, argString}, fn: (*session).cmdPutScript},
	"CHECKSCRIPT":    {auth: true, nargs: []argKind{argString}, fn: (*session).cmdCheckScript},
	"LISTSCRIPTS":    {auth: true, fn: (*session).cmdListScripts},
	"SETACTIVE":      {auth: true, nargs: []argKind{argString}, fn: (*session).cmdSetActive},
	"GETSCRIPT":      {auth: true, nargs: []argKind{argString}, fn: (*session).cmdGetScript},
	"DELETESCRIPT":   {auth: true, nargs: []argKind{argString}, fn: (*session).cmdDeleteScript},
	"RENAMESCRIPT":   {auth: true, nargs: []argKind{argString, argString}, fn: (*session).cmdRenameScript},
}

func (sess *session) dispatch(cmd *command) (bool, error) {
	h, ok := commands[cmd.name]
	if !ok {
		return false, syntaxErrf("Unknown command %s", cmd.name)
	}
	if h.auth && sess.user == nil {
		return false, sess.enc.status("NO", "", "Log in first")
	}
	if len(cmd.args) > len(h.nargs) || len(cmd.args) < len(h.nargs)-h.opt {
		return false, syntaxErrf("%s takes %d arguments", cmd.name, len(h.nargs))
	}
	for i, a := range cmd.args {
		if a.kind != h.nargs[i] {
			what := "a string"
			if h.nargs[i] == argNumber {
				what = "a number"
			}
			return false, syntaxErrf("%s: argument %d must be %s", cmd.name, i+1, what)
		}
	}
	return h.fn(sess, cmd.args)
}

func (sess *session) cmdCapability([]arg) (bool, error) {
	sess.capabilities()
	return false, sess.enc.status("OK", "", "")
}

func (sess *session) cmdLogout([]arg) (bool, error) {
	return true, sess.enc.status("OK", "", "Bye")
}

func (sess *session) cmdNoop(args []arg) (bool, error) {
	if len(args) == 1 {
		sess.enc.w.WriteString("OK (TAG ")
		sess.enc.str(args[0].s)
		sess.enc.w.WriteString(") \"Done\"\r\n")
		return false, sess.enc.w.Flush()
	}
	return false, sess.enc.status("OK", "", "Done")
}

// cmdStartTLS (RFC 5804 §2.2): after the handshake the capabilities
// are sent again.
func (sess *session) cmdStartTLS([]arg) (bool, error) {
	if sess.tls || sess.srv.opts.TLSConfig == nil || sess.user != nil {
		return false, sess.enc.status("NO", "", "STARTTLS not available")
	}
	if sess.dec.r.Buffered() > 0 {
		return true, sess.enc.status("BYE", "", "Data after STARTTLS")
	}
	if err := sess.enc.status("OK", "", "Begin TLS negotiation"); err != nil {
		return true, err
	}
	tc := tls.Server(sess.conn, sess.srv.opts.TLSConfig)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.HandshakeContext(sess.ctx); err != nil {
		return true, fmt.Errorf("tls handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	sess.setConn(tc)
	sess.tls = true
	sess.capabilities()
	return false, sess.enc.status("OK", "", "TLS active")
}

func (sess *session) cmdUnauthenticate([]arg) (bool, error) {
	sess.log.Info("unauthenticate", "user", sess.user.Address)
	sess.user, sess.account = nil, ""
	sess.dec.maxLiteral = maxPreAuthLiteral
	return false, sess.enc.status("OK", "", "")
}

// storeErr maps the store's errors to response codes (RFC 5804 §1.3).
func (sess *session) storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNoScript):
		return sess.enc.status("NO", "NONEXISTENT", "No such script")
	case errors.Is(err, store.ErrScriptExists):
		return sess.enc.status("NO", "ALREADYEXISTS", "A script of that name exists")
	case errors.Is(err, store.ErrScriptActive):
		return sess.enc.status("NO", "ACTIVE", "The active script cannot be deleted")
	case errors.Is(err, store.ErrBadScriptName):
		return sess.enc.status("NO", "", "Invalid script name")
	case errors.Is(err, store.ErrTooManyScripts):
		return sess.enc.status("NO", "QUOTA/MAXSCRIPTS", fmt.Sprintf("At most %d scripts", store.MaxSieveScripts))
	case errors.Is(err, store.ErrScriptTooLarge):
		return sess.enc.status("NO", "QUOTA/MAXSIZE", fmt.Sprintf("Scripts are limited to %d bytes", store.MaxSieveScriptSize))
	}
	sess.log.Error("store", "err", err)
	return sess.enc.status("NO", "TRYLATER", "Server error, try again later")
}

func (sess *session) cmdHaveSpace(args []arg) (bool, error) {
	if !store.ValidSieveName(args[0].s) {
		return false, sess.storeErr(store.ErrBadScriptName)
	}
	if err := sess.srv.opts.Store.CheckSieveSpace(sess.ctx, sess.account, args[0].s, args[1].n); err != nil {
		return false, sess.storeErr(err)
	}
	return false, sess.enc.status("OK", "", "")
}

// check compiles a script; a syntax error is reported with its line
// (RFC 5804 §2.6).
func (sess *session) check(src string) (bool, error) {
	if _, err := sieve.Compile(src, sess.srv.opts.Limits); err != nil {
		return false, sess.enc.status("NO", "", err.Error())
	}
	return true, nil
}

func (sess *session) cmdPutScript(args []arg) (bool, error) {
	name, src := args[0].s, args[1].s
	if !store.ValidSieveName(name) {
		return false, sess.storeErr(store.ErrBadScriptName)
	}
	if len(src) > store.MaxSieveScriptSize {
		return false, sess.storeErr(store.ErrScriptTooLarge)
	}
	if ok, err := sess.check(src); !ok {
		return false, err
	}
	if err := sess.srv.opts.Store.PutSieveScript(sess.ctx, sess.account, name, src); err != nil {
		return false, sess.storeErr(err)
	}
	sess.log.Info("putscript", "account", sess.account, "name", name, "size", len(src))
	return false, sess.enc.status("OK", "", "")
}

func (sess *session) cmdCheckScript(args []arg) (bool, error) {
	if ok, err := sess.check(args[0].s); !ok {
		return false, err
	}
	return false, sess.enc.status("OK", "", "")
}

func (sess *session) cmdListScripts([]arg) (bool, error) {
	list, err := sess.srv.opts.Store.ListSieveScripts(sess.ctx, sess.account)
	if err != nil {
		return false, sess.storeErr(err)
	}
	for _, s := range list {
		sess.enc.str(s.Name)
		if s.Active {
			sess.enc.w.WriteString(" ACTIVE")
		}
		sess.enc.w.WriteString("\r\n")
	}
	return false, sess.enc.status("OK", "", "")
}

func (sess *session) cmdSetActive(args []arg) (bool, error) {
	if err := sess.srv.opts.Store.SetActiveSieveScript(sess.ctx, sess.account, args[0].s); err != nil {
		return false, sess.storeErr(err)
	}
	sess.log.Info("setactive", "account", sess.account, "name", args[0].s)
	return false, sess.enc.status("OK", "", "")
}

func (sess *session) cmdGetScript(args []arg) (bool, error) {
	src, err := sess.srv.opts.Store.GetSieveScript(sess.ctx, sess.account, args[0].s)
	if err != nil {
		return false, sess.storeErr(err)
	}
	fmt.Fprintf(sess.enc.w, "{%d}\r\n", len(src))
	io.WriteString(sess.enc.w, src)
	sess.enc.w.WriteString("\r\n")
	return false, sess.enc.status("OK", "", "")
}

func (sess *session) cmdDeleteScript(args []arg) (bool, error) {
	if err := sess.srv.opts.Store.DeleteSieveScript(sess.ctx, sess.account, args[0].s); err != nil {
		return false, sess.storeErr(err)
	}
	return false, sess.enc.status("OK", "", "")
}

func (sess *session) cmdRenameScript(args []arg) (bool, error) {
	if err := sess.srv.opts.Store.RenameSieveScript(sess.ctx, sess.account, args[0].s, args[1].s); err != nil {
		return false, sess.storeErr(err)
	}
	return false, sess.enc.status("OK", "", "")
}
