package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

const mailboxRecordV1 = 1

func (m *Mailbox) encode() []byte {
	e := enc{b: make([]byte, 0, 64+len(m.Account)+len(m.Name))}
	e.byte1(mailboxRecordV1)
	e.str(m.Account)
	e.str(m.Name)
	e.str(m.SpecialUse)
	e.uvarint(uint64(m.UIDValidity))
	e.uvarint(uint64(m.UIDNext))
	e.uvarint(m.HighestModSeq)
	e.uvarint(uint64(m.Messages))
	e.uvarint(uint64(m.Unseen))
	e.varint(m.Size)
	if m.deleted {
		e.byte1(1)
	} else {
		e.byte1(0)
	}
	return e.b
}

func decodeMailbox(id MailboxID, b []byte) (*Mailbox, error) {
	d := dec{b: b}
	if v := d.byte1(); v != mailboxRecordV1 {
		return nil, fmt.Errorf("mailbox %d: %w (version %d)", id, errCorrupt, v)
	}
	m := &Mailbox{ID: id}
	m.Account = d.str()
	m.Name = d.str()
	m.SpecialUse = d.str()
	m.UIDValidity = uint32(d.uvarint())
	m.UIDNext = UID(d.uvarint())
	m.HighestModSeq = d.uvarint()
	m.Messages = uint32(d.uvarint())
	m.Unseen = uint32(d.uvarint())
	m.Size = d.varint()
	m.deleted = d.byte1() == 1
	if d.err != nil {
		return nil, fmt.Errorf("mailbox %d: %w", id, d.err)
	}
	return m, nil
}

func getMailbox(tx *badger.Txn, id MailboxID) (*Mailbox, error) {
	v, ok, err := getValue(tx, mailboxKey(id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoMailbox
	}
	m, err := decodeMailbox(id, v)
	if err != nil {
		return nil, err
	}
	if m.deleted {
		return nil, ErrNoMailbox
	}
	return m, nil
}

func lookupName(tx *badger.Txn, account, name string) (MailboxID, bool, error) {
	v, ok, err := getValue(tx, nameKey(kindName, account, name))
	if err != nil || !ok {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, errCorrupt
	}
	return MailboxID(binary.BigEndian.Uint64(v)), true, nil
}

func (tx *txn) putMailbox(m *Mailbox) error { return tx.Set(mailboxKey(m.ID), m.encode()) }

// nextCounter increments a uint64 counter kept under key and returns it.
func (tx *txn) nextCounter(key []byte, atLeast uint64) (uint64, error) {
	v, _, err := getValue(tx.Txn, key)
	if err != nil {
		return 0, err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n = max(n+1, atLeast)
	return n, tx.Set(key, binary.BigEndian.AppendUint64(nil, n))
}

// createLocked makes one mailbox; the caller has checked that the name is
// free.
func (tx *txn) create(account, name, specialUse string) (*Mailbox, error) {
	id, err := tx.nextCounter(metaNextMailbox, 1)
	if err != nil {
		return nil, err
	}
	// UIDVALIDITY: the creation time in seconds, but always larger than any
	// handed out before, so a mailbox recreated under an old name within
	// the same second still gets a new one (RFC 9051 §2.3.1.1).
	v, err := tx.nextCounter(metaUIDValidity, uint64(tx.s.now().Unix())&0xffffffff)
	if err != nil {
		return nil, err
	}
	m := &Mailbox{
		ID: MailboxID(id), Account: account, Name: name, SpecialUse: specialUse,
		UIDValidity: uint32(v), UIDNext: 1, HighestModSeq: 1,
	}
	if err := tx.putMailbox(m); err != nil {
		return nil, err
	}
	return m, tx.Set(nameKey(kindName, account, name), binary.BigEndian.AppendUint64(nil, id))
}

// CreateOptions qualifies CreateMailbox.
type CreateOptions struct {
	SpecialUse string
	// MaxMailboxes refuses the create (ErrTooMany) if the account would
	// then have more; 0 means no limit.
	MaxMailboxes int
	// InheritACL gives each new mailbox its parent's ACL entries, in the
	// same transaction (RFC 4314 §5.1.1's advice, as Cyrus does): what a
	// delegate creates inside a shared mailbox stays visible to those who
	// see the parent. A top-level mailbox has no parent to inherit from.
	InheritACL bool
}

// CreateMailbox creates a mailbox and any missing superiors (RFC 9051
// §6.3.4). Creating INBOX or an existing name fails with ErrExists.
func (s *Store) CreateMailbox(ctx context.Context, account, name string, opts CreateOptions) (*Mailbox, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	var created *Mailbox
	err = s.update(ctx, nil, func(tx *txn) error {
		if name == Inbox {
			return ErrExists
		}
		if _, ok, err := lookupName(tx.Txn, account, name); err != nil {
			return err
		} else if ok {
			return ErrExists
		}
		var missing []string
		for _, n := range append(Superiors(name), name) {
			_, ok, err := lookupName(tx.Txn, account, n)
			if err != nil {
				return err
			}
			if !ok {
				missing = append(missing, n)
			}
		}
		if opts.MaxMailboxes > 0 {
			count, err := countMailboxes(tx.Txn, account)
			if err != nil {
				return err
			}
			if count+len(missing) > opts.MaxMailboxes {
				return ErrTooMany
			}
		}
		for _, n := range missing {
			use := ""
			if n == name {
				use = opts.SpecialUse
			}
			m, err := tx.create(account, n, use)
			if err != nil {
				return err
			}
			if sup := Superiors(n); opts.InheritACL && len(sup) > 0 {
				if err := tx.inheritACL(account, sup[len(sup)-1], m.ID); err != nil {
					return err
				}
			}
			created = m
		}
		return nil
	})
	return created, err
}

// inheritACL copies the entries of account's mailbox parent to child.
func (tx *txn) inheritACL(account, parent string, child MailboxID) error {
	pid, ok, err := lookupName(tx.Txn, account, parent)
	if err != nil || !ok {
		return err
	}
	it := tx.NewIterator(badger.IteratorOptions{Prefix: aclPrefix(pid), PrefetchValues: true})
	type entry struct{ key, value []byte }
	var entries []entry
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			it.Close()
			return err
		}
		entries = append(entries, entry{it.Item().KeyCopy(nil)[len(aclPrefix(pid)):], v})
	}
	it.Close()
	for _, e := range entries {
		if err := tx.Set(append(aclPrefix(child), e.key...), e.value); err != nil {
			return err
		}
	}
	return nil
}

