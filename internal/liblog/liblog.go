// Package liblog bridges the Printf loggers of go-imap and go-smtp to
// slog. They report every connection that ends badly, and most of those
// are a client going away: a health check or port probe that connects and
// closes, a client reset in the middle of a line. Those are logged at
// Debug; anything else stays a warning.
package liblog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
)

// Logger is a Printf logger (go-imap's imapserver.Logger, go-smtp's
// smtp.Logger) writing to an slog.Logger.
type Logger struct{ log *slog.Logger }

// New returns a Logger writing to log.
func New(log *slog.Logger) Logger { return Logger{log: log} }

// Printf logs at Debug when an argument is an error that ClientGone
// recognises, at Warn otherwise.
func (l Logger) Printf(format string, args ...any) {
	l.log.Log(context.Background(), level(args), fmt.Sprintf(format, args...))
}

// Println is Printf with fmt.Sprintln's formatting.
func (l Logger) Println(args ...any) {
	msg := fmt.Sprintln(args...)
	l.log.Log(context.Background(), level(args), msg[:len(msg)-1])
}

func level(args []any) slog.Level {
	for _, a := range args {
		if err, ok := a.(error); ok && ClientGone(err) {
			return slog.LevelDebug
		}
	}
	return slog.LevelWarn
}

// ClientGone reports whether err only says that the client closed or
// reset the connection, or spoke something other than TLS to a TLS port.
func ClientGone(err error) bool {
	var rh tls.RecordHeaderError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &rh)
}
