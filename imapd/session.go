package imapd

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailroom/acl"
	"mailroom/internal/hangup"
	"mailroom/store"
)

// session is one IMAP connection. go-imap calls its methods from the
// connection's goroutine, and Idle from a second one that touches only the
// tracker.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	ext  *extConn // nil only in tests that bypass Serve
	log  *slog.Logger

	account *acl.Account // nil before login
	sel     *selected    // nil when no mailbox is selected

	// connCtx is cancelled when the connection ends; cmdCtx, while a
	// command runs, also when the client hangs up (see begin).
	connCtx    context.Context
	cancelConn context.CancelFunc
	cmdCtx     context.Context
	// out rewrites SELECT's tagged response code (see codeConn); nil in
	// tests that bypass Serve.
	out *codeConn
}

// selected is the session's view of its selected mailbox.
type selected struct {
	box      *openMailbox
	tracker  *imapserver.SessionTracker
	mailbox  *store.Mailbox
	display  string // the name the client selected it by
	readOnly bool
	// searchRes is the result saved by SEARCH RETURN (SAVE) (RFC 5182).
	searchRes imap.UIDSet
	wake      chan struct{}
	// withdrawn is set, for good, once the user has lost the right to
	// read the mailbox while it was selected (it is read by the IDLE
	// goroutine too); detach then stops its updates.
	withdrawn atomic.Bool
	detached  sync.Once
}

// detach stops the mailbox's updates to this session. Nothing of the
// mailbox reaches the session afterwards; unselect releases the rest.
func (sel *selected) detach() {
	sel.detached.Do(func() {
		sel.box.unwatch(sel.wake)
		sel.tracker.Close()
	})
}

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionAppendLimit    = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
)

// ctx is the context of the command running: cancelled when the client
// hangs up during it, or when the connection ends.
func (s *session) ctx() context.Context {
	if s.cmdCtx != nil {
		return s.cmdCtx
	}
	if s.connCtx != nil {
		return s.connCtx
	}
	return context.Background()
}

// begin starts a command: Server.Close waits for it, and its context
// (s.ctx) is cancelled if the client closes the connection meanwhile. The
// returned func ends it.
func (s *session) begin() func() {
	release := s.srv.busy()
	parent := s.connCtx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	stop := func() {}
	if s.ext != nil {
		stop = hangup.Watch(s.ext.raw, cancel)
	}
	s.cmdCtx = ctx
	return func() {
		stop()
		cancel()
		s.cmdCtx = nil
		release()
	}
}

func (s *session) store() *store.Store { return s.srv.opts.Store }

func (s *session) Close() error {
	if s.cancelConn != nil {
		s.cancelConn()
	}
	if s.sel != nil {
		s.unselect()
	}
	if s.account != nil {
		s.srv.sessions.release(s.account.Address)
	}
	s.log.Debug("closed")
	return nil
}

func (s *session) Login(username, password string) error {
	defer s.srv.busy()()
	// Failed logins slow down the next attempt for the same name, existing
	// or not, from this address (and past allowances, the name anywhere and
	// the address for any name): see netlimit.Throttle.
	name, from := acl.Fold(username), s.conn.NetConn().RemoteAddr()
	s.srv.opts.Sleep(s.ctx(), s.srv.throttle.Delay(name, from))
	a, err := s.srv.opts.Directory.Authenticate(s.ctx(), username, password)
	if err != nil {
		if errors.Is(err, acl.ErrAuthFailed) {
			s.srv.throttle.Fail(name, from)
		}
		s.log.Warn("login failed", "user", username, "err", err)
		return imapserver.ErrAuthFailed
	}
	s.srv.throttle.Succeed(name, from)
	if !s.srv.sessions.acquire(a.Address, s.srv.limits.Load().maxSessions) {
		s.log.Warn("login refused: too many sessions", "user", a.Address)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Too many sessions for this account"}
	}
	if err := s.store().EnsureAccount(s.ctx(), a.Address, true); err != nil {
		s.srv.sessions.release(a.Address)
		return s.internal("ensure account", err)
	}
	s.account = a
	if s.ext != nil {
		s.ext.authed.Store(true)
	}
	s.log = s.log.With("user", a.Address)
	s.log.Info("login")
	return nil
}

func (s *session) Unauthenticate() error {
	if s.sel != nil {
		s.unselect()
	}
	s.srv.sessions.release(s.account.Address)
	s.account = nil
	if s.ext != nil {
		s.ext.authed.Store(false)
	}
	return nil
}

func (s *session) AppendLimit() uint32 {
	return uint32(min(s.srv.opts.AppendLimit, 1<<32-1))
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: store.Delimiter}},
		Other:    []imap.NamespaceDescriptor{{Prefix: otherPrefix, Delim: store.Delimiter}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: sharedPrefix, Delim: store.Delimiter}},
	}, nil
}

// internal logs an unexpected error and returns a generic one that says
// nothing of the server's internals.
func (s *session) internal(what string, err error) error {
	if errors.Is(err, context.Canceled) && s.ctx().Err() != nil {
		s.log.Info("command abandoned: the client went away", "command", what)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Command abandoned"}
	}
	s.log.Error(what, "err", err)
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal server error, try again later"}
}

