package smtpd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/sieve"
	"mailroom/store"
)

// SieveOptions configures Sieve filtering at local delivery. The zero
// value runs each account's active script, with no global script.
type SieveOptions struct {
	// Global is the path of a script run before every account's own
	// (include :global names resolve next to it); "" for none.
	Global string
	// Limits bound each run; nil means sieve.DefaultLimits.
	Limits *sieve.Limits
	// NoticeInterval is how often, at most, an account is told that its
	// script failed; 0 means one hour.
	NoticeInterval time.Duration
	// Disabled turns filtering off: every message goes to INBOX.
	Disabled bool
}

// sieveOptions are the options of the last SetOptions, else New's.
func (s *Server) sieveOptions() SieveOptions {
	if p := s.sieveLive.Load(); p != nil {
		return *p
	}
	return s.opts.Sieve
}

// scriptCache holds compiled scripts by the hash of their source, shared
// by all deliveries; it is emptied when it grows past maxCachedScripts.
type scriptCache struct {
	mu sync.Mutex
	m  map[[32]byte]*sieve.Script
}

const maxCachedScripts = 1024

func (c *scriptCache) compile(src string, lim *sieve.Limits) (*sieve.Script, error) {
	h := sha256.Sum256([]byte(src))
	c.mu.Lock()
	s, ok := c.m[h]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := sieve.Compile(src, lim)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedScripts {
		c.m = map[[32]byte]*sieve.Script{}
	}
	c.m[h] = s
	c.mu.Unlock()
	return s, nil
}

// wrapper runs the global script, then the account's, as one run: a stop
// in the global script ends everything and the implicit keep is shared,
// as if the account's script were included by the global one.
const (
	globalName = "/global"
	activeName = "/active"
	wrapGlobal = "require \"include\";\ninclude :global :optional \"/global\";\ninclude :personal :optional \"/active\";\n"
	wrapUser   = "require \"include\";\ninclude :personal :optional \"/active\";\n"
)

// filterRun is the Sieve state of one transaction's local delivery: what
// to do after the store commit, and which recipients a script rejected.
type filterRun struct {
	s      *session
	after  []func(ctx context.Context)
	edited []editedCopy
	reject map[*acl.Account]string
	// rejectCode is 550 5.7.1 per RFC 5429 §2.1.
}

// editedCopy is a recipient's copy whose header a script changed beyond
// adding fields at the top: stored as a body of its own, after the
// transaction's main delivery.
type editedCopy struct {
	body []byte
	d    store.Delivery
}

func (s *session) newFilter() *filterRun {
	return &filterRun{s: s, reject: map[*acl.Account]string{}}
}

