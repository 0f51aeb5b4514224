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
	r := contentRead{max: math.MaxInt64}
	if !content {
		r.max = -1
	}
	_, err := s.messagesByUID(ctx, id, uids, r, nil, fn)
	return err
}

// MessagesByUIDUpTo is MessagesByUID reading the content of messages of
// at most maxContent bytes only (negative: of none); the others come with
// nil content, for a caller that streams them (WriteContent). The
// contents are appended to arena one after another and stay valid after
// fn returns, for a caller that gathers a batch to write once the read
// transaction has ended; it returns the arena grown, to be reused.
func (s *Store) MessagesByUIDUpTo(ctx context.Context, id MailboxID, uids []UID, maxContent int64, arena []byte, fn func(*Message, []byte) error) ([]byte, error) {
	return s.messagesByUID(ctx, id, uids, contentRead{max: maxContent, keep: true}, arena, fn)
}

// MessageHeadersByUID is MessagesByUIDUpTo giving each message's content
// up to the end of its header (the empty line included; all of it if it
// has none) and reading no more of it: the header of a message with a
// large attachment costs what the header does.
func (s *Store) MessageHeadersByUID(ctx context.Context, id MailboxID, uids []UID, arena []byte, fn func(*Message, []byte) error) ([]byte, error) {
	return s.messagesByUID(ctx, id, uids, contentRead{max: math.MaxInt64, keep: true, header: true}, arena, fn)
}

// contentRead says what messagesByUID reads of each message's content:
// nothing of messages over max bytes, only the header with header. With
// keep, each content is appended to the buffer after the ones before it;
// without, the buffer is reused for each.
type contentRead struct {
	max          int64
	header, keep bool
}

// messagesByUID is MessagesByUID, MessagesByUIDUpTo and
// MessageHeadersByUID.
func (s *Store) messagesByUID(ctx context.Context, id MailboxID, uids []UID, r contentRead, buf []byte, fn func(*Message, []byte) error) ([]byte, error) {
	if len(uids) == 0 {
		return buf, nil
	}
	err := s.view(func(tx *badger.Txn) error {
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
			if msg.Size <= r.max {
				s.bodyReads.Add(1)
				if !r.keep {
					buf = buf[:0]
				}
				start := len(buf)
				if r.header {
					buf, err = appendHeader(tx, msg.Prefix, msg.Body, buf)
				} else {
					buf = grow(buf, int(msg.Size))
					buf = append(buf, msg.Prefix...)
					buf, err = appendBody(tx, msg.Body, buf)
				}
				if err != nil {
					return fmt.Errorf("body of message %d: %w", uid, err)
				}
				c = buf[start:len(buf):len(buf)]
			}
			if err := fn(msg, c); err != nil {
				return err
			}
		}
		return nil
	})
	return buf, err
}

// grow makes room for n more bytes in b, at least doubling its capacity
// when it must move (slices.Grow adds a quarter to a large slice, so a
// batch of contents gathered one after another was copied many times
// over).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(len(b)+n, 2*cap(b)))
	copy(nb, b)
	return nb
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