// Superiors returns "a", "a/b" for "a/b/c".
func Superiors(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == Delimiter {
			out = append(out, name[:i])
		}
	}
	return out
}

func countMailboxes(tx *badger.Txn, account string) (int, error) {
	n := 0
	it := tx.NewIterator(badger.IteratorOptions{Prefix: accountKey(kindName, account)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	return n, nil
}

// EnsureAccount creates the account's INBOX if it has none and, with
// withSpecial (an account that logs in, a team account), the special-use
// mailboxes it lacks, subscribed: clients that show only subscribed
// folders (Roundcube, Thunderbird, Outlook) show them.
func (s *Store) EnsureAccount(ctx context.Context, account string, withSpecial bool) error {
	return s.update(ctx, nil, func(tx *txn) error {
		want := []struct{ name, use string }{{Inbox, ""}}
		if withSpecial {
			want = append(want, defaultMailboxes...)
		}
		existing, err := listMailboxes(tx.Txn, account)
		if err != nil {
			return err
		}
		for _, w := range want {
			if slices.ContainsFunc(existing, func(m *Mailbox) bool {
				return m.Name == w.name || (w.use != "" && m.SpecialUse == w.use)
			}) {
				continue
			}
			if _, err := tx.create(account, w.name, w.use); err != nil {
				return err
			}
			if withSpecial {
				if err := tx.Set(nameKey(kindSub, account, w.name), nil); err != nil {
					return err
				}
			}
		}
		if !withSpecial {
			return nil
		}
		// INBOX is usually created first, without them (mail that came
		// before the first login, the server's start): it is subscribed
		// too, unless the user has subscribed or unsubscribed it.
		_, ok, err := getValue(tx.Txn, nameKey(kindSub, account, Inbox))
		if err != nil || ok {
			return err
		}
		return tx.Set(nameKey(kindSub, account, Inbox), nil)
	})
}

// Inbox returns the account's INBOX, creating it if the account has none
// yet (mail to an account that never logged in).
func (s *Store) Inbox(ctx context.Context, account string) (*Mailbox, error) {
	m, err := s.MailboxByName(ctx, account, Inbox)
	if errors.Is(err, ErrNoMailbox) {
		if err = s.EnsureAccount(ctx, account, false); err == nil {
			m, err = s.MailboxByName(ctx, account, Inbox)
		}
	}
	return m, err
}

// Mailboxes returns the account's mailboxes sorted by name.
func (s *Store) Mailboxes(ctx context.Context, account string) ([]*Mailbox, error) {
	var out []*Mailbox
	err := s.view(func(tx *badger.Txn) error {
		var err error
		out, err = listMailboxes(tx, account)
		return err
	})
	return out, err
}

func listMailboxes(tx *badger.Txn, account string) ([]*Mailbox, error) {
	var out []*Mailbox
	prefix := accountKey(kindName, account)
	it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		if len(v) != 8 {
			return nil, errCorrupt
		}
		m, err := getMailbox(tx, MailboxID(binary.BigEndian.Uint64(v)))
		if err != nil {
			return nil, fmt.Errorf("mailbox %q: %w", it.Item().Key()[len(prefix):], err)
		}
		out = append(out, m)
	}
	return out, nil
}

// MailboxByName returns the account's mailbox of that name.
func (s *Store) MailboxByName(ctx context.Context, account, name string) (*Mailbox, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return nil, ErrNoMailbox
	}
	var m *Mailbox
	err = s.view(func(tx *badger.Txn) error {
		id, ok, err := lookupName(tx, account, name)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoMailbox
		}
		m, err = getMailbox(tx, id)
		return err
	})
	return m, err
}

