package engine

import (
	"errors"

	"mailroom/acl"
)

// scramMech is the SCRAM mechanism offered: SCRAM-SHA-256 (RFC 7677)
// without channel binding, so not -PLUS.
const scramMech = "SCRAM-SHA-256"

// scramServer runs acl.SCRAMServer for AUTHENTICATE with the login
// throttle of LOGIN: the delay before the salt is sent, a failure counted
// for a wrong proof or anything malformed after the user was named, the
// same NO [AUTHENTICATIONFAILED] whatever failed. tried and loginErr are
// cmdAuthenticate's.
func (c *conn) scramServer(tried *bool, loginErr *error) *scramAdapter {
	s := c.srv
	from := c.nc.RemoteAddr()
	var name string
	var account *acl.Account
	a := &scramAdapter{}
	a.SCRAMServer = &acl.SCRAMServer{
		Lookup: func(user string) (acl.SCRAMKeys, error) {
			name = acl.Fold(user)
			s.opts.Sleep(c.ctx, s.throttle.Delay(name, from))
			if err := c.ctx.Err(); err != nil {
				return acl.SCRAMKeys{}, err
			}
			var keys acl.SCRAMKeys
			account, keys = s.opts.Directory.SCRAM(user)
			return keys, nil
		},
		Verified: func(string) error {
			if account == nil {
				return acl.ErrAuthFailed
			}
			return c.admit(account, name, from)
		},
	}
	a.failed = func(err error) {
		if name == "" {
			return // nobody named yet: a malformed first message
		}
		*tried = true
		if !errors.Is(err, acl.ErrAuthFailed) && !errors.Is(err, acl.ErrSCRAMSyntax) {
			*loginErr = err // the context, too many sessions, the store
			return
		}
		s.throttle.Fail(name, from)
		s.noteLogin(false)
		c.log.Warn("login failed", "user", name, "mechanism", scramMech)
		*loginErr = errLoginFailed
	}
	return a
}

// scramAdapter reports an exchange's failure before cmdAuthenticate
// looks at it.
type scramAdapter struct {
	*acl.SCRAMServer
	failed func(error)
}

func (a *scramAdapter) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := a.SCRAMServer.Next(resp)
	if err != nil {
		a.failed(err)
	}
	return ch, done, err
}