// mapErr translates store errors to IMAP responses (RFC 5530 codes).
func (s *session) mapErr(what string, err error) error {
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoMailbox):
		return no(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, store.ErrExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrHasChildren):
		return no(imap.ResponseCodeHasChildren, "Mailbox has children; delete them first")
	case errors.Is(err, store.ErrInboxDelete):
		return no(imap.ResponseCodeCannot, "INBOX cannot be deleted")
	case errors.Is(err, store.ErrRenameInside):
		return no(imap.ResponseCodeCannot, "Cannot rename a mailbox into itself")
	case errors.Is(err, store.ErrBadName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, store.ErrOverQuota):
		return no(imap.ResponseCodeOverQuota, "Quota exceeded")
	case errors.Is(err, store.ErrNoSpace):
		return no(imap.ResponseCodeOverQuota, "Server storage is full, try again later")
	case errors.Is(err, store.ErrTooMany):
		return no(imap.ResponseCodeLimit, "Too many mailboxes")
	case errors.Is(err, store.ErrTooLarge):
		return no(imap.ResponseCodeTooBig, "Message or request too large")
	case errors.Is(err, acl.ErrDenied):
		return no(imap.ResponseCodeNoPerm, strings.TrimPrefix(err.Error(), acl.ErrDenied.Error()+": "))
	case errors.Is(err, acl.ErrNoAccount):
		return no(imap.ResponseCodeNonExistent, "No such identifier: "+strings.TrimPrefix(err.Error(), acl.ErrNoAccount.Error()+": "))
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie
	}
	return s.internal(what, err)
}

func (s *session) Select(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	defer s.begin()()
	if s.sel != nil {
		s.unselect()
	}
	p, err := s.locate(name)
	if err == nil {
		err = need(p, acl.RightRead, "read messages")
	}
	if err != nil {
		return nil, s.mapErr("select", err)
	}
	m := p.mailbox
	box, err := s.srv.opts.Registry.open(s.ctx(), s.store(), m.ID)
	if err != nil {
		return nil, s.internal("select", err)
	}
	box.mu.RLock()
	n := uint32(len(box.uids))
	tracker := box.tracker.NewSession()
	box.mu.RUnlock()
	wake := box.watch()
	// Re-read the record so that UIDNEXT is not older than the UID list.
	if m, err = s.store().Mailbox(s.ctx(), m.ID); err != nil {
		box.unwatch(wake)
		tracker.Close()
		s.srv.opts.Registry.release(box)
		return nil, s.mapErr("select", err)
	}
	examine := opts != nil && opts.ReadOnly
	s.sel = &selected{box: box, tracker: tracker, mailbox: m, display: p.display, readOnly: examine || readOnlyRights(p.rights), wake: wake}
	data := &imap.SelectData{
		Flags:          []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft},
		PermanentFlags: []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft, imap.FlagWildcard},
		NumMessages:    n,
		UIDNext:        imap.UID(m.UIDNext),
		UIDValidity:    m.UIDValidity,
	}
	if s.sel.readOnly {
		data.PermanentFlags = nil
		if !examine && s.out != nil {
			s.out.readOnlySelect()
		}
	}
	return data, nil
}

// readOnlyRights reports whether rights on a mailbox let the user change
// nothing in it, so that SELECT opens it read-only. RFC 4314 §4: READ-ONLY
// when none of "i", "e" and the rights to change shared flags is held;
// here \Seen is shared too (a flag of the message, not of the user), so
// those are "s", "w" and "t".
func readOnlyRights(r acl.Rights) bool {
	return r&(acl.RightSeen|acl.RightWrite|acl.RightDeleteMsg|acl.RightInsert|acl.RightExpunge) == 0
}

func (s *session) Unselect() error {
	defer s.begin()()
	s.unselect()
	return nil
}

func (s *session) unselect() {
	s.sel.detach()
	s.srv.opts.Registry.release(s.sel.box)
	s.sel = nil
}

// Poll sends the selected mailbox's pending updates, unless the user has
// lost access to it (see selectionLost).
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil || s.selectionLost(s.ctx()) {
		return nil
	}
	return s.sel.tracker.Poll(w, allowExpunge)
}

// Idle runs on its own goroutine and touches only the selection. It polls
// first, so a change committed before IDLE began is announced at once,
// then after every wake-up; a change published between a poll and the
// wait leaves its signal in the buffered channel, so none is missed.
// (go-imap's SessionTracker.Idle only flushes on updates queued after it
// registered.)
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.sel == nil {
		<-stop
		return nil
	}
	ctx := s.connCtx
	if ctx == nil {
		ctx = context.Background()
	}
	for {
		if s.selectionLost(ctx) {
			// Nothing more of the mailbox reaches this session; IDLE
			// goes on until DONE, and the next command on the mailbox
			// is refused.
			<-stop
			return nil
		}
		if err := s.sel.tracker.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-s.sel.wake:
		case <-stop:
			return nil
		}
	}
}
