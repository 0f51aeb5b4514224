package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A mailbox's UIDs are also kept as bitmaps of blockUIDs UIDs each, and
// the keywords ever set in it as one sorted list: opening a mailbox
// (SELECT) reads a few dozen small values instead of every message
// record. Both change in the transactions that add and remove messages
// or set keywords; a transaction touching one block many times (a bulk
// append) writes it once, at commit.
const (
	kindUIDBlock byte = 0x1A // kindUIDBlock|mailbox id|block number (uint32) -> bitmap, little-endian bit order
	kindKeywords byte = 0x1B // kindKeywords|mailbox id -> keywords ever set, sorted, length-prefixed
	kindFlagSet  byte = 0x1C // kindFlagSet|mailbox id|set|block number -> bitmap of the messages in the set
)

// Flag sets kept as bitmaps like the UIDs: the messages without \Seen and
// those with \Deleted, so SEARCH UNSEEN, SELECT's first unseen message
// and EXPUNGE read a few small values instead of every record.
const (
	setUnseen  byte = 'u'
	setDeleted byte = 'd'
)

const blockUIDs = 1024 // UIDs per block: 128 bytes of bitmap at most, rewritten by each change

// metaUIDBlocks is set once every mailbox has its blocks and keyword list.
var metaUIDBlocks = []byte{kindMeta, 'V'} // 'u' before the flag sets, 'U' with 4,096-UID blocks

func uidBlockPrefix(id MailboxID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindUIDBlock}, uint64(id))
}

func uidBlockKey(id MailboxID, block uint32) []byte {
	return binary.BigEndian.AppendUint32(uidBlockPrefix(id), block)
}

func flagSetPrefix(id MailboxID, set byte) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{kindFlagSet}, uint64(id)), set)
}

func flagSetKey(id MailboxID, set byte, block uint32) []byte {
	return binary.BigEndian.AppendUint32(flagSetPrefix(id, set), block)
}

func keywordsKey(id MailboxID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindKeywords}, uint64(id))
}

// pendingIndex is what a transaction changed in blocks and keyword lists,
// written by flush before it commits.
type pendingIndex struct {
	blocks   map[string][]byte // block key -> bitmap
	dirty    map[string]bool   // the blocks a change touched
	keywords map[MailboxID][]string
	dirtyKW  map[MailboxID]bool
}

// block returns the bitmap of key, read once per transaction.
func (tx *txn) block(key []byte) ([]byte, error) {
	if tx.idx.blocks == nil {
		tx.idx.blocks = map[string][]byte{}
	}
	if b, ok := tx.idx.blocks[string(key)]; ok {
		return b, nil
	}
	v, _, err := getValue(tx.Txn, key)
	if err != nil {
		return nil, err
	}
	b := make([]byte, blockUIDs/8)
	copy(b, v)
	tx.idx.blocks[string(key)] = b
	return b, nil
}

// markUID sets or clears uid in its mailbox's block.
func (tx *txn) markUID(id MailboxID, uid UID, present bool) error {
	return tx.mark(uidBlockKey(id, uint32(uid)/blockUIDs), uid, present)
}

// markFlags moves uid in or out of the flag sets as its flags change
// from old to new (nil: the message is not there), touching only the
// sets whose membership changes.
func (tx *txn) markFlags(id MailboxID, uid UID, old, new *Flags) error {
	block := uint32(uid) / blockUIDs
	unseen := func(f *Flags) bool { return f != nil && f.Sys&FlagSeen == 0 }
	deleted := func(f *Flags) bool { return f != nil && f.Sys&FlagDeleted != 0 }
	if unseen(old) != unseen(new) {
		if err := tx.mark(flagSetKey(id, setUnseen, block), uid, unseen(new)); err != nil {
			return err
		}
	}
	if deleted(old) != deleted(new) {
		return tx.mark(flagSetKey(id, setDeleted, block), uid, deleted(new))
	}
	return nil
}

func (tx *txn) mark(key []byte, uid UID, present bool) error {
	b, err := tx.block(key)
	if err != nil {
		return err
	}
	i := uint32(uid) % blockUIDs
	was := b[i/8]
	if present {
		b[i/8] |= 1 << (i % 8)
	} else {
		b[i/8] &^= 1 << (i % 8)
	}
	if b[i/8] != was {
		if tx.idx.dirty == nil {
			tx.idx.dirty = map[string]bool{}
		}
		tx.idx.dirty[string(key)] = true
	}
	return nil
}

// mailboxKeywords returns the mailbox's keyword list, read once per
// transaction.
func (tx *txn) mailboxKeywords(id MailboxID) ([]string, error) {
	if kws, ok := tx.idx.keywords[id]; ok {
		return kws, nil
	}
	v, _, err := getValue(tx.Txn, keywordsKey(id))
	if err != nil {
		return nil, err
	}
	kws, err := decodeKeywords(v)
	if err != nil {
		return nil, err
	}
	if tx.idx.keywords == nil {
		tx.idx.keywords, tx.idx.dirtyKW = map[MailboxID][]string{}, map[MailboxID]bool{}
	}
	tx.idx.keywords[id] = kws
	return kws, nil
}

