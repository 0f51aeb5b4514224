package imapd

import (
	"net"

	"mailroom/internal/trace"
)

// traced wraps the plaintext side of the connection (the socket, or the
// TLS connection after STARTTLS) in a protocol transcript when the server
// logs at trace level; it returns nc itself otherwise.
func (c *extConn) traced(nc net.Conn) net.Conn {
	tc := trace.Wrap(nc, trace.IMAP, c.srv.log)
	if s := c.session.Load(); s != nil {
		trace.Attach(tc, s.log)
	}
	return tc
}
