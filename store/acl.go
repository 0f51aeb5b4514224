package store

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// ACLEntry is a stored access-control entry of a mailbox; the store keeps
// rights as the text the rights engine gave it and does not interpret
// them.
type ACLEntry struct {
	Identifier string
	Rights     string
}

func aclPrefix(id MailboxID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindACL}, uint64(id))
}

func aclKey(id MailboxID, identifier string) []byte {
	return append(aclPrefix(id), strings.ToLower(identifier)...)
}

// SetACL stores an entry (replacing one for the same identifier); empty
// rights remove it.
func (s *Store) SetACL(ctx context.Context, id MailboxID, identifier, rights string) error {
	return s.update(ctx, []MailboxID{id}, func(tx *txn) error {
		if _, err := getMailbox(tx.Txn, id); err != nil {
			return err
		}
		if rights == "" {
			return tx.Delete(aclKey(id, identifier))
		}
		var e enc
		e.str(identifier)
		e.str(rights)
		return tx.Set(aclKey(id, identifier), e.b)
	})
}

// ACL returns a mailbox's entries.
func (s *Store) ACL(ctx context.Context, id MailboxID) ([]ACLEntry, error) {
	var out []ACLEntry
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: aclPrefix(id)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				d := dec{b: v}
				e := ACLEntry{Identifier: d.str(), Rights: d.str()}
				if d.err != nil {
					return d.err
				}
				out = append(out, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// SharedMailbox is a mailbox with the entries of its ACL.
type SharedMailbox struct {
	Mailbox *Mailbox
	ACL     []ACLEntry
}

// SharedMailboxes returns every mailbox that has ACL entries, with them,
// read in one snapshot: what a LIST needs of other people's accounts,
// without listing every account's mailboxes.
func (s *Store) SharedMailboxes(ctx context.Context) ([]SharedMailbox, error) {
	var out []SharedMailbox
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindACL}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) < 9 {
				continue // reported by Check
			}
			id := MailboxID(binary.BigEndian.Uint64(k[1:9]))
			if n := len(out); n == 0 || out[n-1].Mailbox.ID != id {
				m, err := getMailbox(tx, id)
				if errors.Is(err, ErrNoMailbox) {
					continue // entries of a mailbox being deleted
				}
				if err != nil {
					return err
				}
				out = append(out, SharedMailbox{Mailbox: m})
			}
			err := it.Item().Value(func(v []byte) error {
				d := dec{b: v}
				e := ACLEntry{Identifier: d.str(), Rights: d.str()}
				if d.err != nil {
					return d.err
				}
				last := &out[len(out)-1]
				last.ACL = append(last.ACL, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
