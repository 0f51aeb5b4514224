package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// valueLogFileSize is the size of Badger's value-log files; Badger refuses
// a value larger than one.
const valueLogFileSize = 256 << 20

// MaxBodySize is the largest message the store accepts. A body is one
// Badger value (a record byte and the message), so it must fit in a
// value-log file; the margin covers the record byte. Configuration refuses
// a message size limit the store cannot hold (with room for the header
// fields the server adds), so that a message is refused at the SMTP SIZE
// limit and never by the store with a generic error.
const MaxBodySize = valueLogFileSize - 64<<10

const maxBodySize = MaxBodySize

// Body record formats. A body record starts with one of these bytes:
// bodyRaw is followed by the bytes themselves; bodyManifest by the
// segments of the message, inline bytes or references to part bodies
// (large MIME parts stored once, each a raw or chunked body of its own
// with its own reference count, one reference per occurrence in a
// manifest); bodyChunked by the body's size and its number of chunks,
// whose bytes are the values of the chunk keys (kindChunk|id|n), in order.
const (
	bodyRaw      byte = 0
	bodyManifest byte = 1
	bodyChunked  byte = 2
)

// bodyChunk is the size of the chunks of a body stored chunked: any body
// larger than one. The chunks are the caller's bytes, handed to Badger
// without a copy (a raw record is a format byte and a copy of the body),
// and Badger encodes each value for its value log in a buffer of the
// value's size, garbage once the commit is done: a 20 MiB body written
// raw cost 40 MiB of heap besides the caller's copy, chunked it costs one
// chunk. 256 KiB keeps that garbage small (1 MiB chunks left the heap
// 10 MiB higher after twenty 20 MiB messages) for 80 keys a 20 MiB body,
// far within Badger's transaction limits even at MaxBodySize (1,024).
const bodyChunk = 256 << 10

// putChunks stores body as chunks of body id and returns its chunked
// record. The chunk values are slices of body, which must not change
// until the transaction is committed.
func (tx *txn) putChunks(id BodyID, body []byte) ([]byte, error) {
	n := uint32(0)
	for rest := body; len(rest) > 0; n++ {
		c := rest[:min(len(rest), tx.s.chunkSize)]
		if err := tx.Set(chunkKey(id, n), c); err != nil {
			return nil, err
		}
		rest = rest[len(c):]
	}
	e := enc{b: []byte{bodyChunked}}
	e.uvarint(uint64(len(body)))
	e.uvarint(uint64(n))
	return e.b, nil
}

// decodeChunked reads a chunked record: the body's size and its number
// of chunks.
func decodeChunked(v []byte) (size uint64, n uint32, err error) {
	d := dec{b: v[1:]}
	size = d.uvarint()
	chunks := d.uvarint()
	if d.err != nil || chunks > 1<<32-1 || len(d.b) != 0 {
		return 0, 0, errCorrupt
	}
	return size, uint32(chunks), nil
}

// recordSize is the size of the content a body record holds itself (a
// manifest: its record), as reference records count it.
func recordSize(v []byte) uint64 {
	if len(v) > 0 && v[0] == bodyChunked {
		if size, _, err := decodeChunked(v); err == nil {
			return size
		}
	}
	return uint64(max(len(v)-1, 0))
}

const (
	segInline byte = 0
	segPart   byte = 1
)

// manifestPart is a part reference in a manifest.
type manifestPart struct {
	id   BodyID
	size uint64
}

// encodeManifest writes segments as a manifest record, the parts already
// stored as ids (one per part segment, in order).
func encodeManifest(segs []segment, ids []BodyID) []byte {
	e := enc{b: []byte{bodyManifest}}
	e.uvarint(uint64(len(segs)))
	i := 0
	for _, sg := range segs {
		if !sg.part {
			e.byte1(segInline)
			e.bytes(sg.data)
			continue
		}
		e.byte1(segPart)
		e.uvarint(uint64(ids[i]))
		e.uvarint(uint64(len(sg.data)))
		i++
	}
	return e.b
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
			p := manifestPart{id: BodyID(d.uvarint())}
			p.size = d.uvarint()
			part(p)
		default:
			d.err = errCorrupt
		}
	}
	return d.err
}

