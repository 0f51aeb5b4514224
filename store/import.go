package store

import (
	"context"

	"github.com/dgraph-io/badger/v4"
)

// BodyHashes returns the SHA-256 of the body of every message in the
// mailbox (what Append was given, without the delivery prefix), counted:
// an import that was interrupted skips, for each message of its source,
// as many copies as the mailbox already holds, and so resumes without
// duplicates and without a record of its own.
func (s *Store) BodyHashes(ctx context.Context, id MailboxID) (map[[32]byte]int, error) {
	var bodies []BodyID
	if err := s.Messages(ctx, id, 1, 0, func(m *Message) error {
		bodies = append(bodies, m.Body)
		return nil
	}); err != nil {
		return nil, err
	}
	out := map[[32]byte]int{}
	err := s.view(func(tx *badger.Txn) error {
		for _, b := range bodies {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, ok, err := getRef(tx, b)
			if err != nil {
				return err
			}
			if ok {
				out[r.hash]++
			}
		}
		return nil
	})
	return out, err
}
