package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/internal/mailfile"
)

// imapFetchBatch is how many message bodies one FETCH asks for.
const imapFetchBatch = 50

// imapSource reads a remote account over IMAP (go-imap's client): every
// selectable mailbox, read-only, flags and internal dates with the
// messages. Bodies are fetched imapFetchBatch at a time, as the import
// asks for them in order.
type imapSource struct {
	c        *imapclient.Client
	selected string
	cache    map[imap.UID][]byte
}

// openIMAPSource logs in to imap[s]://user@host[:port] and lists its
// messages. imaps is TLS from the start; imap uses STARTTLS, or nothing
// on a loopback address.
func openIMAPSource(raw, password string, maxMessage int64) ([]mailfile.Folder, func(), error) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.Host == "" {
		return nil, nil, errors.New("IMAP source must be imap://user@host[:port] or imaps://user@host[:port]")
	}
	host, port := u.Hostname(), u.Port()
	var c *imapclient.Client
	switch u.Scheme {
	case "imaps":
		if port == "" {
			port = "993"
		}
		c, err = imapclient.DialTLS(net.JoinHostPort(host, port), nil)
	case "imap":
		if port == "" {
			port = "143"
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			c, err = imapclient.DialInsecure(net.JoinHostPort(host, port), nil)
		} else {
			c, err = imapclient.DialStartTLS(net.JoinHostPort(host, port), nil)
		}
	default:
		return nil, nil, fmt.Errorf("unknown scheme %q (imap or imaps)", u.Scheme)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", u.Host, err)
	}
	if err := c.Login(u.User.Username(), password).Wait(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("login at %s: %w", u.Host, err)
	}
	src := &imapSource{c: c, cache: map[imap.UID][]byte{}}
	closeFn := func() { c.Logout().Wait(); c.Close() }
	folders, err := src.list(maxMessage)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return folders, closeFn, nil
}

func (s *imapSource) list(maxMessage int64) ([]mailfile.Folder, error) {
	boxes, err := s.c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	var folders []mailfile.Folder
	for _, b := range boxes {
		if slices.Contains(b.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(b.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		name := b.Mailbox
		if b.Delim != 0 && b.Delim != '/' {
			name = strings.ReplaceAll(name, "/", "_")
			name = strings.ReplaceAll(name, string(b.Delim), "/")
		}
		if strings.EqualFold(name, "INBOX") {
			name = "INBOX"
		}
		sel, err := s.c.Select(b.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return nil, fmt.Errorf("EXAMINE %s: %w", b.Mailbox, err)
		}
		s.selected = b.Mailbox
		f := mailfile.Folder{Name: name}
		if sel.NumMessages > 0 {
			msgs, err := s.c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}},
				&imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true}).Collect()
			if err != nil {
				return nil, fmt.Errorf("FETCH in %s: %w", b.Mailbox, err)
			}
			slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
			uids := make([]imap.UID, len(msgs))
			for i, m := range msgs {
				uids[i] = m.UID
			}
			for i, m := range msgs {
				var flags []string
				for _, fl := range m.Flags {
					if !strings.EqualFold(string(fl), `\Recent`) {
						flags = append(flags, string(fl))
					}
				}
				mailbox, size, i := b.Mailbox, m.RFC822Size, i
				f.Messages = append(f.Messages, mailfile.Message{Size: size, Flags: flags, Date: m.InternalDate,
					Read: func() ([]byte, error) {
						if size > maxMessage {
							return nil, fmt.Errorf("%s UID %d: %d bytes, more than the %d a message may have", mailbox, uids[i], size, maxMessage)
						}
						return s.read(mailbox, uids, i)
					}})
			}
		}
		folders = append(folders, f)
	}
	return folders, nil
}

// read returns message uids[i] of mailbox, fetching it with the next
// ones when it is not at hand.
func (s *imapSource) read(mailbox string, uids []imap.UID, i int) ([]byte, error) {
	if b, ok := s.cache[uids[i]]; ok {
		delete(s.cache, uids[i])
		return b, nil
	}
	if s.selected != mailbox {
		clear(s.cache)
		if _, err := s.c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return nil, err
		}
		s.selected = mailbox
	}
	section := &imap.FetchItemBodySection{Peek: true}
	set := imap.UIDSetNum(uids[i:min(i+imapFetchBatch, len(uids))]...)
	msgs, err := s.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("FETCH in %s: %w", mailbox, err)
	}
	for _, m := range msgs {
		if b := m.FindBodySection(section); b != nil {
			s.cache[m.UID] = b
		}
	}
	b, ok := s.cache[uids[i]]
	if !ok {
		return nil, fmt.Errorf("%s UID %d: gone from the server", mailbox, uids[i])
	}
	delete(s.cache, uids[i])
	return b, nil
}
