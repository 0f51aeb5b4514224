package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/inbound"
	"mailroom/internal/saslogin"
	"mailroom/store"
)

// session is one SMTP transaction stream on one connection.
type session struct {
	srv  *Server
	mode Mode
	conn *smtp.Conn
	log  *slog.Logger

	user *acl.Account // after AUTH

	from   string // "" for the null sender
	local  []*acl.Account
	rcpts  []string // local recipients as given, parallel to local
	remote []string
	// sentAs is the account whose address the submitted From: uses when
	// it is not the user's own: a copy goes to its Sent mailbox.
	sentAs *acl.Account

	// Shutdown state: a session in a transaction is closed when it ends.
	mu      sync.Mutex
	inTx    bool
	closing bool

	// sizeHint is the size MAIL announced (SIZE=), 0 if none.
	sizeHint int

	// trust is the inbound checks' verdict on the message (see
	// checkTrust); nil when there are none.
	trust *inbound.Verdict
	// envChecks are the inbound envelope checks, begun at the first
	// local recipient (see beginChecks).
	envChecks *inbound.Envelope

	// env carries the transaction's DSN (RFC 3461) and REQUIRETLS (RFC
	// 8689) parameters: Ret, EnvID and RequireTLS from MAIL, each
	// recipient's NOTIFY and ORCPT from RCPT (remote ones in env.Rcpts,
	// parallel to remote; local ones in localDSN, parallel to local).
	env      store.QueueEntry
	localDSN []store.QueueRcpt
}

// closeWhenIdle closes the connection now if no transaction is under way,
// else when it ends.
func (s *session) closeWhenIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if !s.inTx {
		s.closeSocket()
	}
}

// closeSocket closes the network connection under go-smtp, whose read loop
// then ends the session. (go-smtp's Conn.Close takes a lock that it holds
// while calling Reset.)
func (s *session) closeSocket() { s.conn.Conn().Close() }

// setInTx marks the start or the end of a transaction; at the end of one,
// a closing session closes its connection (go-smtp calls Reset after it
// has written the reply to DATA).
func (s *session) setInTx(in bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inTx = in
	if !in && s.closing {
		s.closeSocket()
	}
}

var (
	_ smtp.AuthSession = (*session)(nil)
	_ smtp.LMTPSession = (*session)(nil)
)

func smtpErr(code int, enh smtp.EnhancedCode, format string, args ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: fmt.Sprintf(format, args...)}
}

var (
	errNoSpace      = smtpErr(452, smtp.EnhancedCode{4, 3, 1}, "Insufficient system storage, try again later")
	errAuthRequired = smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
	errAuthFailed   = smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "Authentication credentials invalid")
	errTempFailure  = smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary server error, please try again later")
	// errRequireTLSUnsupported: REQUIRETLS mail this server cannot queue
	// with its requirement (RFC 8689 §5: 5.7.30).
	errRequireTLSUnsupported = smtpErr(550, smtp.EnhancedCode{5, 7, 30}, "REQUIRETLS support required, and this server cannot relay it")
	errTooLarge              = smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "Message exceeds the maximum message size")
)

