package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Annotations (IMAP METADATA, RFC 5464) of mailboxes and of the server.
// The store keeps names and values as it is given them; what a name
// means (/private, /shared, who may read it) is the protocol layer's.
//
//	kindMetadata|mailbox id|user|0|entry name in lower case -> record
//	kindMetaUsage|account|0 -> entries and bytes the account pays for
//
// Mailbox id 0 (no mailbox has it) holds the server's entries; user ""
// holds shared ones. Entries are keyed by mailbox id, so RENAME keeps them
// without a write; a deleted mailbox's go with its purge.
const (
	kindMetadata  byte = 0x18
	kindMetaUsage byte = 0x19
)

// metadataRecordV1 is the version byte of an entry record: the name as
// written, the account it is charged to, the value.
const metadataRecordV1 = 1

// MetadataScope names one set of entries: a mailbox's, or the server's
// (Mailbox 0); shared (User "") or one user's private ones.
type MetadataScope struct {
	Mailbox MailboxID
	User    string
}

// MetadataEntry is one stored entry.
type MetadataEntry struct {
	Name  string // as it was set; names compare without case
	Value []byte
}

// MetadataWrite sets an entry, or removes it when Value is nil.
type MetadataWrite struct {
	Scope MetadataScope
	Name  string
	Value []byte
}

// MetadataLimits bound what one account's entries may hold together: its
// private entries anywhere and the shared entries of its mailboxes.
// Zero means no limit.
type MetadataLimits struct {
	Entries int
	Bytes   int64
}

// Errors of SetMetadata beyond MetadataLimits.
var (
	ErrMetadataTooMany = errors.New("store: too many annotations")
	ErrMetadataFull    = errors.New("store: annotations too large together")
)

func metadataPrefix(sc MetadataScope) []byte {
	k := binary.BigEndian.AppendUint64([]byte{kindMetadata}, uint64(sc.Mailbox))
	k = append(k, strings.ToLower(sc.User)...)
	return append(k, 0)
}

func metadataKey(sc MetadataScope, name string) []byte {
	return append(metadataPrefix(sc), strings.ToLower(name)...)
}

func metaUsageKey(account string) []byte { return accountKey(kindMetaUsage, account) }

type metadataRecord struct {
	name, payer string
	value       []byte
}

func (r *metadataRecord) encode() []byte {
	e := enc{b: make([]byte, 0, 8+len(r.name)+len(r.payer)+len(r.value))}
	e.byte1(metadataRecordV1)
	e.str(r.name)
	e.str(r.payer)
	e.bytes(r.value)
	return e.b
}

func decodeMetadata(b []byte) (*metadataRecord, error) {
	d := dec{b: b}
	if v := d.byte1(); v != metadataRecordV1 {
		return nil, fmt.Errorf("annotation: %w (version %d)", errCorrupt, v)
	}
	r := &metadataRecord{name: d.str(), payer: d.str(), value: d.bytes()}
	if d.err != nil {
		return nil, fmt.Errorf("annotation: %w", d.err)
	}
	return r, nil
}

// size is what an entry costs against MetadataLimits.Bytes.
func (r *metadataRecord) size() int64 { return int64(len(r.name) + len(r.value)) }

