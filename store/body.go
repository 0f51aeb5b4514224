package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// maxBodySize is the largest body the store accepts; Badger keeps a value
// in one value-log file.
const maxBodySize = 1 << 30

// Body record formats. A body record starts with one of these bytes:
// bodyRaw is followed by the bytes themselves; bodyManifest by the
// segments of the message, inline bytes or references to part bodies
// (large MIME parts stored once, each a raw body of its own with its own
// reference count, one reference per occurrence in a manifest).
const (
	bodyRaw      byte = 0
	bodyManifest byte = 1
)

const (
	segInline byte = 0
	segPart   byte = 1
)

// manifestPart is a part reference in a manifest.
type manifestPart struct {
	hash BodyID
	size uint64
}

// encodeManifest writes segments as a manifest record (after the format
// byte) and returns the parts it refers to.
func encodeManifest(segs []segment) ([]byte, []manifestPart) {
	e := enc{b: []byte{bodyManifest}}
	e.uvarint(uint64(len(segs)))
	var parts []manifestPart
	for _, sg := range segs {
		if !sg.part {
			e.byte1(segInline)
			e.bytes(sg.data)
			continue
		}
		p := manifestPart{hash: sha256.Sum256(sg.data), size: uint64(len(sg.data))}
		parts = append(parts, p)
		e.byte1(segPart)
		e.b = append(e.b, p.hash[:]...)
		e.uvarint(p.size)
	}
	return e.b, parts
}

// decodeManifest calls inline for each inline segment and part for each
// reference, in order.
func decodeManifest(v []byte, inline func([]byte), part func(manifestPart)) error {
	d := dec{b: v[1:]}
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		switch d.byte1() {
		case segInline:
			inline(d.bytes())
		case segPart:
			var p manifestPart
			d.fixed(p.hash[:])
			p.size = d.uvarint()
			part(p)
		default:
			d.err = errCorrupt
		}
	}
	return d.err
}

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

// refBody takes n references to the message body with these bytes,
// writing it if it is not stored yet: as a manifest when it has MIME parts
// of PartThreshold bytes or more (each stored once across messages), else
// raw.
func (tx *txn) refBody(h BodyID, body []byte, n int) error {
	r, ok, err := getRef(tx.Txn, h)
	if err != nil {
		return err
	}
	if !ok {
		v := rawRecord(body)
		if segs := splitParts(body, PartThreshold); len(segs) > 1 && joins(segs, body) {
			m, parts := encodeManifest(segs)
			for i, p := range parts {
				if err := tx.refRaw(p.hash, partData(segs, i), 1); err != nil {
					return err
				}
			}
			v = m
		}
		if err := tx.Set(bodyKey(h), v); err != nil {
			return err
		}
		r.size = uint64(len(v) - 1)
	}
	r.count += uint64(n)
	return tx.putRef(h, r)
}

// refRaw takes n references to a part body, stored raw.
func (tx *txn) refRaw(h BodyID, data []byte, n int) error {
	r, ok, err := getRef(tx.Txn, h)
	if err != nil {
		return err
	}
	if !ok {
		if err := tx.Set(bodyKey(h), rawRecord(data)); err != nil {
			return err
		}
		r.size = uint64(len(data))
	}
	r.count += uint64(n)
	return tx.putRef(h, r)
}

func rawRecord(b []byte) []byte {
	v := make([]byte, 0, 1+len(b))
	return append(append(v, bodyRaw), b...)
}

// joins checks that segs put together are body, byte for byte: the
// manifest must give back exactly what arrived.
func joins(segs []segment, body []byte) bool {
	pos := 0
	for _, sg := range segs {
		if !bytes.Equal(body[pos:min(pos+len(sg.data), len(body))], sg.data) {
			return false
		}
		pos += len(sg.data)
	}
	return pos == len(body)
}

// partData returns the data of the i-th part segment.
func partData(segs []segment, i int) []byte {
	for _, sg := range segs {
		if sg.part {
			if i == 0 {
				return sg.data
			}
			i--
		}
	}
	return nil
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

// unrefBody drops one reference; the last one deletes the body and, for a
// manifest, its references to its parts.
func (tx *txn) unrefBody(h BodyID) error {
	r, ok, err := getRef(tx.Txn, h)
	if err != nil {
		return err
	}
	if ok && r.count > 1 {
		r.count--
		return tx.putRef(h, r)
	}
	v, found, err := getValue(tx.Txn, bodyKey(h))
	if err != nil {
		return err
	}
	if found && len(v) > 0 && v[0] == bodyManifest {
		var parts []manifestPart
		if err := decodeManifest(v, func([]byte) {}, func(p manifestPart) { parts = append(parts, p) }); err != nil {
			return err
		}
		for _, p := range parts {
			if err := tx.unrefBody(p.hash); err != nil {
				return err
			}
		}
	}
	if err := tx.Delete(refKey(h)); err != nil {
		return err
	}
	return tx.Delete(bodyKey(h))
}

// appendBody appends the bytes of body h to dst, assembling a manifest
// from its parts.
func appendBody(tx *badger.Txn, h BodyID, dst []byte) ([]byte, error) {
	item, err := tx.Get(bodyKey(h))
	if err != nil {
		return dst, err
	}
	err = item.Value(func(v []byte) error {
		if len(v) == 0 {
			return errCorrupt
		}
		switch v[0] {
		case bodyRaw:
			dst = append(dst, v[1:]...)
			return nil
		case bodyManifest:
			var perr error
			err := decodeManifest(v, func(b []byte) { dst = append(dst, b...) }, func(p manifestPart) {
				if perr == nil {
					dst, perr = appendBody(tx, p.hash, dst)
				}
			})
			if err == nil {
				err = perr
			}
			return err
		}
		return errCorrupt
	})
	return dst, err
}

// Content returns a message's bytes exactly as they arrived, with its
// per-delivery prefix.
func (s *Store) Content(ctx context.Context, msg *Message) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *badger.Txn) error {
		out = make([]byte, 0, msg.Size)
		out = append(out, msg.Prefix...)
		var err error
		if out, err = appendBody(tx, msg.Body, out); err != nil {
			return fmt.Errorf("body of message %d: %w", msg.UID, err)
		}
		return nil
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
			buf = append(buf[:0], msg.Prefix...)
			if buf, err = appendBody(tx, msg.Body, buf); err != nil {
				return fmt.Errorf("body of message %d: %w", uid, err)
			}
			if err := fn(msg, buf); err != nil {
				return err
			}
		}
		return nil
	})
}