// refRecord is kindRef|id's value: the reference count, the bytes the
// body record takes, and the SHA-256 of the content, so that counting
// never reads a body and the last release can drop the hash index entry.
type refRecord struct {
	count uint64
	size  uint64
	hash  [32]byte
}

const refRecordLen = 48

func decodeRef(v []byte) (refRecord, bool) {
	if len(v) != refRecordLen {
		return refRecord{}, false
	}
	r := refRecord{count: binary.BigEndian.Uint64(v), size: binary.BigEndian.Uint64(v[8:])}
	copy(r.hash[:], v[16:])
	return r, true
}

func (r refRecord) encode() []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, refRecordLen), r.count)
	v = binary.BigEndian.AppendUint64(v, r.size)
	return append(v, r.hash[:]...)
}

func getRef(tx *badger.Txn, id BodyID) (refRecord, bool, error) {
	v, ok, err := getValue(tx, refKey(id))
	if err != nil || !ok {
		return refRecord{}, ok, err
	}
	r, ok := decodeRef(v)
	if !ok {
		return refRecord{}, false, fmt.Errorf("body %d: %w", id, errCorrupt)
	}
	return r, true, nil
}

func (tx *txn) putRef(id BodyID, r refRecord) error { return tx.Set(refKey(id), r.encode()) }

