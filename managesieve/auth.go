package managesieve

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"

	"mailroom/acl"
	"mailroom/internal/saslogin"
	"mailroom/store"
)

var (
	errAuthFailed = errors.New("authentication failed")
	errAuthz      = errors.New("not authorised for that account")
	errCancelled  = errors.New("authentication cancelled")
)

// cmdAuthenticate runs a SASL exchange (RFC 5804 §2.1): challenges go
// out as base64 strings, responses come back as strings, "*" cancels.
//
// The authorization identity may name a team account: the user then
// manages that account's scripts if they hold "a" (administer) on its
// INBOX, as checked by acl like IMAP's SETACL.
func (sess *session) cmdAuthenticate(args []arg) (bool, error) {
	if sess.user != nil {
		return false, sess.enc.status("NO", "", "Already authenticated")
	}
	if !sess.tls && !sess.lopts.InsecureAuth {
		return false, sess.enc.status("NO", "ENCRYPT-NEEDED", "Use STARTTLS first")
	}
	var authzErr error
	check := func(identity, username, password string) error {
		authzErr = nil
		name, from := acl.Fold(username), sess.conn.RemoteAddr()
		sess.srv.opts.Sleep(sess.ctx, sess.srv.throttle.Delay(name, from))
		a, err := sess.srv.opts.Directory.Authenticate(sess.ctx, username, password)
		if err != nil {
			if errors.Is(err, acl.ErrAuthFailed) {
				sess.srv.throttle.Fail(name, from)
			}
			sess.log.Warn("auth failed", "user", username, "err", err)
			return errAuthFailed
		}
		sess.srv.throttle.Succeed(name, from)
		account, err := sess.authorize(a, identity)
		if err != nil {
			sess.log.Warn("authorization refused", "user", a.Address, "authzid", identity, "err", err)
			authzErr = err
			return err
		}
		sess.user, sess.account = a, account
		return nil
	}
	var server sasl.Server
	switch strings.ToUpper(args[0].s) {
	case sasl.Plain:
		server = sasl.NewPlainServer(check)
	case sasl.Login:
		server = saslogin.NewServer(func(u, p string) error { return check("", u, p) })
	default:
		return false, sess.enc.status("NO", "", "Unsupported mechanism")
	}
	var resp []byte
	if len(args) == 2 {
		var err error
		if resp, err = base64.StdEncoding.DecodeString(args[1].s); err != nil {
			return false, sess.enc.status("NO", "", "Bad base64 in the initial response")
		}
	}
	for {
		challenge, done, err := server.Next(resp)
		if err != nil {
			if authzErr != nil {
				return false, sess.enc.status("NO", "", "Not authorised to manage that account's scripts")
			}
			return false, sess.enc.status("NO", "", "Authentication failed")
		}
		if done {
			break
		}
		sess.enc.str(base64.StdEncoding.EncodeToString(challenge))
		sess.enc.w.WriteString("\r\n")
		if err := sess.enc.w.Flush(); err != nil {
			return true, err
		}
		line, err := sess.dec.readResponse()
		if err != nil {
			var se *syntaxError
			if errors.As(err, &se) {
				return false, sess.enc.status("NO", "", "Authentication failed: "+se.msg)
			}
			return true, err
		}
		if line == "*" {
			return false, sess.enc.status("NO", "", errCancelled.Error())
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			return false, sess.enc.status("NO", "", "Bad base64 in the response")
		}
	}
	if sess.user == nil {
		return false, sess.enc.status("NO", "", "Authentication failed")
	}
	sess.dec.maxLiteral = maxScriptLiteral
	sess.log = sess.log.With("user", sess.user.Address)
	sess.log.Info("auth", "account", sess.account)
	return false, sess.enc.status("OK", "", "Logged in")
}

// authorize returns the account whose scripts the user manages: their
// own, or the one the authorization identity names if the user holds
// "a" on its INBOX.
func (sess *session) authorize(a *acl.Account, identity string) (string, error) {
	if identity == "" || acl.Fold(identity) == acl.Fold(a.Address) {
		return a.Address, nil
	}
	dir := sess.srv.opts.Directory.Load()
	owner, ok := dir.Lookup(identity)
	if !ok {
		return "", errAuthz
	}
	if owner == a {
		return a.Address, nil
	}
	st := sess.srv.opts.Store
	inbox, err := st.MailboxByName(sess.ctx, owner.Address, store.Inbox)
	if err != nil {
		return "", errAuthz
	}
	rights, err := dir.MailboxRights(sess.ctx, st, owner, a, inbox)
	if err != nil || !rights.Has(acl.RightAdmin) {
		return "", errAuthz
	}
	return owner.Address, nil
}