func (s *session) AuthMechanisms() []string {
	if s.mode != ModeSubmission {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.mode != ModeSubmission {
		return nil, smtp.ErrAuthUnsupported
	}
	if s.user != nil {
		return nil, smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "Already authenticated")
	}
	check := func(identity, username, password string) error {
		if identity != "" && acl.Fold(identity) != acl.Fold(username) {
			return errAuthFailed
		}
		// Failures slow down the next attempt for the name, existing or
		// not, from this address (see netlimit.Throttle).
		name, from := acl.Fold(username), s.conn.Conn().RemoteAddr()
		s.srv.opts.Sleep(context.Background(), s.srv.throttle.Delay(name, from))
		a, err := s.srv.opts.Directory.Authenticate(context.Background(), username, password)
		if err != nil {
			if errors.Is(err, acl.ErrAuthFailed) {
				s.srv.throttle.Fail(name, from)
			}
			s.log.Warn("auth failed", "user", username, "err", err)
			s.srv.observer().Login(s.mode.String(), false)
			return errAuthFailed
		}
		s.srv.throttle.Succeed(name, from)
		s.srv.observer().Login(s.mode.String(), true)
		s.user = a
		s.log = s.log.With("user", a.Address)
		s.log.Info("auth")
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return saslogin.NewServer(func(u, p string) error { return check("", u, p) }), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Reset() {
	s.envChecks.Stop()
	s.envChecks = nil
	s.from, s.local, s.rcpts, s.remote, s.sentAs, s.trust = "", nil, nil, nil, nil, nil
	s.env, s.localDSN = store.QueueEntry{}, nil
	s.setInTx(false)
}

func (s *session) Logout() error {
	s.envChecks.Stop()
	s.srv.mu.Lock()
	delete(s.srv.sessions, s)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) (err error) {
	defer func() { s.observeReply("mail", err) }()
	s.Reset()
	// A transaction begins only when MAIL is accepted: shutdown waits for
	// transactions, not for refused commands.
	defer func() {
		if err == nil {
			s.setInTx(true)
		}
	}()
	// A full disk, and a declared size over the limit (RFC 1870), are
	// said before the client sends the message.
	size := 0
	if opts != nil {
		size = int(opts.Size)
	}
	if max := s.srv.opts.MaxMessageBytes; max > 0 && int64(size) > max {
		return errTooLarge
	}
	if err := s.srv.opts.Store.RoomFor(size); err != nil {
		if errors.Is(err, store.ErrNoSpace) {
			return errNoSpace
		}
		s.log.Error("free space check", "err", err)
		return errTempFailure
	}
	if !s.srv.receiving.fits(size) {
		return errReceivingFull
	}
	s.sizeHint = size
	if s.mode == ModeSubmission && s.user == nil {
		return errAuthRequired
	}
	if opts != nil {
		if opts.RequireTLS {
			// RFC 8689 §4.1: only over TLS.
			if _, tls := s.conn.TLSConnectionState(); !tls {
				return smtpErr(530, smtp.EnhancedCode{5, 7, 10}, "REQUIRETLS needs a TLS connection")
			}
		}
		s.env.Ret, s.env.EnvID, s.env.RequireTLS = string(opts.Return), opts.EnvelopeID, opts.RequireTLS
	}
	if from == "" {
		if s.mode == ModeSubmission {
			return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "The null sender is not allowed on submission")
		}
		return nil // bounces
	}
	a, err := parseAddress(from)
	if err != nil {
		return smtpErr(501, smtp.EnhancedCode{5, 1, 7}, "Bad sender address syntax")
	}
	if s.mode == ModeSubmission {
		if _, err := s.checkSendAs("envelope sender", a.String()); err != nil {
			return err
		}
	}
	s.from = a.String()
	return nil
}

// checkSendAs enforces the send-as rule of docs/architecture.md: the address must be the
// user's own or an alias, or belong to an account on whose INBOX the user
// holds "p" (a delegate answering for info@). It returns that account.
func (s *session) checkSendAs(what, addr string) (*acl.Account, error) {
	dir := s.srv.opts.Directory.Load()
	me, _ := dir.Lookup(s.user.Address)
	owner, err := dir.SendAs(context.Background(), s.srv.opts.Store, me, addr)
	switch {
	case errors.Is(err, acl.ErrNotPermitted):
		return nil, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "%s <%s> is not an address of %s, and %s may not send as it", what, addr, s.user.Address, s.user.Address)
	case err != nil:
		s.log.Error("send-as rights", "err", err)
		return nil, errTempFailure
	}
	return owner, nil
}

// dsnRcpt is a recipient with its DSN parameters (RFC 3461 §4).
func dsnRcpt(addr string, opts *smtp.RcptOptions) store.QueueRcpt {
	r := store.QueueRcpt{Addr: addr}
	if opts == nil {
		return r
	}
	for _, n := range opts.Notify {
		switch n {
		case smtp.DSNNotifyNever:
			r.Notify |= store.NotifyNever
		case smtp.DSNNotifySuccess:
			r.Notify |= store.NotifySuccess
		case smtp.DSNNotifyFailure:
			r.Notify |= store.NotifyFailure
		case smtp.DSNNotifyDelayed:
			r.Notify |= store.NotifyDelay
		}
	}
	if opts.OriginalRecipient != "" {
		r.ORcpt = strings.ToLower(string(opts.OriginalRecipientType)) + ";" + opts.OriginalRecipient
	}
	return r
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) (err error) {
	defer func() { s.observeReply("rcpt", err) }()
	if s.mode == ModeSubmission && s.user == nil {
		return errAuthRequired
	}
	if strings.EqualFold(to, "postmaster") {
		// RFC 5321 §4.1.1.3: <Postmaster> without a domain is this
		// server's, which is postmaster@ its primary domain.
		to = "postmaster@" + s.srv.primaryDomain()
	}
	a, err := parseAddress(to)
	if err != nil {
		return smtpErr(501, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address syntax")
	}
	if !s.srv.isLocal(a.domain) {
		if s.mode != ModeSubmission {
			s.log.Info("relay denied", "from", s.from, "rcpt", to)
			return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "Relay access denied: <%s> is not a local address", to)
		}
		if s.srv.opts.Queue == nil {
			return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "This server does not deliver to remote addresses")
		}
		s.remote = append(s.remote, a.String())
		s.env.Rcpts = append(s.env.Rcpts, dsnRcpt(a.String(), opts))
		return nil
	}
	if fwd, ok := s.srsRcpt(a); ok { // a bounce of mail a Sieve script redirected (srs.go)
		s.remote = append(s.remote, fwd)
		s.env.Rcpts = append(s.env.Rcpts, store.QueueRcpt{Addr: fwd})
		return nil
	}
	acct, ok := s.srv.opts.Directory.Load().Lookup(a.String())
	if !ok {
		s.log.Info("unknown recipient", "from", s.from, "rcpt", to)
		return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "No such user here: <%s>", to)
	}
	if q := acct.Plan.Quota; q > 0 {
		used, err := s.srv.opts.Store.Usage(context.Background(), acct.Address)
		if err != nil {
			s.log.Error("quota check", "err", err)
			return errTempFailure
		}
		if used >= q {
			s.log.Info("mailbox full", "rcpt", acct.Address)
			return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "Mailbox of <%s> is full", to)
		}
	}
	if q := acct.Plan.MaxMessages; q > 0 {
		n, err := s.srv.opts.Store.MessageCount(context.Background(), acct.Address)
		if err != nil {
			s.log.Error("quota check", "err", err)
			return errTempFailure
		}
		if n >= q {
			s.log.Info("mailbox full (messages)", "rcpt", acct.Address)
			return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "Mailbox of <%s> is full", to)
		}
	}
	s.local = append(s.local, acct)
	s.rcpts = append(s.rcpts, a.String())
	s.localDSN = append(s.localDSN, dsnRcpt(a.String(), opts))
	s.beginChecks()
	return nil
}

