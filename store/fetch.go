package store

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// maxSkip is how many records MessagesByUID steps over before it seeks
// instead: a seek costs about as much as a few steps.
const maxSkip = 8

// MessagesByUID calls fn for each of the given messages of the mailbox
// (uids ascending; missing ones are skipped), in one read transaction,
// and with content also with its bytes (valid only during fn). Only those
// messages are read: a sparse set such as 1,5000 reads two records and two
// bodies, not the span between.
func (s *Store) MessagesByUID(ctx context.Context, id MailboxID, uids []UID, content bool, fn func(*Message, []byte) error) error {
	if len(uids) == 0 {
		return nil
	}
	var buf []byte
	return s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: messagePrefix(id)})
		defer it.Close()
		sought := false
		for _, uid := range uids {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !sought {
				it.Seek(messageKey(id, uid))
				sought = true
			} else {
				// Dense sets (1:*) step from record to record; sparse
				// ones seek.
				for n := 0; it.Valid() && uidFromKey(it.Item().Key()) < uid; n++ {
					if n == maxSkip {
						it.Seek(messageKey(id, uid))
						break
					}
					it.Next()
				}
			}
			if !it.Valid() {
				return nil
			}
			if uidFromKey(it.Item().Key()) != uid {
				continue
			}
			var msg *Message
			err := it.Item().Value(func(v []byte) error {
				var err error
				msg, err = decodeMessage(uid, v)
				return err
			})
			if err != nil {
				return err
			}
			var c []byte
			if content {
				s.bodyReads.Add(1)
				buf = append(buf[:0], msg.Prefix...)
				if buf, err = appendBody(tx, msg.Body, buf); err != nil {
					return fmt.Errorf("body of message %d: %w", uid, err)
				}
				c = buf
			}
			if err := fn(msg, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// BodyReads returns how many message contents Content, MessagesByUID and
// MessagesWithContent have read since the store was opened: a figure for
// tests and benchmarks.
func (s *Store) BodyReads() uint64 { return s.bodyReads.Load() }
