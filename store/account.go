package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Accounts lists the accounts that have mailboxes in the store, as stored
// (lower-case), sorted. The store does not know which accounts are
// configured: an account removed from the configuration is still here
// until PurgeAccount.
func (s *Store) Accounts(ctx context.Context) ([]string, error) {
	var out []string
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindName}})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()[1:]
			end := bytes.IndexByte(k, 0)
			if end < 0 {
				return errCorrupt
			}
			account := string(k[:end])
			out = append(out, account)
			// Skip the account's other mailboxes.
			it.Seek(append([]byte{kindName}, append([]byte(account), 1)...))
		}
		return nil
	})
	return out, err
}

// AccountSummary is what one account holds.
type AccountSummary struct {
	Account   string `json:"account"`
	Mailboxes int    `json:"mailboxes"`
	Messages  int    `json:"messages"`
	Unseen    int    `json:"unseen"`
	// Bytes is the logical size of its messages (what its quota counts).
	Bytes int64 `json:"bytes"`
}

// AccountSummary totals an account's mailboxes.
func (s *Store) AccountSummary(ctx context.Context, account string) (AccountSummary, []*Mailbox, error) {
	mbs, err := s.Mailboxes(ctx, account)
	if err != nil {
		return AccountSummary{}, nil, err
	}
	sum := AccountSummary{Account: account, Mailboxes: len(mbs)}
	for _, m := range mbs {
		sum.Messages += int(m.Messages)
		sum.Unseen += int(m.Unseen)
		sum.Bytes += m.Size
	}
	return sum, mbs, nil
}

// PurgeAccount deletes every mailbox of the account with its messages
// (bodies other accounts still hold stay), its subscriptions and its
// usage record, and its private \Seen state in others' mailboxes. Each
// mailbox goes as DeleteMailbox deletes one, INBOX included, inferiors
// first; a crash midway is finished by the next Open for the mailboxes
// already marked, and the rest remain for another PurgeAccount. The
// rights others granted the account on their mailboxes go too: whoever
// is given the address later starts with none of them.
func (s *Store) PurgeAccount(ctx context.Context, account string) error {
	mbs, err := s.Mailboxes(ctx, account)
	if err != nil {
		return err
	}
	// Longest names first: an inferior before its parent.
	slices.SortFunc(mbs, func(a, b *Mailbox) int { return len(b.Name) - len(a.Name) })
	for _, m := range mbs {
		err := s.update(ctx, []MailboxID{m.ID}, func(tx *txn) error {
			cur, ok, err := lookupName(tx.Txn, account, m.Name)
			if err != nil || !ok || cur != m.ID {
				return err // gone meanwhile
			}
			mb, err := getMailbox(tx.Txn, m.ID)
			if err != nil {
				return err
			}
			mb.deleted = true
			if err := tx.putMailbox(mb); err != nil {
				return err
			}
			if err := tx.addUsage(account, -mb.Size); err != nil {
				return err
			}
			tx.publish(Change{Mailbox: m.ID, Kind: ChangeDeleted})
			return tx.Delete(nameKey(kindName, account, m.Name))
		})
		if err != nil {
			return fmt.Errorf("mailbox %q: %w", m.Name, err)
		}
		if err := s.purgeMailbox(ctx, m.ID); err != nil {
			return fmt.Errorf("purge %q: %w", m.Name, err)
		}
	}
	if err := s.dropSeenOf(ctx, account); err != nil {
		return fmt.Errorf("private seen state: %w", err)
	}
	if err := s.dropGrantsTo(ctx, account); err != nil {
		return fmt.Errorf("rights granted to it: %w", err)
	}
	return s.update(ctx, nil, func(tx *txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: accountKey(kindSub, account)})
		var keys [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		keys = append(keys, usageKey(account))
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropGrantsTo removes the ACL entries that name account (positive or
// negative) on other accounts' mailboxes: an address configured again
// later must not find the rights its predecessor was given.
func (s *Store) dropGrantsTo(ctx context.Context, account string) error {
	id := strings.ToLower(account)
	var keys [][]byte
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindACL}, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) > 9 && (string(k[9:]) == id || string(k[9:]) == "-"+id) {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	return s.update(ctx, nil, func(tx *txn) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
