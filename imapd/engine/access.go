package engine

import (
	"strings"
	"unicode/utf8"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// place is a mailbox as one session sees it: whose it is, the owner's
// name for it, the session's name for it and the rights held there.
type place struct {
	owner   *acl.Account
	name    string
	display string
	mailbox *store.Mailbox
	rights  acl.Rights
}

// me returns the logged-in account as the current directory has it, so a
// reload's changes to groups and plans apply to open sessions; nil when
// the account is gone.
func (c *conn) me(dir *acl.Directory) *acl.Account {
	if a, ok := dir.Lookup(c.account.Address); ok {
		return a
	}
	return nil
}

// displayName is the session's name for owner's mailbox name (acl
// decides names for every protocol).
func displayName(me, owner *acl.Account, name string) string { return acl.DisplayName(me, owner, name) }

// rightsOn evaluates the user's rights on owner's mailbox m.
func (c *conn) rightsOn(dir *acl.Directory, me, owner *acl.Account, m *store.Mailbox) (acl.Rights, error) {
	return dir.MailboxRights(c.ctx, c.srv.opts.Store, owner, me, m)
}

// locate resolves a client's mailbox name through acl. A mailbox the
// user may not look up answers exactly as one that does not exist (RFC
// 4314 §4).
func (c *conn) locate(name string) (*place, error) {
	dir := c.srv.opts.Directory.Load()
	me := c.me(dir)
	if me == nil {
		return nil, store.ErrNoMailbox
	}
	p, err := dir.Locate(c.ctx, c.srv.opts.Store, me, name)
	if err != nil {
		return nil, err
	}
	return fromACL(p), nil
}

// fromACL is acl's answer as the engine's place.
func fromACL(p *acl.Place) *place {
	return &place{owner: p.Owner, name: p.Name, display: p.Display, mailbox: p.Mailbox, rights: p.Rights}
}

// locateArg reads a mailbox name argument, locates the mailbox and
// requires the rights in want (none when want is 0) for what.
func (c *conn) locateArg(v proto.Value, want acl.Rights, what string) (*place, error) {
	name, err := c.mailboxArg(v)
	if err != nil {
		return nil, err
	}
	p, err := c.locate(name)
	if err != nil {
		return nil, err
	}
	return p, need(p, want, what)
}

// need answers NO [NOPERM] unless p grants every right in want.
func need(p *place, want acl.Rights, what string) error {
	if p.rights.Has(want) {
		return nil
	}
	missing := want &^ p.rights
	return no("NOPERM", "You may not "+what+" in "+p.display+" (missing rights: "+missing.String()+")")
}

// mailboxArg reads a mailbox name argument: an astring, in modified UTF-7
// unless the client enabled UTF8=ACCEPT (RFC 6855 §3), INBOX in any case
// meaning INBOX.
func (c *conn) mailboxArg(v proto.Value) (string, error) {
	return c.nameArg(v, decodeLenient)
}

// newMailboxArg reads the name of a mailbox to be created (CREATE, the
// new name of RENAME): modified UTF-7 must be valid.
func (c *conn) newMailboxArg(v proto.Value) (string, error) {
	return c.nameArg(v, decodeStrict)
}

func (c *conn) nameArg(v proto.Value, decode func(string) (string, error)) (string, error) {
	s, ok := v.AString()
	if !ok {
		return "", syntax("Expected a mailbox name")
	}
	if !c.utf8 {
		var err error
		if s, err = decode(s); err != nil {
			return "", err
		}
	}
	if strings.EqualFold(s, store.Inbox) {
		return store.Inbox, nil
	}
	if first, rest, ok := strings.Cut(s, "/"); ok && strings.EqualFold(first, store.Inbox) {
		return store.Inbox + "/" + rest, nil
	}
	return s, nil
}

// decodeLenient decodes a modified UTF-7 name for a lookup. A name whose
// "&" sequences are well formed must decode (a non-canonical or broken
// one is BAD); a name with no well-formed sequence that is valid UTF-8 (an
// IMAP4rev2 client's, or ASCII with a stray "&") is taken as it is, as
// other servers do. Names that create mailboxes use decodeStrict.
func decodeLenient(s string) (string, error) {
	dec, err := proto.DecodeMUTF7(s)
	switch {
	case err == nil:
		return dec, nil
	case !hasShiftRun(s) && utf8.ValidString(s):
		return s, nil
	}
	return "", syntax("Mailbox name is not valid modified UTF-7")
}

// decodeStrict decodes a modified UTF-7 name that is to be created: it
// must be valid, so that it is written back the same way.
func decodeStrict(s string) (string, error) {
	dec, err := proto.DecodeMUTF7(s)
	if err != nil {
		if !strings.Contains(s, "&") && utf8.ValidString(s) {
			return s, nil // UTF-8 from an IMAP4rev2 client
		}
		return "", syntax("Mailbox name is not valid modified UTF-7")
	}
	return dec, nil
}

// hasShiftRun reports whether s holds a well-formed modified UTF-7 shift
// sequence: "&", base64 characters, "-".
func hasShiftRun(s string) bool {
	for i := strings.IndexByte(s, '&'); i >= 0; {
		j := i + 1
		for j < len(s) && (s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9' || s[j] == '+' || s[j] == ',') {
			j++
		}
		if j < len(s) && s[j] == '-' && j > i+1 {
			return true
		}
		next := strings.IndexByte(s[i+1:], '&')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return false
}

// mailboxName writes a mailbox name for the client: modified UTF-7 unless
// UTF8=ACCEPT is enabled.
func (c *conn) mailboxName(name string) {
	if !c.utf8 {
		name = proto.EncodeMUTF7(name)
	}
	c.enc.String(name)
}