// noteKeywords adds the keywords of f the mailbox's list lacks.
func (tx *txn) noteKeywords(id MailboxID, f Flags) error {
	if len(f.Keywords) == 0 {
		return nil
	}
	kws, err := tx.mailboxKeywords(id)
	if err != nil {
		return err
	}
	for _, k := range f.Keywords {
		if i, found := slices.BinarySearch(kws, k); !found {
			kws = slices.Insert(kws, i, k)
			tx.idx.dirtyKW[id] = true
		}
	}
	tx.idx.keywords[id] = kws
	return nil
}

// flushIndex writes the blocks and keyword lists the transaction changed.
func (tx *txn) flushIndex() error {
	for k, b := range tx.idx.blocks {
		if !tx.idx.dirty[k] {
			continue
		}
		last := len(b)
		for last > 0 && b[last-1] == 0 {
			last--
		}
		var err error
		if last == 0 {
			err = tx.Delete([]byte(k))
		} else {
			err = tx.Set([]byte(k), b[:last])
		}
		if err != nil {
			return err
		}
	}
	for id := range tx.idx.dirtyKW {
		if err := tx.Set(keywordsKey(id), encodeKeywords(tx.idx.keywords[id])); err != nil {
			return err
		}
	}
	tx.idx = pendingIndex{}
	return nil
}

func encodeKeywords(kws []string) []byte {
	var e enc
	for _, k := range kws {
		e.str(k)
	}
	return e.b
}

func decodeKeywords(v []byte) ([]string, error) {
	d := dec{b: v}
	var kws []string
	for len(d.b) > 0 && d.err == nil {
		kws = append(kws, d.str())
	}
	if d.err != nil {
		return nil, fmt.Errorf("keyword list: %w", d.err)
	}
	return kws, nil
}

// appendBlockUIDs appends the UIDs a block's bitmap holds.
func appendBlockUIDs(uids []UID, block uint32, b []byte) []UID {
	base := block * blockUIDs
	for i, x := range b {
		for x != 0 {
			bit := bits.TrailingZeros8(x)
			uids = append(uids, UID(base+uint32(i*8+bit)))
			x &^= 1 << bit
		}
	}
	return uids
}

// MailboxState is what opening a mailbox needs: its UIDs ascending and
// the keywords ever set in it, sorted.
type MailboxState struct {
	UIDs     []UID
	Keywords []string
}

// OpenState reads a mailbox's UIDs and keywords from its blocks and
// keyword list, one consistent snapshot, without reading message records.
func (s *Store) OpenState(ctx context.Context, id MailboxID) (*MailboxState, error) {
	st := &MailboxState{}
	err := s.view(func(tx *badger.Txn) error {
		if err := readBlocks(ctx, tx, uidBlockPrefix(id), &st.UIDs); err != nil {
			return err
		}
		v, _, err := getValue(tx, keywordsKey(id))
		if err != nil {
			return err
		}
		st.Keywords, err = decodeKeywords(v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// dropUIDBlocks removes a purged mailbox's blocks, flag sets, private
// \Seen blocks and keyword list.
func (tx *txn) dropUIDBlocks(id MailboxID) error {
	var keys [][]byte
	for _, prefix := range [][]byte{uidBlockPrefix(id), binary.BigEndian.AppendUint64([]byte{kindFlagSet}, uint64(id)), seenPrefix(id)} {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix})
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
	}
	keys = append(keys, keywordsKey(id))
	for _, k := range keys {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// rebuildUIDBlocks computes every mailbox's blocks and keyword list from
// the message records: the values as Check expects them.
func rebuildUIDBlocks(ctx context.Context, tx *badger.Txn) (map[string][]byte, error) {
	out := map[string][]byte{}
	kws := map[MailboxID][]string{}
	it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindMessage}})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := it.Item().Key()
		id, uid := MailboxID(binary.BigEndian.Uint64(k[1:])), uidFromKey(k)
		set := func(key []byte) {
			b := out[string(key)]
			if b == nil {
				b = make([]byte, blockUIDs/8)
				out[string(key)] = b
			}
			i := uint32(uid) % blockUIDs
			b[i/8] |= 1 << (i % 8)
		}
		block := uint32(uid) / blockUIDs
		set(uidBlockKey(id, block))
		if err := it.Item().Value(func(v []byte) error {
			m, err := decodeMessage(uid, v)
			if err != nil {
				return nil // reported by the record check
			}
			if m.Flags.Sys&FlagSeen == 0 {
				set(flagSetKey(id, setUnseen, block))
			}
			if m.Flags.Sys&FlagDeleted != 0 {
				set(flagSetKey(id, setDeleted, block))
			}
			for _, kw := range m.Flags.Keywords {
				if j, found := slices.BinarySearch(kws[id], kw); !found {
					kws[id] = slices.Insert(kws[id], j, kw)
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for k, b := range out {
		last := len(b)
		for last > 0 && b[last-1] == 0 {
			last--
		}
		out[k] = b[:last]
		if last == 0 {
			delete(out, k)
		}
	}
	for id, list := range kws {
		out[string(keywordsKey(id))] = encodeKeywords(list)
	}
	return out, nil
}

// checkUIDBlocks compares the blocks and keyword lists with what the
// records say. A keyword list may hold keywords no message has any more
// (they were set once); it must hold every keyword in use.
func checkUIDBlocks(ctx context.Context, tx *badger.Txn, report func(string, ...any), add func(fix)) error {
	want, err := rebuildUIDBlocks(ctx, tx)
	if err != nil {
		return err
	}
	for _, kind := range []byte{kindUIDBlock, kindFlagSet, kindKeywords} {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kind}})
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return err
			}
			w, ok := want[string(k)]
			delete(want, string(k))
			switch {
			case kind == kindKeywords && ok:
				have, _ := decodeKeywords(v)
				need, _ := decodeKeywords(w)
				if missing := slices.DeleteFunc(slices.Clone(need), func(s string) bool { _, f := slices.BinarySearch(have, s); return f }); len(missing) > 0 {
					report("mailbox %d: keywords in use missing from its keyword list: %v", binary.BigEndian.Uint64(k[1:]), missing)
					add(fix{key: k, value: encodeKeywords(mergeSorted(have, need))})
				}
			case kind == kindKeywords:
				// Keywords of a mailbox whose messages have none now: history.
			case !ok || string(v) != string(w):
				report("mailbox %d: UID or flag block %x disagrees with its messages", binary.BigEndian.Uint64(k[1:]), k[9:])
				if ok {
					add(fix{key: k, value: w})
				} else {
					add(fix{key: k, delete: true})
				}
			}
		}
		it.Close()
	}
	for k, w := range want {
		key := []byte(k)
		if key[0] == kindKeywords {
			report("mailbox %d: no keyword list", binary.BigEndian.Uint64(key[1:]))
		} else {
			report("mailbox %d: UID or flag block %x missing", binary.BigEndian.Uint64(key[1:]), key[9:])
		}
		add(fix{key: key, value: w})
	}
	return nil
}

