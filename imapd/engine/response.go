package engine

import (
	"context"
	"errors"
	"strings"

	"mailroom/acl"
	"mailroom/store"
)

// Response is a command's tagged completion (RFC 9051 §7.1): OK, NO or
// BAD, an optional response code (with its arguments) and human text.
// Handlers return it as an error; nil means "OK <command> completed".
type Response struct {
	Kind string // "OK", "NO", "BAD"
	Code string // e.g. "NONEXISTENT", "READ-WRITE", "APPENDUID 7 3"
	Text string
}

func (r *Response) Error() string { return r.Kind + " [" + r.Code + "] " + r.Text }

func no(code, text string) *Response  { return &Response{Kind: "NO", Code: code, Text: text} }
func bad(code, text string) *Response { return &Response{Kind: "BAD", Code: code, Text: text} }
func ok(code, text string) *Response  { return &Response{Kind: "OK", Code: code, Text: text} }

// errReplied tells run that the handler wrote its own tagged response
// (STARTTLS, which must answer before the handshake).
var errReplied = errors.New("replied")

// syntax is the BAD answer to arguments that do not fit a command's
// grammar.
func syntax(text string) *Response { return bad("", text) }

// response maps a handler's error to its tagged completion: store and acl
// sentinels to RFC 5530 codes in this one table; anything else is a
// server bug, logged, and answered without internals.
func (c *conn) response(name string, err error) *Response {
	var r *Response
	switch {
	case err == nil:
		return ok("", name+" completed")
	case errors.As(err, &r):
		return r
	case errors.Is(err, store.ErrNoMailbox):
		return no("NONEXISTENT", "No such mailbox")
	case errors.Is(err, store.ErrExists):
		return no("ALREADYEXISTS", "Mailbox already exists")
	case errors.Is(err, store.ErrHasChildren):
		return no("HASCHILDREN", "Mailbox has children; delete them first")
	case errors.Is(err, store.ErrInboxDelete):
		return no("CANNOT", "INBOX cannot be deleted")
	case errors.Is(err, store.ErrRenameInside):
		return no("CANNOT", "Cannot rename a mailbox into itself")
	case errors.Is(err, store.ErrBadName):
		return no("CANNOT", "Invalid mailbox name")
	case errors.Is(err, store.ErrOverQuota):
		return no("OVERQUOTA", "Quota exceeded")
	case errors.Is(err, store.ErrNoSpace):
		return no("OVERQUOTA", "Server storage is full, try again later")
	case errors.Is(err, store.ErrTooMany):
		return no("LIMIT", "Too many mailboxes")
	case errors.Is(err, store.ErrTooLarge):
		return no("TOOBIG", "Message or request too large")
	case errors.Is(err, acl.ErrDenied):
		return no("NOPERM", strings.TrimPrefix(err.Error(), acl.ErrDenied.Error()+": "))
	case errors.Is(err, context.Canceled):
		c.log.Info("command abandoned", "command", name)
		return no("UNAVAILABLE", "Command abandoned")
	}
	c.log.Error("command failed", "command", name, "err", err)
	return no("SERVERBUG", "Internal server error, try again later")
}