func (s *session) Data(r io.Reader) (err error) {
	defer s.startData()(&err)
	r, release := s.reserve(r)
	defer release()
	head, msg, free, err := s.readMessage(r)
	defer free()
	if err != nil {
		return err
	}
	if err := s.deliverLocal(head, msg, nil); err != nil {
		return err
	}
	s.reportLocalSuccess(head, msg)
	if len(s.remote) > 0 {
		if err := s.enqueue(head, msg); err != nil {
			s.log.Error("enqueue", "err", err)
			// Local copies are committed; a retry would duplicate them,
			// but losing the remote ones is worse.
			if errors.Is(err, store.ErrNoSpace) {
				return errNoSpace
			}
			if errors.Is(err, store.ErrTooLarge) {
				return smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "Message too large")
			}
			return errTempFailure
		}
		s.log.Info("queued", "from", s.from, "rcpts", s.remote, "size", len(head)+len(msg))
	}
	if s.sentAs != nil {
		s.fileSentCopy(head, msg)
		if audit := s.srv.opts.Audit; audit != nil {
			audit(store.AuditRecord{Time: s.srv.opts.Now(), Account: s.sentAs.Address, Actor: s.user.Address, Action: "send-as",
				Detail: fmt.Sprintf("to %s", strings.Join(append(slices.Clone(s.rcpts), s.remote...), ", "))})
		}
	}
	return nil
}

func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) (err error) {
	defer s.startData()(&err)
	r, release := s.reserve(r)
	defer release()
	head, msg, free, err := s.readMessage(r)
	defer free()
	if err != nil {
		return err
	}
	return s.deliverLocal(head, msg, status)
}

// readMessage reads DATA and, on submission, checks and completes the
// header. The message is head followed by msg: head holds the header
// fields the server adds in front (see prepareSubmission), kept apart so
// that the received bytes are never copied to make room for them. msg is
// in a reused buffer (see getBuf): free, never nil, gives it back, once
// nothing refers to msg.
func (s *session) readMessage(r io.Reader) (head, msg []byte, free func(), err error) {
	max := s.srv.opts.MaxMessageBytes
	if max > 0 {
		// One byte more than the limit tells an oversized message.
		r = &maxReader{r: r, n: max + 1}
	}
	msg, buf, err := readData(r)
	free = func() { putBuf(buf) }
	if err == nil && max > 0 && int64(len(msg)) > max {
		return nil, nil, free, errTooLarge
	}
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, nil, free, se // too large
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			return nil, nil, free, smtpErr(500, smtp.EnhancedCode{5, 5, 2}, "Line too long (RFC 5321 allows 1000 octets)")
		}
		return nil, nil, free, smtpErr(451, smtp.EnhancedCode{4, 4, 2}, "Error reading message data")
	}
	if s.mode == ModeSubmission {
		head, msg, err = s.prepareSubmission(msg)
		return head, msg, free, err
	}
	if err := checkInbound(msg); err != nil {
		return nil, nil, free, err
	}
	msg, err = s.checkTrust(msg)
	return nil, msg, free, err
}

// remoteIP is the client's address for Received headers.
func (s *session) remoteIP() string {
	if a, ok := s.conn.Conn().RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return s.conn.Conn().RemoteAddr().String()
}

// dedupe drops repeated accounts (an address and its alias in one
// message), keeping the first recipient address given for each.
func dedupe(accts []*acl.Account, rcpts []string) ([]*acl.Account, []string) {
	var outA []*acl.Account
	var outR []string
	for i, a := range accts {
		if !slices.Contains(outA, a) {
			outA = append(outA, a)
			outR = append(outR, rcpts[i])
		}
	}
	return outA, outR
}