func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// buildUIDBlocks gives a store written before the blocks existed its
// blocks and keyword lists, at its first open.
func (s *Store) buildUIDBlocks(ctx context.Context) error {
	var done bool
	if err := s.view(func(tx *badger.Txn) error {
		_, ok, err := getValue(tx, metaUIDBlocks)
		done = ok
		return err
	}); err != nil || done {
		return err
	}
	start := time.Now()
	// Blocks of an earlier size would be read at the wrong UIDs: they go
	// before the new ones are written.
	if err := s.db.DropPrefix([]byte{kindUIDBlock}, []byte{kindFlagSet}); err != nil {
		return fmt.Errorf("build UID blocks: %w", err)
	}
	var values map[string][]byte
	if err := s.view(func(tx *badger.Txn) error {
		var err error
		values, err = rebuildUIDBlocks(ctx, tx)
		return err
	}); err != nil {
		return fmt.Errorf("build UID blocks: %w", err)
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for k, v := range values {
		if err := wb.Set([]byte(k), v); err != nil {
			return fmt.Errorf("build UID blocks: %w", err)
		}
	}
	if err := wb.Set(metaUIDBlocks, []byte{1}); err != nil {
		return fmt.Errorf("build UID blocks: %w", err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("build UID blocks: %w", err)
	}
	if len(values) > 0 {
		s.log.Info("built the UID blocks", "values", len(values), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// FlagState is a mailbox's UIDs with the subsets SEARCH asks most: the
// messages without \Seen and those with \Deleted, all ascending, read
// from their bitmaps in one snapshot.
type FlagState struct {
	UIDs, Unseen, Deleted []UID
}

// FlagState reads a mailbox's UID and flag bitmaps.
func (s *Store) FlagState(ctx context.Context, id MailboxID) (*FlagState, error) {
	fs := &FlagState{}
	err := s.view(func(tx *badger.Txn) error {
		for _, part := range []struct {
			prefix []byte
			dst    *[]UID
		}{
			{uidBlockPrefix(id), &fs.UIDs},
			{flagSetPrefix(id, setUnseen), &fs.Unseen},
			{flagSetPrefix(id, setDeleted), &fs.Deleted},
		} {
			if err := readBlocks(ctx, tx, part.prefix, part.dst); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fs, nil
}

// readBlocks appends the UIDs of the bitmaps under prefix.
func readBlocks(ctx context.Context, tx *badger.Txn, prefix []byte, dst *[]UID) error {
	it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		block := binary.BigEndian.Uint32(it.Item().Key()[len(prefix):])
		if err := it.Item().Value(func(v []byte) error {
			*dst = appendBlockUIDs(*dst, block, v)
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