// GetMetadata calls fn with the entry name of scope, if it exists, then
// with the entries below it down to depth levels (RFC 5464 §4.2.2: 0
// none, 1 children only, -1 all), in name order.
func (s *Store) GetMetadata(ctx context.Context, scope MetadataScope, name string, depth int, fn func(MetadataEntry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.view(func(tx *badger.Txn) error {
		v, ok, err := getValue(tx, metadataKey(scope, name))
		if err != nil {
			return err
		}
		if ok {
			r, err := decodeMetadata(v)
			if err != nil {
				return err
			}
			if err := fn(MetadataEntry{Name: r.name, Value: r.value}); err != nil {
				return err
			}
		}
		if depth == 0 {
			return nil
		}
		prefix := append(metadataKey(scope, name), '/')
		it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if depth == 1 && bytes.IndexByte(it.Item().Key()[len(prefix):], '/') >= 0 {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			r, err := decodeMetadata(v)
			if err != nil {
				return err
			}
			if err := fn(MetadataEntry{Name: r.name, Value: r.value}); err != nil {
				return err
			}
		}
		return nil
	})
}

// metaUsage is what one account's entries hold.
type metaUsage struct {
	entries int64
	bytes   int64
}

func getMetaUsage(tx *badger.Txn, account string) (metaUsage, error) {
	v, ok, err := getValue(tx, metaUsageKey(account))
	if err != nil || !ok {
		return metaUsage{}, err
	}
	d := dec{b: v}
	u := metaUsage{entries: d.varint(), bytes: d.varint()}
	if d.err != nil {
		return metaUsage{}, fmt.Errorf("annotation usage of %s: %w", account, d.err)
	}
	return u, nil
}

// addMetaUsages changes each account's usage by its delta ("" is no
// account: entries nobody pays for).
func (tx *txn) addMetaUsages(deltas map[string]metaUsage) error {
	for account, d := range deltas {
		if account == "" {
			continue
		}
		if _, err := tx.addMetaUsage(account, d); err != nil {
			return err
		}
	}
	return nil
}

// addMetaUsage changes account's usage by delta.
func (tx *txn) addMetaUsage(account string, delta metaUsage) (metaUsage, error) {
	u, err := getMetaUsage(tx.Txn, account)
	if err != nil {
		return u, err
	}
	u.entries += delta.entries
	u.bytes += delta.bytes
	if u.entries <= 0 && u.bytes <= 0 {
		return metaUsage{}, tx.Delete(metaUsageKey(account))
	}
	var e enc
	e.varint(u.entries)
	e.varint(u.bytes)
	return u, tx.Set(metaUsageKey(account), e.b)
}

// SetMetadata applies writes in one transaction: all or none (RFC 5464
// §4.3). An entry's cost is charged to its scope's user, or for a shared
// mailbox entry to the mailbox's owner; shared server entries are charged
// to nobody. A write that would take an account over lim fails with
// ErrMetadataTooMany or ErrMetadataFull; removals always succeed. A
// mailbox that does not exist (or is being deleted) is ErrNoMailbox.
func (s *Store) SetMetadata(ctx context.Context, writes []MetadataWrite, lim MetadataLimits) error {
	var ids []MailboxID
	for _, w := range writes {
		if w.Scope.Mailbox != 0 {
			ids = append(ids, w.Scope.Mailbox)
		}
	}
	return s.update(ctx, ids, func(tx *txn) error {
		owners := map[MailboxID]string{}
		deltas := map[string]metaUsage{}
		for _, w := range writes {
			payer := w.Scope.User
			if id := w.Scope.Mailbox; id != 0 {
				owner, ok := owners[id]
				if !ok {
					m, err := getMailbox(tx.Txn, id)
					if err != nil {
						return err
					}
					owner = m.Account
					owners[id] = owner
				}
				if payer == "" {
					payer = owner
				}
			}
			key := metadataKey(w.Scope, w.Name)
			old, ok, err := getValue(tx.Txn, key)
			if err != nil {
				return err
			}
			if ok {
				r, err := decodeMetadata(old)
				if err != nil {
					return err
				}
				d := deltas[r.payer]
				d.entries--
				d.bytes -= r.size()
				deltas[r.payer] = d
			}
			if w.Value == nil {
				if err := tx.Delete(key); err != nil {
					return err
				}
				continue
			}
			r := &metadataRecord{name: w.Name, payer: payer, value: w.Value}
			d := deltas[payer]
			d.entries++
			d.bytes += r.size()
			deltas[payer] = d
			if err := tx.Set(key, r.encode()); err != nil {
				return err
			}
		}
		for account, d := range deltas {
			if account == "" || d == (metaUsage{}) {
				continue
			}
			u, err := tx.addMetaUsage(account, d)
			if err != nil {
				return err
			}
			switch {
			case d.entries > 0 && lim.Entries > 0 && u.entries > int64(lim.Entries):
				return ErrMetadataTooMany
			case d.bytes > 0 && lim.Bytes > 0 && u.bytes > lim.Bytes:
				return ErrMetadataFull
			}
		}
		return nil
	})
}

// metadataPurgeBatch bounds the entries one purge transaction removes.
const metadataPurgeBatch = 500

// purgeMetadata removes the entries of a deleted mailbox, every user's,
// in batches, and gives their cost back to whoever paid for it.
func (s *Store) purgeMetadata(ctx context.Context, id MailboxID) error {
	prefix := binary.BigEndian.AppendUint64([]byte{kindMetadata}, uint64(id))
	for {
		done := true
		err := s.update(ctx, []MailboxID{id}, func(tx *txn) error {
			it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
			var keys [][]byte
			deltas := map[string]metaUsage{}
			for it.Rewind(); it.Valid(); it.Next() {
				if len(keys) == metadataPurgeBatch {
					done = false
					break
				}
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				keys = append(keys, it.Item().KeyCopy(nil))
				if r, err := decodeMetadata(v); err == nil {
					d := deltas[r.payer]
					d.entries--
					d.bytes -= r.size()
					deltas[r.payer] = d
				}
			}
			it.Close()
			for _, k := range keys {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return tx.addMetaUsages(deltas)
		})
		if err != nil || done {
			return err
		}
	}
}

// copyMetadata copies every entry of mailbox from to mailbox to, in the
// caller's transaction: renaming INBOX keeps its entries on INBOX and
// gives the renamed mailbox a copy (RFC 5464 §4.1). The copies are
// charged like the originals, beyond any limit.
func (tx *txn) copyMetadata(from, to MailboxID) error {
	prefix := binary.BigEndian.AppendUint64([]byte{kindMetadata}, uint64(from))
	type kv struct{ k, v []byte }
	var copies []kv
	deltas := map[string]metaUsage{}
	it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			it.Close()
			return err
		}
		r, err := decodeMetadata(v)
		if err != nil {
			it.Close()
			return err
		}
		k := binary.BigEndian.AppendUint64([]byte{kindMetadata}, uint64(to))
		k = append(k, it.Item().Key()[len(prefix):]...)
		copies = append(copies, kv{k, v})
		d := deltas[r.payer]
		d.entries++
		d.bytes += r.size()
		deltas[r.payer] = d
	}
	it.Close()
	for _, c := range copies {
		if err := tx.Set(c.k, c.v); err != nil {
			return err
		}
	}
	return tx.addMetaUsages(deltas)
}