// filter runs the scripts for one recipient and returns where its copy
// goes: d (its INBOX delivery, prefix filled in) when nothing is to be
// done, otherwise one delivery per mailbox, or none.
func (f *filterRun) filter(ctx context.Context, a *acl.Account, rcpt string, d store.Delivery, msg []byte) []store.Delivery {
	srv := f.s.srv
	opts := srv.sieveOptions()
	if opts.Disabled {
		return []store.Delivery{d}
	}
	st := srv.opts.Store
	scriptName, activeSrc, hasActive, err := st.ActiveSieveScript(ctx, a.Address)
	if err != nil {
		f.s.log.Error("sieve: loading the active script", "account", a.Address, "err", err)
		return []store.Delivery{d}
	}
	if !hasActive && opts.Global == "" {
		return []store.Delivery{d}
	}
	lim := opts.Limits
	if lim == nil {
		lim = &sieve.DefaultLimits
	}
	wrap := wrapUser
	if opts.Global != "" {
		wrap = wrapGlobal
	}
	script, err := srv.sieveCache.compile(wrap, lim)
	if err != nil {
		f.s.log.Error("sieve: wrapper", "err", err)
		return []store.Delivery{d}
	}
	hdrEnd := headerEnd(msg)
	raw := append(append([]byte(nil), d.Prefix...), msg[:hdrEnd]...)
	m := sieve.ParseMessage(raw)
	m.Size = int64(len(d.Prefix) + len(msg))
	m.Body = func() ([]byte, error) { return msg[hdrEnd:], nil }
	env := &sieve.Env{
		Message:       m,
		Envelope:      sieve.Envelope{From: f.s.from, To: rcpt},
		Now:           srv.opts.Now(),
		UserAddresses: append([]string{a.Address}, a.Aliases...),
		Limits:        lim,
		Compiled: func(_ context.Context, src string) (*sieve.Script, error) {
			return srv.sieveCache.compile(src, lim)
		},
		Loader: func(ctx context.Context, loc sieve.Location, name string) (string, error) {
			switch {
			case loc == sieve.Global && name == globalName:
				return readScriptFile(opts.Global)
			case loc == sieve.Global:
				if opts.Global == "" || !store.ValidSieveName(name) {
					return "", sieve.ErrNotFound
				}
				return readScriptFile(filepath.Join(filepath.Dir(opts.Global), name+".sieve"))
			case name == activeName:
				if !hasActive {
					return "", sieve.ErrNotFound
				}
				return activeSrc, nil
			}
			src, err := st.GetSieveScript(ctx, a.Address, name)
			if errors.Is(err, store.ErrNoScript) {
				return "", fmt.Errorf("%w: %q", sieve.ErrNotFound, name)
			}
			return src, err
		},
		Duplicate: func(ctx context.Context, key string) (bool, error) {
			return st.SieveMarked(ctx, a.Address, "dup:"+key)
		},
		MailboxExists: func(ctx context.Context, name string) bool {
			_, err := st.MailboxByName(ctx, a.Address, name)
			return err == nil
		},
	}
	if f.s.user != nil {
		env.Envelope.AuthUser = f.s.user.Address
	}
	res, err := sieve.Run(ctx, script, env)
	if err != nil {
		var se *sieve.SyntaxError
		if errors.As(err, &se) {
			err = se // "include "/active": line 3 ..." says less than the line itself
		}
		if scriptName == "" {
			scriptName = "server-wide" // the global script failed
		}
		f.s.log.Warn("sieve: script failed, message kept in INBOX", "account", a.Address, "script", scriptName, "err", err)
		f.notice(a, d.Mailbox, scriptName, err)
		return []store.Delivery{d}
	}
	for _, n := range res.Notes {
		f.s.log.Info("sieve", "account", a.Address, "note", n)
	}
	return f.apply(ctx, a, d, msg, hdrEnd, res)
}

// apply turns a result into deliveries now and work after the commit.
func (f *filterRun) apply(ctx context.Context, a *acl.Account, d store.Delivery, msg []byte, hdrEnd int, res *sieve.Result) []store.Delivery {
	st := f.s.srv.opts.Store
	var out []store.Delivery
	for _, act := range res.Actions {
		switch act.Kind {
		case sieve.ActKeep, sieve.ActFileinto:
			nd := d
			nd.Flags = store.ParseFlags(act.Flags)
			if act.Kind == sieve.ActFileinto && !strings.EqualFold(act.Mailbox, store.Inbox) {
				mb, err := st.MailboxByName(ctx, a.Address, act.Mailbox)
				if errors.Is(err, store.ErrNoMailbox) && act.Create {
					mb, err = st.CreateMailbox(ctx, a.Address, act.Mailbox, store.CreateOptions{})
					if errors.Is(err, store.ErrExists) {
						mb, err = st.MailboxByName(ctx, a.Address, act.Mailbox)
					}
				}
				if err != nil {
					// RFC 5228 §4.1: a mailbox that cannot be used is an
					// error; the copy goes to INBOX instead.
					f.s.log.Warn("sieve: fileinto failed, filed in INBOX", "account", a.Address, "mailbox", act.Mailbox, "err", err)
					f.notice(a, d.Mailbox, "fileinto", fmt.Errorf("fileinto %q: %w", act.Mailbox, err))
				} else {
					nd.Mailbox = mb.ID
				}
			}
			out = append(out, nd)
		case sieve.ActRedirect:
			f.redirect(a, act.Address, d.Prefix, msg)
		case sieve.ActReject, sieve.ActEreject:
			f.reject[a] = act.Reason
		case sieve.ActVacation:
			f.vacation(a, act)
		}
	}
	for _, dup := range res.Duplicates {
		f.after = append(f.after, func(ctx context.Context) {
			if _, err := st.SieveMark(ctx, a.Address, "dup:"+dup.Key, dup.Period, dup.Last); err != nil {
				f.s.log.Error("sieve: recording duplicate", "account", a.Address, "err", err)
			}
		})
	}
	if !res.HeaderEdited || len(out) == 0 {
		return out
	}
	// editheader: the new header replaces prefix and original header.
	var hb bytes.Buffer
	for _, h := range res.Header {
		hb.WriteString(h.Name)
		hb.WriteByte(':')
		hb.WriteString(h.Value)
		hb.WriteString("\r\n")
	}
	body := append(hb.Bytes(), msg[hdrEnd:]...)
	if !bytes.HasPrefix(msg[hdrEnd:], []byte("\r\n")) && hdrEnd > 0 {
		body = append(append(hb.Bytes(), "\r\n"...), msg[hdrEnd:]...)
	}
	for _, nd := range out {
		nd.Prefix = nil
		f.edited = append(f.edited, editedCopy{body: body, d: nd})
	}
	return nil
}

func readScriptFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", sieve.ErrNotFound
	}
	return string(b), err
}

// commit stores the edited copies and does the work that waits for the
// main delivery to be durable: vacation replies, redirects, duplicate
// marks, notices.
func (f *filterRun) commit(ctx context.Context) error {
	st := f.s.srv.opts.Store
	for _, e := range f.edited {
		if _, err := st.Deliver(ctx, e.body, []store.Delivery{e.d}); err != nil {
			return err
		}
	}
	for _, fn := range f.after {
		fn(ctx)
	}
	return nil
}

// status is the LMTP status of a recipient's account: 550 5.7.1 with
// the script's reason when it rejected the message.
func (f *filterRun) status(a *acl.Account, err error) error {
	if reason, ok := f.reject[a]; ok && err == nil {
		return rejectErr(reason)
	}
	return err
}

func rejectErr(reason string) error {
	reason = strings.Join(strings.Fields(reason), " ")
	if reason == "" || len(reason) > 200 {
		reason = "Message rejected by the recipient's filter"
	}
	return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "%s", reason)
}

// result is DATA's reply over SMTP: when every recipient rejected the
// message, the refusal (RFC 5429 §2.1); else a rejection notice goes to
// the sender of those that did.
func (f *filterRun) result(accts []*acl.Account, err error, lmtp bool) error {
	if err != nil || len(f.reject) == 0 || lmtp {
		return err
	}
	if len(f.reject) == len(accts) && len(f.s.remote) == 0 {
		for _, reason := range f.reject {
			return rejectErr(reason)
		}
	}
	for a, reason := range f.reject {
		f.rejectNotice(a, reason)
	}
	return nil
}

// mailHeader writes a header field, RFC 2047-encoding non-ASCII text.
func mailHeader(b *bytes.Buffer, name, value string) {
	value = strings.Join(strings.Fields(value), " ")
	for i := 0; i < len(value); i++ {
		if value[i] >= 0x80 {
			value = mime.QEncoding.Encode("utf-8", value)
			break
		}
	}
	fmt.Fprintf(b, "%s: %s\r\n", name, value)
}

// queueMail sends a message we write ourselves (see send).
func (f *filterRun) queueMail(ctx context.Context, from, to string, msg []byte) {
	if err := f.send(ctx, from, to, nil, msg); err != nil {
		f.s.log.Error("sieve: sending", "from", from, "to", to, "err", err)
	}
}

