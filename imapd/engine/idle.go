package engine

import (
	"errors"
	"strings"
	"time"

	"mailroom/imapd/proto"
)

// cmdIdle waits for changes and tells them as they come until the client
// sends DONE (RFC 2177, RFC 9051 §6.3.13). A reader goroutine waits for
// DONE while this one waits for changes; it is always waited for before
// IDLE returns, so the connection has one reader again.
func cmdIdle(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("IDLE takes no arguments")
	}
	c.enc.Raw("+ idling").CRLF()
	if err := c.enc.Flush(); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(c.srv.limits.Load().idleTimeout))
	done := make(chan error, 1)
	go func() {
		line, err := c.dec.ReadLine()
		if err == nil && !strings.EqualFold(string(line), "DONE") {
			err = errNotDone
		}
		done <- err
	}()
	var wake <-chan struct{}
	if c.sel != nil {
		wake = c.sel.wake
	}
	for {
		c.announce(true)
		if c.state == loggedOut {
			c.nc.SetReadDeadline(time.Now())
			<-done
			return errReplied
		}
		if err := c.enc.Flush(); err != nil {
			c.nc.SetReadDeadline(time.Now())
			<-done
			return err
		}
		select {
		case <-wake:
		case <-c.notifyWake():
		case err := <-done:
			switch {
			case err == nil:
				return ok("", "IDLE terminated")
			case errors.Is(err, errNotDone):
				return syntax("Expected DONE")
			}
			c.readFailed(err) // a timeout or a closed connection: BYE
			c.state = loggedOut
			return errReplied
		case <-c.srv.ctx.Done():
			c.nc.SetReadDeadline(time.Now())
			<-done
			c.bye("UNAVAILABLE", "Server shutting down")
			return errReplied
		}
	}
}

var errNotDone = errors.New("not DONE")
