// Package saslogin is the server side of the obsolete but still widely
// used LOGIN SASL mechanism (draft-murchison-sasl-login): the server asks
// for the user name, then the password. go-sasl ships only a LOGIN
// client. SMTP and ManageSieve share it; IMAP's engine keeps its own,
// which tells an absent initial response (nil) from an empty one.
package saslogin

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// server walks the two steps.
type server struct {
	step     int
	username string
	check    func(username, password string) error
}

// NewServer returns a LOGIN server that hands the user name and password
// to check; check's error is the outcome.
func NewServer(check func(username, password string) error) sasl.Server {
	return &server{check: check}
}

var errSteps = errors.New("sasl login: unexpected response")

func (l *server) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step++
		if len(response) == 0 {
			return []byte("Username:"), false, nil
		}
		// An initial response carries the user name (RFC 4954 §4).
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.username, string(response))
	}
	return nil, true, errSteps
}