// refContent takes n references to the body with these bytes (hash is
// their SHA-256) and returns its id, storing it if it is new: with split,
// as a manifest when it has MIME parts of PartThreshold bytes or more
// (each stored once across messages, itself by refContent), else raw.
func (tx *txn) refContent(hash [32]byte, body []byte, n int, split bool) (BodyID, error) {
	v, ok, err := getValue(tx.Txn, hashKey(hash))
	if err != nil {
		return 0, err
	}
	if ok && len(v) == 8 {
		id := BodyID(binary.BigEndian.Uint64(v))
		r, found, err := getRef(tx.Txn, id)
		if err != nil {
			return 0, err
		}
		if found {
			r.count += uint64(n)
			return id, tx.putRef(id, r)
		}
		// A dangling index entry (fsck reports these): store anew.
	}
	next, err := tx.s.bodyIDs.Next()
	if err != nil {
		return 0, err
	}
	id := BodyID(next)
	var rec []byte // the raw record is built only if the body is not split: it copies the body
	if split {
		if segs := splitParts(body, PartThreshold); len(segs) > 1 && joins(segs, body) {
			// An inline segment larger than a chunk (a forwarded
			// message/rfc822, many small parts in a row) is stored as a
			// part too: inline, the manifest record would copy it, and
			// Badger would encode that record in a buffer of its size.
			for i := range segs {
				if !segs[i].part && len(segs[i].data) > tx.s.chunkSize {
					segs[i].part = true
				}
			}
			var ids []BodyID
			for _, sg := range segs {
				if !sg.part {
					continue
				}
				pid, err := tx.refContent(sha256.Sum256(sg.data), sg.data, 1, false)
				if err != nil {
					return 0, err
				}
				ids = append(ids, pid)
			}
			rec = encodeManifest(segs, ids)
		}
	}
	if rec == nil && len(body) > tx.s.chunkSize {
		if rec, err = tx.putChunks(id, body); err != nil {
			return 0, err
		}
	}
	if rec == nil {
		rec = rawRecord(body)
	}
	if err := tx.Set(bodyKey(id), rec); err != nil {
		return 0, err
	}
	if split && tx.s.derive != nil {
		for _, d := range tx.s.derive(body) {
			if err := tx.Set(infoKey(id, d.Tag), d.Value); err != nil {
				return 0, err
			}
		}
	}
	if err := tx.Set(hashKey(hash), binary.BigEndian.AppendUint64(nil, uint64(id))); err != nil {
		return 0, err
	}
	return id, tx.putRef(id, refRecord{count: uint64(n), size: recordSize(rec), hash: hash})
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

// addRef takes n more references to a stored body.
func (tx *txn) addRef(id BodyID, n int) error {
	r, ok, err := getRef(tx.Txn, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("body %d: missing", id)
	}
	r.count += uint64(n)
	return tx.putRef(id, r)
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
	if ok {
		if err := tx.Delete(hashKey(r.hash)); err != nil {
			return err
		}
	}
	v, found, err := getValue(tx.Txn, bodyKey(h))
	if err != nil {
		return err
	}
	if found && len(v) > 0 && v[0] == bodyChunked {
		_, n, err := decodeChunked(v)
		if err != nil {
			return fmt.Errorf("body %d: %w", h, err)
		}
		for i := range n {
			if err := tx.Delete(chunkKey(h, i)); err != nil {
				return err
			}
		}
	}
	if found && len(v) > 0 && v[0] == bodyManifest {
		var parts []manifestPart
		if err := decodeManifest(v, func([]byte) {}, func(p manifestPart) { parts = append(parts, p) }); err != nil {
			return err
		}
		for _, p := range parts {
			if err := tx.unrefBody(p.id); err != nil {
				return err
			}
		}
	}
	if err := tx.deleteInfo(h); err != nil {
		return err
	}
	if err := tx.Delete(refKey(h)); err != nil {
		return err
	}
	return tx.Delete(bodyKey(h))
}

// deleteInfo deletes what BodyInfo keeps for body h.
func (tx *txn) deleteInfo(h BodyID) error {
	it := tx.NewIterator(badger.IteratorOptions{Prefix: infoKey(h, 0)[:9]})
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
	return nil
}

// BodyInfo returns data derived from bodies and kept with them (an
// encoded ENVELOPE, say), under a caller's tag, for those that have it.
// It goes when the body goes.
func (s *Store) BodyInfo(ctx context.Context, ids []BodyID, tag byte) (map[BodyID][]byte, error) {
	out := make(map[BodyID][]byte, len(ids))
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	err := s.view(func(tx *badger.Txn) error {
		// One iterator walked forward: the bodies of a mailbox's
		// messages are mostly stored in order, so the next key wanted is
		// usually a step or two ahead, far cheaper than a lookup each.
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindInfo}})
		defer it.Close()
		it.Rewind()
		for _, id := range sorted {
			if err := ctx.Err(); err != nil {
				return err
			}
			want := infoKey(id, tag)
			for step := 0; it.Valid() && bytes.Compare(it.Item().Key(), want) < 0; step++ {
				if step == 4 {
					it.Seek(want)
					break
				}
				it.Next()
			}
			if !it.Valid() {
				break
			}
			if bytes.Equal(it.Item().Key(), want) {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				out[id] = v
			}
		}
		return nil
	})
	return out, err
}

// Derived is data derived from a body, kept with it under Tag (see
// Options.Derive and BodyInfo).
type Derived struct {
	Tag   byte
	Value []byte
}

