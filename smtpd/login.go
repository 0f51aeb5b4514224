package smtpd

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of the obsolete but still widely used
// LOGIN mechanism (draft-murchison-sasl-login): the server asks for the
// user name, then the password. go-sasl only ships a LOGIN client.
type loginServer struct {
	step     int
	username string
	check    func(username, password string) error
}

func newLoginServer(check func(username, password string) error) sasl.Server {
	return &loginServer{check: check}
}

var errLoginSteps = errors.New("sasl login: unexpected response")

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
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
	return nil, true, errLoginSteps
}