// Mailbox returns a mailbox by ID.
func (s *Store) Mailbox(ctx context.Context, id MailboxID) (*Mailbox, error) {
	var m *Mailbox
	err := s.view(func(tx *badger.Txn) error {
		var err error
		m, err = getMailbox(tx, id)
		return err
	})
	return m, err
}

// DeleteMailbox deletes a mailbox and its messages. INBOX cannot be
// deleted; a mailbox with inferiors is refused with ErrHasChildren (RFC
// 9051 §6.3.5 lets a server choose this). The name is free and the mailbox
// gone as soon as this returns; its messages are purged in batches after.
func (s *Store) DeleteMailbox(ctx context.Context, account, name string) error {
	name, err := NormalizeName(name)
	if err != nil {
		return ErrNoMailbox
	}
	if name == Inbox {
		return ErrInboxDelete
	}
	var id MailboxID
	err = s.view(func(tx *badger.Txn) error {
		var ok bool
		id, ok, err = lookupName(tx, account, name)
		if !ok && err == nil {
			err = ErrNoMailbox
		}
		return err
	})
	if err != nil {
		return err
	}
	err = s.update(ctx, []MailboxID{id}, func(tx *txn) error {
		cur, ok, err := lookupName(tx.Txn, account, name)
		if err != nil {
			return err
		}
		if !ok || cur != id {
			return ErrNoMailbox
		}
		if has, err := hasChildren(tx.Txn, account, name); err != nil {
			return err
		} else if has {
			return ErrHasChildren
		}
		m, err := getMailbox(tx.Txn, id)
		if err != nil {
			return err
		}
		m.deleted = true
		if err := tx.putMailbox(m); err != nil {
			return err
		}
		if err := tx.addUsage(account, -m.Size); err != nil {
			return err
		}
		tx.publish(Change{Mailbox: id, Kind: ChangeDeleted})
		return tx.Delete(nameKey(kindName, account, name))
	})
	if err != nil {
		return err
	}
	return s.purgeMailbox(ctx, id)
}

func hasChildren(tx *badger.Txn, account, name string) (bool, error) {
	it := tx.NewIterator(badger.IteratorOptions{Prefix: nameKey(kindName, account, name+string(Delimiter))})
	defer it.Close()
	it.Rewind()
	return it.Valid(), nil
}

