package store

import (
	"context"
	"fmt"
	"io"
	"math"

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
	if !content {
		return s.MessagesByUIDUpTo(ctx, id, uids, -1, fn)
	}
	return s.MessagesByUIDUpTo(ctx, id, uids, math.MaxInt64, fn)
}

// MessagesByUIDUpTo is MessagesByUID reading the content of messages of
// at most maxContent bytes only (negative: of none); the others come with
// nil content, for a caller that streams them (WriteContent).
func (s *Store) MessagesByUIDUpTo(ctx context.Context, id MailboxID, uids []UID, maxContent int64, fn func(*Message, []byte) error) error {
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
			if msg.Size <= maxContent {
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

// Streamed returns how many message contents WriteContent has written:
// a figure for tests.
func (s *Store) Streamed() uint64 { return s.streamed.Load() }

// BodyReads returns how many message contents Content, MessagesByUID and
// MessagesWithContent have read since the store was opened: a figure for
// tests and benchmarks.
func (s *Store) BodyReads() uint64 { return s.bodyReads.Load() }

// WriteContent writes a message's bytes to w as Content would return
// them, without holding them all: the layout of its body is read in one
// short transaction, then each stored chunk in one of its own, copied out
// before it is written, so no transaction waits on w (a slow client). A
// body deleted meanwhile fails part way: the caller must then drop the
// connection, whose literal is cut short.
func (s *Store) WriteContent(ctx context.Context, msg *Message, w io.Writer) error {
	s.bodyReads.Add(1)
	s.streamed.Add(1)
	var pieces []contentPiece
	if err := s.view(func(tx *badger.Txn) error {
		var err error
		pieces, err = bodyLayout(tx, msg.Body, nil)
		return err
	}); err != nil {
		return fmt.Errorf("body of message %d: %w", msg.UID, err)
	}
	if _, err := w.Write(msg.Prefix); err != nil {
		return err
	}
	var buf []byte
	for _, p := range pieces {
		data := p.data
		if p.key != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.view(func(tx *badger.Txn) error {
				var err error
				buf, err = appendValue(tx, p.key, buf[:0])
				return err
			}); err != nil {
				return fmt.Errorf("body of message %d: %w", msg.UID, err)
			}
			data = buf
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// contentPiece is part of a body's bytes: inline data, or a chunk to read.
type contentPiece struct {
	data []byte
	key  []byte
}

// bodyLayout lists the pieces of body h in order.
func bodyLayout(tx *badger.Txn, h BodyID, out []contentPiece) ([]contentPiece, error) {
	err := walkBody(tx, h, func(b []byte) { out = append(out, contentPiece{data: append([]byte(nil), b...)}) }, func(key []byte) error {
		out = append(out, contentPiece{key: key})
		return nil
	})
	return out, err
}
