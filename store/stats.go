package store

import (
	"context"
	"encoding/binary"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Stats summarises what the store holds.
type Stats struct {
	Accounts  int `json:"accounts"` // accounts with at least one mailbox
	Mailboxes int `json:"mailboxes"`
	Messages  int `json:"messages"`
	Bodies    int `json:"bodies"`
	// BodyBytes is what the bodies take as stored, once each.
	BodyBytes int64 `json:"body_bytes"`
	// LogicalBytes is what the messages take as clients see them: every
	// copy counted in full.
	LogicalBytes int64 `json:"logical_bytes"`
}

// Stats counts mailboxes, messages and bodies. It reads only records and
// reference counts, never a body.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.view(func(tx *badger.Txn) error {
		accounts := map[string]bool{}
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
				continue
			}
			accounts[strings.ToLower(m.Account)] = true
			st.Mailboxes++
			st.Messages += int(m.Messages)
			st.LogicalBytes += m.Size
		}
		st.Accounts = len(accounts)
		rit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindRef}, PrefetchValues: true})
		defer rit.Close()
		for rit.Rewind(); rit.Valid(); rit.Next() {
			v, err := rit.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if r, ok := decodeRef(v); ok {
				st.Bodies++
				st.BodyBytes += int64(r.size)
			}
		}
		return nil
	})
	return st, err
}
