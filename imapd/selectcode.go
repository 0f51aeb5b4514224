package imapd

import (
	"bytes"
	"net"
	"sync"
)

// codeConn is a shim between go-imap and extConn for one thing go-imap
// cannot be told: its tagged SELECT response always says [READ-WRITE]
// (imapserver.SelectData has no read-only field). When the session
// decides that a SELECT is read-only (RFC 4314 §4: the user can change
// nothing), it arms the shim, which rewrites the code of the next tagged
// response and disarms. Armed, it looks only at the lines go-imap writes
// for that SELECT (EXISTS, UIDVALIDITY, UIDNEXT, FLAGS, PERMANENTFLAGS and
// the tagged OK), built from the session's SelectData and never from
// message content; otherwise it passes bytes through untouched. It goes
// away with go-imap's server.
type codeConn struct {
	*extConn

	mu    sync.Mutex
	armed bool
	held  []byte // an incomplete line, while armed
}

var _ net.Conn = (*codeConn)(nil)

// codeListener wraps each accepted extConn in a codeConn.
type codeListener struct{ net.Listener }

func (l codeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if ext, ok := c.(*extConn); ok {
		return &codeConn{extConn: ext}, nil
	}
	return c, nil
}

// readOnlySelect makes the tagged response of the SELECT being answered
// say READ-ONLY.
func (c *codeConn) readOnlySelect() {
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
}

func (c *codeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed {
		return c.extConn.Write(p)
	}
	n := len(p)
	buf := append(c.held, p...)
	c.held = nil
	out := make([]byte, 0, len(buf)+8)
	for c.armed {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		line := buf[:i+1]
		buf = buf[i+1:]
		if !bytes.HasPrefix(line, []byte("* ")) && !bytes.HasPrefix(line, []byte("+")) {
			// The tagged response ends the SELECT.
			c.armed = false
			if j := bytes.Index(line, []byte(" OK [READ-WRITE]")); j >= 0 {
				line = append(append(append([]byte{}, line[:j]...), " OK [READ-ONLY]"...), line[j+len(" OK [READ-WRITE]"):]...)
			}
		}
		out = append(out, line...)
	}
	if c.armed {
		c.held = append([]byte(nil), buf...)
	} else {
		out = append(out, buf...)
	}
	if len(out) > 0 {
		if _, err := c.extConn.Write(out); err != nil {
			return 0, err
		}
	}
	return n, nil
}
