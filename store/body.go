package store

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// maxBodySize is the largest body the store accepts; Badger keeps a value
// in one value-log file.
const maxBodySize = 1 << 30

// Body record formats. A body record starts with one of these bytes; the
// de-duplication of large MIME parts will add a manifest format.
const bodyRaw byte = 0

// refRecord is kindRef|hash's value: the reference count and the body's
// length, so that counting never has to read the body itself.
type refRecord struct {
	count uint64
	size  uint64
}

func getRef(tx *badger.Txn, h BodyID) (refRecord, bool, error) {
	v, ok, err := getValue(tx, refKey(h))
	if err != nil || !ok {
		return refRecord{}, ok, err
	}
	if len(v) != 16 {
		return refRecord{}, false, fmt.Errorf("body %x: %w", h[:6], errCorrupt)
	}
	return refRecord{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])}, true, nil
}

func (tx *txn) putRef(h BodyID, r refRecord) error {
	v := binary.BigEndian.AppendUint64(nil, r.count)
	return tx.Set(refKey(h), binary.BigEndian.AppendUint64(v, r.size))
}

// refBody takes n references to the body with these bytes, writing the
// body if it is not stored yet.
func (tx *txn) refBody(h BodyID, body []byte, n int) error {
	r, ok, err := getRef(tx.Txn, h)
	if err != nil {
		return err
	}
	if !ok {
		v := make([]byte, 0, 1+len(body))
		v = append(append(v, bodyRaw), body...)
		if err := tx.Set(bodyKey(h), v); err != nil {
			return err
		}
		r.size = uint64(len(body))
	}
	r.count += uint64(n)
	return tx.putRef(h, r)
}

// addRef takes n more references to a stored body.
func (tx *txn) addRef(h BodyID, n int) error {
	r, ok, err := getRef(tx.Txn, h)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("body %x: missing", h[:6])
	}
	r.count += uint64(n)
	return tx.putRef(h, r)
}

// unrefBody drops one reference; the last one deletes the body.
func (tx *txn) unrefBody(h BodyID) error {
	r, ok, err := getRef(tx.Txn, h)
	if err != nil {
		return err
	}
	if !ok || r.count <= 1 {
		if err := tx.Delete(refKey(h)); err != nil {
			return err
		}
		return tx.Delete(bodyKey(h))
	}
	r.count--
	return tx.putRef(h, r)
}

// Content returns a message's bytes exactly as they arrived, with its
// per-delivery prefix.
func (s *Store) Content(ctx context.Context, msg *Message) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *badger.Txn) error {
		item, err := tx.Get(bodyKey(msg.Body))
		if err != nil {
			return fmt.Errorf("body of message %d: %w", msg.UID, err)
		}
		return item.Value(func(v []byte) error {
			if len(v) == 0 || v[0] != bodyRaw {
				return fmt.Errorf("body of message %d: %w", msg.UID, errCorrupt)
			}
			out = make([]byte, 0, len(msg.Prefix)+len(v)-1)
			out = append(append(out, msg.Prefix...), v[1:]...)
			return nil
		})
	})
	return out, err
}

// MessagesWithContent is Messages with each message's content as well,
// read in the same transaction. content is only valid during fn: it is
// reused for the next message.
func (s *Store) MessagesWithContent(ctx context.Context, id MailboxID, from, to UID, fn func(*Message, []byte) error) error {
	var buf []byte
	return s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: messagePrefix(id)})
		defer it.Close()
		for it.Seek(messageKey(id, from)); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			uid := uidFromKey(it.Item().Key())
			if to != 0 && uid > to {
				break
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
			item, err := tx.Get(bodyKey(msg.Body))
			if err != nil {
				return fmt.Errorf("body of message %d: %w", uid, err)
			}
			err = item.Value(func(v []byte) error {
				if len(v) == 0 || v[0] != bodyRaw {
					return fmt.Errorf("body of message %d: %w", uid, errCorrupt)
				}
				buf = append(append(buf[:0], msg.Prefix...), v[1:]...)
				return nil
			})
			if err != nil {
				return err
			}
			if err := fn(msg, buf); err != nil {
				return err
			}
		}
		return nil
	})
}
