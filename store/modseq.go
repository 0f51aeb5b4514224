package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The mod-sequence index (RFC 7162). Every message has one entry keyed by
// its mailbox, its current mod-sequence and its UID; a flag change moves
// the entry to the new mod-sequence, and an expunge replaces it with an
// expunge record at the mod-sequence of the expunge. "What changed after
// n" is then one range scan from n+1, whatever the mailbox's size: the
// changed messages and, from the same scan, the UIDs expunged since
// (QRESYNC's VANISHED). Expunge records are kept for ExpungeRetention;
// pruning one raises the mailbox's floor, below which the expunge history
// is incomplete and callers fall back to "every UID not present".
const (
	kindModSeq      byte = 0x0E // kindModSeq|mailbox id|modseq|uid -> "" (live) or expunge time (8 bytes)
	kindExpungeSeen byte = 0x0F // kindExpungeSeen|mailbox id -> highest modseq of a pruned expunge record
)

// metaModSeqIndex is set once every message has its index entry (stores
// written before the index existed get it at their first open).
var metaModSeqIndex = []byte{kindMeta, 'i'}

// DefaultExpungeRetention is how long expunge records are kept when
// Options.ExpungeRetention is zero.
const DefaultExpungeRetention = 90 * 24 * time.Hour

func modseqPrefix(id MailboxID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindModSeq}, uint64(id))
}

func modseqKey(id MailboxID, modseq uint64, uid UID) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(modseqPrefix(id), modseq), uint32(uid))
}

func floorKey(id MailboxID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindExpungeSeen}, uint64(id))
}

// indexMessage moves uid's index entry from oldSeq (0: none) to newSeq.
func (tx *txn) indexMessage(id MailboxID, uid UID, oldSeq, newSeq uint64) error {
	if oldSeq != 0 && oldSeq != newSeq {
		if err := tx.Delete(modseqKey(id, oldSeq, uid)); err != nil {
			return err
		}
	}
	return tx.Set(modseqKey(id, newSeq, uid), nil)
}

// indexExpunge replaces uid's entry by an expunge record at modseq.
func (tx *txn) indexExpunge(id MailboxID, uid UID, oldSeq, modseq uint64) error {
	if err := tx.Delete(modseqKey(id, oldSeq, uid)); err != nil {
		return err
	}
	return tx.Set(modseqKey(id, modseq, uid), binary.BigEndian.AppendUint64(nil, uint64(tx.s.now().Unix())))
}

// Changes is what changed in a mailbox after a mod-sequence.
type Changes struct {
	// Changed are the UIDs, ascending, of messages added or whose flags
	// changed, still present.
	Changed []UID
	// Vanished are the UIDs, ascending, expunged after the mod-sequence
	// and still on record.
	Vanished []UID
	// Complete is false when expunge records after the mod-sequence were
	// pruned: Vanished may then miss some.
	Complete bool
}