// purgeBatch bounds how many messages one purge transaction removes, far
// below Badger's transaction size limit unless their bodies have many
// chunks to delete (then the batch is split: see inBatches).
const purgeBatch = 1000

// purgeMailbox removes a deleted mailbox's messages, releasing their
// bodies, then the mailbox record itself.
func (s *Store) purgeMailbox(ctx context.Context, id MailboxID) error {
	for {
		var uids []UID
		if err := s.view(func(tx *badger.Txn) error {
			uids = scanUIDs(tx, id, purgeBatch)
			return nil
		}); err != nil {
			return err
		}
		if len(uids) == 0 {
			if err := s.purgeMetadata(ctx, id); err != nil {
				return err
			}
			return s.update(ctx, []MailboxID{id}, func(tx *txn) error {
				it := tx.NewIterator(badger.IteratorOptions{Prefix: aclPrefix(id)})
				var keys [][]byte
				for it.Rewind(); it.Valid(); it.Next() {
					keys = append(keys, it.Item().KeyCopy(nil))
				}
				it.Close()
				for _, k := range keys {
					if err := tx.Delete(k); err != nil {
						return err
					}
				}
				if err := tx.dropIndex(id); err != nil {
					return err
				}
				if err := tx.dropUIDBlocks(id); err != nil {
					return err
				}
				return tx.Delete(mailboxKey(id))
			})
		}
		err := splitTooBig(uids, func(batch []UID) error {
			return s.update(ctx, []MailboxID{id}, func(tx *txn) error {
				for _, uid := range batch {
					if _, err := tx.removeMessage(id, uid); err != nil && !errors.Is(err, ErrNoMessage) {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
}

func scanUIDs(tx *badger.Txn, id MailboxID, limit int) []UID {
	var uids []UID
	it := tx.NewIterator(badger.IteratorOptions{Prefix: messagePrefix(id)})
	defer it.Close()
	for it.Rewind(); it.Valid() && (limit <= 0 || len(uids) < limit); it.Next() {
		uids = append(uids, uidFromKey(it.Item().Key()))
	}
	return uids
}

// purgeDeleted finishes purges that a crash interrupted.
func (s *Store) purgeDeleted(ctx context.Context) error {
	var ids []MailboxID
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindMailbox}, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := MailboxID(binary.BigEndian.Uint64(it.Item().Key()[1:]))
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			m, err := decodeMailbox(id, v)
			if err != nil {
				return err
			}
			if m.deleted {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.log.Info("resuming purge of deleted mailbox", "mailbox", id)
		if err := s.purgeMailbox(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// RenameMailbox renames a mailbox and its inferiors (RFC 9051 §6.3.6),
// creating missing superiors of the new name. Renaming INBOX moves its
// messages to a new mailbox and leaves an empty INBOX; INBOX's inferiors
// stay where they are.
func (s *Store) RenameMailbox(ctx context.Context, account, from, to string) error {
	from, err := NormalizeName(from)
	if err != nil {
		return ErrNoMailbox
	}
	if to, err = NormalizeName(to); err != nil {
		return err
	}
	if to == Inbox {
		return ErrExists
	}
	if to == from || strings.HasPrefix(to, from+string(Delimiter)) {
		return ErrRenameInside
	}
	var ids []MailboxID
	err = s.view(func(tx *badger.Txn) error {
		all, err := listMailboxes(tx, account)
		for _, m := range all {
			if m.Name == from || (from != Inbox && strings.HasPrefix(m.Name, from+string(Delimiter))) {
				ids = append(ids, m.ID)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return ErrNoMailbox
	}
	return s.update(ctx, ids, func(tx *txn) error {
		if _, ok, err := lookupName(tx.Txn, account, to); err != nil {
			return err
		} else if ok {
			return ErrExists
		}
		all, err := listMailboxes(tx.Txn, account)
		if err != nil {
			return err
		}
		var moved []*Mailbox
		for _, m := range all {
			if m.Name == from || (from != Inbox && strings.HasPrefix(m.Name, from+string(Delimiter))) {
				moved = append(moved, m)
			}
		}
		if len(moved) != len(ids) {
			return badger.ErrConflict // the tree changed since we looked; retry
		}
		for _, m := range moved {
			newName := to + strings.TrimPrefix(m.Name, from)
			if err := tx.Delete(nameKey(kindName, account, m.Name)); err != nil {
				return err
			}
			if err := tx.moveSubscription(account, m.Name, newName); err != nil {
				return err
			}
			m.Name = newName
			if err := tx.putMailbox(m); err != nil {
				return err
			}
			if err := tx.Set(nameKey(kindName, account, newName), binary.BigEndian.AppendUint64(nil, uint64(m.ID))); err != nil {
				return err
			}
		}
		for _, sup := range Superiors(to) {
			if _, ok, err := lookupName(tx.Txn, account, sup); err != nil {
				return err
			} else if !ok {
				if _, err := tx.create(account, sup, ""); err != nil {
					return err
				}
			}
		}
		if from == Inbox {
			// The old INBOX lives on under the new name with its messages
			// and UIDVALIDITY; sessions that had it selected see it go.
			tx.publish(Change{Mailbox: moved[0].ID, Kind: ChangeDeleted})
			inbox, err := tx.create(account, Inbox, "")
			if err != nil {
				return err
			}
			return tx.copyMetadata(moved[0].ID, inbox.ID)
		}
		return nil
	})
}

func (tx *txn) moveSubscription(account, from, to string) error {
	v, ok, err := getValue(tx.Txn, nameKey(kindSub, account, from))
	if err != nil || !ok {
		return err
	}
	if err := tx.Delete(nameKey(kindSub, account, from)); err != nil {
		return err
	}
	return tx.Set(nameKey(kindSub, account, to), v)
}

// unsubscribed is the value of a subscription key the user removed: kept
// so that a mailbox shared with them later is not subscribed again
// (AutoSubscribe).
var unsubscribed = []byte{'u'}

// AutoSubscribe subscribes the account to each name it has neither
// subscribed nor unsubscribed before: mailboxes shared with a user show
// in clients that list only subscribed folders, unless the user said
// otherwise. It returns how many it added.
func (s *Store) AutoSubscribe(ctx context.Context, account string, names []string) (int, error) {
	// Usually every name has its key already: look before writing.
	missing := false
	if err := s.view(func(tx *badger.Txn) error {
		for _, n := range names {
			_, ok, err := getValue(tx, nameKey(kindSub, account, n))
			if err != nil || !ok {
				missing = true
				return err
			}
		}
		return nil
	}); err != nil || !missing {
		return 0, err
	}
	var added int
	err := s.update(ctx, nil, func(tx *txn) error {
		added = 0
		for _, n := range names {
			_, ok, err := getValue(tx.Txn, nameKey(kindSub, account, n))
			if err != nil {
				return err
			}
			if !ok {
				if err := tx.Set(nameKey(kindSub, account, n), nil); err != nil {
					return err
				}
				added++
			}
		}
		return nil
	})
	return added, err
}

// Subscribe adds a name to the account's subscriptions. The mailbox need
// not exist (RFC 9051 §6.3.7).
func (s *Store) Subscribe(ctx context.Context, account, name string) error {
	name, err := NormalizeName(name)
	if err != nil {
		return err
	}
	return s.update(ctx, nil, func(tx *txn) error {
		return tx.Set(nameKey(kindSub, account, name), nil)
	})
}

// Unsubscribe removes a name from the account's subscriptions.
func (s *Store) Unsubscribe(ctx context.Context, account, name string) error {
	name, err := NormalizeName(name)
	if err != nil {
		return err
	}
	return s.update(ctx, nil, func(tx *txn) error {
		return tx.Set(nameKey(kindSub, account, name), unsubscribed)
	})
}

// Subscriptions returns the account's subscribed names, sorted.
func (s *Store) Subscriptions(ctx context.Context, account string) ([]string, error) {
	var out []string
	err := s.view(func(tx *badger.Txn) error {
		prefix := accountKey(kindSub, account)
		it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if it.Item().ValueSize() > 0 {
				continue // unsubscribed by the user
			}
			out = append(out, string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	return out, err
}