// send delivers head followed by msg to one address: straight into the
// INBOX of a local account (its own scripts do not run: a reply or a
// redirect is not filtered twice), else through the outbound queue, so
// it is DKIM-signed like other outbound mail.
func (f *filterRun) send(ctx context.Context, from, to string, head, msg []byte) error {
	srv := f.s.srv
	if at := strings.LastIndexByte(to, '@'); at > 0 && srv.isLocal(strings.ToLower(to[at+1:])) {
		a, ok := srv.opts.Directory.Load().Lookup(to)
		if !ok {
			return fmt.Errorf("no local account %q", to)
		}
		inbox, err := srv.opts.Store.Inbox(ctx, a.Address)
		if err != nil {
			return err
		}
		prefix := fmt.Appendf(nil, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", from, a.Address)
		_, err = srv.opts.Store.Deliver(ctx, msg, []store.Delivery{{Mailbox: inbox.ID, NewMessage: store.NewMessage{
			InternalDate: srv.opts.Now(), Prefix: append(prefix, head...)}}})
		return err
	}
	q := srv.opts.Queue
	if q == nil {
		return errors.New("no outbound queue")
	}
	return q.Enqueue(ctx, from, []string{to}, head, msg)
}

func (f *filterRun) rejectNotice(a *acl.Account, reason string) {
	from := f.s.from
	if from == "" {
		return // never answer the null sender
	}
	f.after = append(f.after, func(ctx context.Context) {
		var b bytes.Buffer
		now := f.s.srv.opts.Now()
		mailHeader(&b, "From", "Mail Delivery System <postmaster@"+domainOf(a.Address)+">")
		mailHeader(&b, "To", "<"+from+">")
		mailHeader(&b, "Subject", "Message rejected by "+a.Address)
		mailHeader(&b, "Date", now.Format(time.RFC1123Z))
		mailHeader(&b, "Message-ID", "<"+randomID(16)+"@"+f.s.srv.opts.Hostname+">")
		mailHeader(&b, "Auto-Submitted", "auto-replied")
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		fmt.Fprintf(&b, "Your message to %s was rejected:\r\n\r\n%s\r\n", a.Address, strings.ReplaceAll(reason, "\n", "\r\n"))
		// The null sender: a rejection must not bounce back (RFC 3834 §3.3).
		f.queueMailFrom(ctx, "", from, b.Bytes())
	})
}

func (f *filterRun) queueMailFrom(ctx context.Context, from, to string, msg []byte) {
	f.queueMail(ctx, from, to, msg)
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

// redirect sends the message to addr after the commit. Leaving for a
// remote address, its envelope sender is rewritten with SRS (srs.go) at
// the account's domain: SPF at the destination checks our domain, and a
// bounce comes back here and is forwarded to the original sender. A
// message that was already delivered to this account (Delivered-To) is
// not redirected again, which breaks redirect loops.
func (f *filterRun) redirect(a *acl.Account, addr string, prefix, msg []byte) {
	hdr := msg[:headerEnd(msg)]
	if bytes.Contains(bytes.ToLower(hdr), []byte("delivered-to: "+strings.ToLower(a.Address)+"\r\n")) {
		f.s.log.Warn("sieve: redirect loop, not redirected", "account", a.Address, "to", addr)
		return
	}
	// The copy keeps Delivered-To (for the loop check above) and
	// Received; Return-Path is the next receiver's to add.
	head := append([]byte(nil), prefix...)
	if bytes.HasPrefix(head, []byte("Return-Path:")) {
		if i := bytes.Index(head, []byte("\r\n")); i >= 0 {
			head = head[i+2:]
		}
	}
	f.after = append(f.after, func(ctx context.Context) {
		from := f.s.from
		if at := strings.LastIndexByte(addr, '@'); at > 0 && !f.s.srv.isLocal(strings.ToLower(addr[at+1:])) {
			secret, err := f.s.srv.srs.get(ctx, f.s.srv.opts.Store)
			if err != nil {
				f.s.log.Error("sieve: redirect: srs secret", "err", err)
				return
			}
			from = srsForward(secret, from, domainOf(a.Address), f.s.srv.opts.Now())
		}
		if err := f.send(ctx, from, addr, head, msg); err != nil {
			f.s.log.Error("sieve: redirect", "account", a.Address, "to", addr, "err", err)
			return
		}
		f.s.log.Info("sieve: redirected", "account", a.Address, "to", addr)
	})
}

// vacation sends the reply after the commit, at most once per sender per
// period (store.SieveMark). The envelope sender is the account's
// address, not <> as RFC 5230 §5.1 suggests, so that the reply is DKIM-
// signed for our domain; bounces of it reach the account, whose
// vacation never answers a system sender.
func (f *filterRun) vacation(a *acl.Account, act sieve.Action) {
	v := act.Vacation
	f.after = append(f.after, func(ctx context.Context) {
		st := f.s.srv.opts.Store
		h := sha256.Sum256([]byte(v.Key))
		fresh, err := st.SieveMark(ctx, a.Address, "vac:"+hex.EncodeToString(h[:16]), v.Period, false)
		if err != nil {
			f.s.log.Error("sieve: vacation tracking", "account", a.Address, "err", err)
			return
		}
		if !fresh {
			f.s.log.Info("sieve: vacation already sent", "account", a.Address, "to", v.To)
			return
		}
		from := a.Address
		fromHeader := a.Address
		if v.From != "" {
			fromHeader = v.From
			if addrs := parseHeaderAddrs(v.From); len(addrs) == 1 {
				if owner, ok := f.s.srv.opts.Directory.Load().Lookup(addrs[0]); ok && owner == a {
					from = addrs[0] // an alias of the account
				} else {
					fromHeader = a.Address // not ours: never send as someone else
				}
			}
		}
		subject := v.Subject
		if subject == "" {
			subject = "Auto: " + v.OrigSubject
		}
		now := f.s.srv.opts.Now()
		var b bytes.Buffer
		mailHeader(&b, "From", fromHeader)
		mailHeader(&b, "To", "<"+v.To+">")
		mailHeader(&b, "Subject", subject)
		mailHeader(&b, "Date", now.Format(time.RFC1123Z))
		mailHeader(&b, "Message-ID", "<"+randomID(16)+"@"+f.s.srv.opts.Hostname+">")
		if v.InReplyTo != "" {
			mailHeader(&b, "In-Reply-To", v.InReplyTo)
			mailHeader(&b, "References", v.InReplyTo)
		}
		mailHeader(&b, "Auto-Submitted", "auto-replied (vacation)")
		b.WriteString("MIME-Version: 1.0\r\n")
		if v.Mime {
			// :mime: the reason is a MIME entity, its own header first.
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(act.Reason, "\r\n", "\n"), "\n", "\r\n"))
		} else {
			b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(act.Reason, "\r\n", "\n"), "\n", "\r\n"))
			if !strings.HasSuffix(act.Reason, "\n") {
				b.WriteString("\r\n")
			}
		}
		f.queueMail(ctx, from, v.To, b.Bytes())
		f.s.log.Info("sieve: vacation reply queued", "account", a.Address, "to", v.To)
	})
}