// ChangedSince reports what changed in the mailbox after modseq, reading
// only the index entries after it.
func (s *Store) ChangedSince(ctx context.Context, id MailboxID, modseq uint64) (*Changes, error) {
	ch := &Changes{}
	err := s.view(func(tx *badger.Txn) error {
		v, ok, err := getValue(tx, floorKey(id))
		if err != nil {
			return err
		}
		ch.Complete = !ok || len(v) != 8 || binary.BigEndian.Uint64(v) <= modseq
		prefix := modseqPrefix(id)
		it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(modseqKey(id, modseq+1, 0)); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			uid := UID(binary.BigEndian.Uint32(k[len(prefix)+8:]))
			if it.Item().ValueSize() > 0 {
				ch.Vanished = append(ch.Vanished, uid)
			} else {
				ch.Changed = append(ch.Changed, uid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ch.Changed)
	slices.Sort(ch.Vanished)
	ch.Vanished = slices.Compact(ch.Vanished)
	return ch, nil
}

// PruneExpunged drops expunge records made before the given time and
// raises each mailbox's floor to the highest mod-sequence dropped.
func (s *Store) PruneExpunged(ctx context.Context, before time.Time) (int, error) {
	type rec struct {
		key    []byte
		id     MailboxID
		modseq uint64
	}
	var old []rec
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindModSeq}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			if item.ValueSize() != 8 {
				continue
			}
			var at int64
			if err := item.Value(func(v []byte) error {
				at = int64(binary.BigEndian.Uint64(v))
				return nil
			}); err != nil {
				return err
			}
			if at < before.Unix() {
				k := item.KeyCopy(nil)
				old = append(old, rec{key: k, id: MailboxID(binary.BigEndian.Uint64(k[1:])), modseq: binary.BigEndian.Uint64(k[9:])})
			}
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return 0, err
	}
	err = inBatches(old, purgeBatch, func(batch []rec) error {
		floors := map[MailboxID]uint64{}
		var ids []MailboxID
		for _, r := range batch {
			if _, ok := floors[r.id]; !ok {
				ids = append(ids, r.id)
			}
			floors[r.id] = max(floors[r.id], r.modseq)
		}
		return s.update(ctx, ids, func(tx *txn) error {
			for _, r := range batch {
				if err := tx.Delete(r.key); err != nil {
					return err
				}
			}
			for id, f := range floors {
				if err := tx.raiseFloor(id, f); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return len(old), nil
}

func (tx *txn) raiseFloor(id MailboxID, modseq uint64) error {
	v, ok, err := getValue(tx.Txn, floorKey(id))
	if err != nil {
		return err
	}
	if ok && len(v) == 8 && binary.BigEndian.Uint64(v) >= modseq {
		return nil
	}
	return tx.Set(floorKey(id), binary.BigEndian.AppendUint64(nil, modseq))
}

// dropIndex removes a purged mailbox's index entries and floor.
func (tx *txn) dropIndex(id MailboxID) error {
	it := tx.NewIterator(badger.IteratorOptions{Prefix: modseqPrefix(id)})
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	it.Close()
	keys = append(keys, floorKey(id))
	for _, k := range keys {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// buildModSeqIndex gives every message of a store written before the
// index existed its entry, and sets each mailbox's floor to its current
// HIGHESTMODSEQ: the expunges before that were not recorded.
func (s *Store) buildModSeqIndex(ctx context.Context) error {
	var done bool
	if err := s.view(func(tx *badger.Txn) error {
		_, ok, err := getValue(tx, metaModSeqIndex)
		done = ok
		return err
	}); err != nil || done {
		return err
	}
	start := time.Now()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindMessage}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			id, uid := MailboxID(binary.BigEndian.Uint64(k[1:])), uidFromKey(k)
			var modseq uint64
			if err := it.Item().Value(func(v []byte) error {
				m, err := decodeMessage(uid, v)
				if err == nil {
					modseq = m.ModSeq
				}
				return err
			}); err != nil {
				return err
			}
			if err := wb.Set(modseqKey(id, modseq, uid), nil); err != nil {
				return err
			}
			n++
		}
		it2 := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindMailbox}, PrefetchValues: true})
		defer it2.Close()
		for it2.Rewind(); it2.Valid(); it2.Next() {
			id := MailboxID(binary.BigEndian.Uint64(it2.Item().Key()[1:]))
			v, err := it2.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			m, err := decodeMailbox(id, v)
			if err != nil {
				return err
			}
			if m.HighestModSeq > 0 {
				if err := wb.Set(floorKey(id), binary.BigEndian.AppendUint64(nil, m.HighestModSeq)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Set(metaModSeqIndex, []byte{1})
	}
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return fmt.Errorf("build mod-sequence index: %w", err)
	}
	if n > 0 {
		s.log.Info("built the mod-sequence index", "messages", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// checkModSeqIndex compares the index with the message records of the
// given mailboxes: each message needs its entry at its mod-sequence, and
// a live entry needs its message. Expunge records are history and are
// only checked for belonging to a known mailbox.
func checkModSeqIndex(ctx context.Context, tx *badger.Txn, mailboxes map[MailboxID]*Mailbox, report func(string, ...any), add func(fix)) error {
	entries := map[string]bool{} // live index keys seen
	it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindModSeq}})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := it.Item().KeyCopy(nil)
		if len(k) != 21 {
			report("mod-sequence index key %x: malformed", k)
			add(fix{key: k, delete: true})
			continue
		}
		id := MailboxID(binary.BigEndian.Uint64(k[1:]))
		if _, ok := mailboxes[id]; !ok {
			report("mailbox %d: mod-sequence index entries without a mailbox", id)
			add(fix{key: k, delete: true})
			continue
		}
		if it.Item().ValueSize() == 0 {
			entries[string(k)] = true
		}
	}
	for id := range mailboxes {
		mit := tx.NewIterator(badger.IteratorOptions{Prefix: messagePrefix(id)})
		for mit.Rewind(); mit.Valid(); mit.Next() {
			uid := uidFromKey(mit.Item().Key())
			var msg *Message
			err := mit.Item().Value(func(v []byte) error {
				var err error
				msg, err = decodeMessage(uid, v)
				return err
			})
			if err != nil {
				continue // reported by the record check
			}
			k := modseqKey(id, msg.ModSeq, uid)
			if entries[string(k)] {
				delete(entries, string(k))
				continue
			}
			report("mailbox %d: message %d missing from the mod-sequence index", id, uid)
			add(fix{key: k, value: nil})
		}
		mit.Close()
	}
	for k := range entries {
		key := []byte(k)
		report("mailbox %d: mod-sequence index entry for absent message %d", binary.BigEndian.Uint64(key[1:]), binary.BigEndian.Uint32(key[17:]))
		add(fix{key: key, delete: true})
	}
	return nil
}