// SetBodyInfo keeps each value with its body under tag (in one
// transaction), for the bodies that still exist.
func (s *Store) SetBodyInfo(ctx context.Context, tag byte, values map[BodyID][]byte) error {
	if len(values) == 0 {
		return nil
	}
	return s.update(ctx, nil, func(tx *txn) error {
		for id, v := range values {
			ref, ok, err := getValue(tx.Txn, refKey(id))
			if err != nil {
				return err
			} else if !ok {
				continue
			}
			// Writing the reference record back unchanged makes this
			// transaction conflict with one deleting the body, whichever
			// commits first: the other retries, so no info outlives its
			// body (a deletion that already looked for info would not see
			// a key written after it looked).
			if err := tx.Set(refKey(id), ref); err != nil {
				return err
			}
			if err := tx.Set(infoKey(id, tag), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// walkBody visits the bytes of body h in order, following a manifest into
// its parts: inline gets bytes held in the records (valid only during the
// call), chunk the key of each chunk of a chunked body.
func walkBody(tx *badger.Txn, h BodyID, inline func([]byte), chunk func(key []byte) error) error {
	item, err := tx.Get(bodyKey(h))
	if err != nil {
		return err
	}
	return item.Value(func(v []byte) error {
		if len(v) == 0 {
			return errCorrupt
		}
		switch v[0] {
		case bodyRaw:
			inline(v[1:])
			return nil
		case bodyChunked:
			_, n, err := decodeChunked(v)
			if err != nil {
				return err
			}
			for i := range n {
				if err := chunk(chunkKey(h, i)); err != nil {
					return fmt.Errorf("chunk %d: %w", i, err)
				}
			}
			return nil
		case bodyManifest:
			var perr error
			err := decodeManifest(v, inline, func(p manifestPart) {
				if perr == nil {
					perr = walkBody(tx, p.id, inline, chunk)
				}
			})
			if err == nil {
				err = perr
			}
			return err
		}
		return errCorrupt
	})
}

// appendBody appends the bytes of body h to dst, assembling a manifest
// from its parts.
func appendBody(tx *badger.Txn, h BodyID, dst []byte) ([]byte, error) {
	err := walkBody(tx, h, func(b []byte) { dst = append(dst, b...) }, func(key []byte) (err error) {
		dst, err = appendValue(tx, key, dst)
		return err
	})
	return dst, err
}

// errHeaderRead stops appendHeader's walk over a body once its header
// has ended.
var errHeaderRead = errors.New("header read")

// appendHeader appends prefix and the start of body h to dst up to the
// end of the header they make (headerScan), reading none of the body's
// chunks or parts after it.
func appendHeader(tx *badger.Txn, prefix []byte, h BodyID, dst []byte) ([]byte, error) {
	var sc headerScan
	add := func(b []byte) {
		if !sc.done {
			dst = append(dst, b[:sc.feed(b)]...)
		}
	}
	add(prefix)
	if sc.done {
		return dst, nil
	}
	err := walkBody(tx, h, add, func(key []byte) error {
		if sc.done {
			return errHeaderRead
		}
		item, err := tx.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			add(v)
			return nil
		})
	})
	if errors.Is(err, errHeaderRead) {
		err = nil
	}
	return dst, err
}

// headerScan finds the end of a message's header in its bytes given
// piece by piece: the first empty line ("\n" or "\r\n" at the start of a
// line), included, as part.HeaderEnd finds it in the whole.
type headerScan struct {
	midLine bool // the last byte fed was inside a line
	cr      bool // the last byte fed was a CR starting a line
	done    bool // the empty line was found
}

// feed returns how many bytes of b, the next piece, belong to the
// header; done is set when the header ended within them.
func (h *headerScan) feed(b []byte) int {
	for i := 0; i < len(b); {
		if !h.midLine {
			if h.cr {
				h.cr = false
				if b[i] == '\n' {
					h.done = true
					return i + 1
				}
				h.midLine = true
				continue
			}
			switch b[i] {
			case '\n':
				h.done = true
				return i + 1
			case '\r':
				h.cr = true
				i++
				continue
			}
			h.midLine = true
		}
		nl := bytes.IndexByte(b[i:], '\n')
		if nl < 0 {
			return len(b)
		}
		i += nl + 1
		h.midLine = false
	}
	return len(b)
}

// appendValue appends the value of key to dst.
func appendValue(tx *badger.Txn, key, dst []byte) ([]byte, error) {
	item, err := tx.Get(key)
	if err != nil {
		return dst, err
	}
	err = item.Value(func(v []byte) error {
		dst = append(dst, v...)
		return nil
	})
	return dst, err
}

// Content returns a message's bytes exactly as they arrived, with its
// per-delivery prefix.
func (s *Store) Content(ctx context.Context, msg *Message) ([]byte, error) {
	return s.AppendContent(ctx, make([]byte, 0, msg.Size), msg)
}

// AppendContent is Content appended to dst, for a caller that reuses its
// buffers.
func (s *Store) AppendContent(ctx context.Context, dst []byte, msg *Message) ([]byte, error) {
	s.bodyReads.Add(1)
	var out []byte
	err := s.view(func(tx *badger.Txn) error {
		out = append(dst, msg.Prefix...)
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
			s.bodyReads.Add(1)
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