func parseHeaderAddrs(v string) []string {
	var out []string
	p := mail.AddressParser{WordDecoder: wordDecoder}
	if list, err := p.ParseList(v); err == nil {
		for _, a := range list {
			out = append(out, a.Address)
		}
	}
	return out
}

// notice tells the account, in its INBOX and at most once per
// NoticeInterval, that its script failed and why.
func (f *filterRun) notice(a *acl.Account, inbox store.MailboxID, script string, cause error) {
	interval := f.s.srv.sieveOptions().NoticeInterval
	if interval <= 0 {
		interval = time.Hour
	}
	f.after = append(f.after, func(ctx context.Context) {
		st := f.s.srv.opts.Store
		fresh, err := st.SieveMark(ctx, a.Address, "notice", interval, false)
		if err != nil || !fresh {
			return
		}
		now := f.s.srv.opts.Now()
		var b bytes.Buffer
		mailHeader(&b, "From", "Mail Filter <postmaster@"+domainOf(a.Address)+">")
		mailHeader(&b, "To", a.Address)
		mailHeader(&b, "Subject", "Your mail filter failed; messages are kept in INBOX")
		mailHeader(&b, "Date", now.Format(time.RFC1123Z))
		mailHeader(&b, "Message-ID", "<"+randomID(16)+"@"+f.s.srv.opts.Hostname+">")
		mailHeader(&b, "Auto-Submitted", "auto-generated")
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		fmt.Fprintf(&b, "Your Sieve script %q could not be run on a message from <%s>:\r\n\r\n  %v\r\n\r\n"+
			"The message was kept in your INBOX. Until the script is fixed, every\r\n"+
			"message is; this notice is sent at most once every %v.\r\n", script, f.s.from, cause, interval)
		if _, err := st.Append(ctx, inbox, b.Bytes(), store.NewMessage{InternalDate: now}, 0); err != nil {
			f.s.log.Error("sieve: filing the error notice", "account", a.Address, "err", err)
		}
	})
}
