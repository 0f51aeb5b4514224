package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Private \Seen. A mailbox whose \Seen is kept per user (the protocol
// layer decides which, and for whom) keeps each such user's read state
// apart from the message record: a bitmap of blockUIDs UIDs per block, as
// the UID blocks are (uidset.go), holding the UIDs the user has seen. The
// record's \Seen stays the owner's.
//
//   - A change of a user's \Seen gives the message a new mod-sequence, in
//     the record and the mod-sequence index, as any flag change does: a
//     CONDSTORE client of that user resyncs, others see a newer MODSEQ
//     with the flags they had. It is published as ChangeSeen with the
//     user named; the record's own changes as ChangeFlags, those of the
//     record's \Seen alone (the owner's) marked SeenOnly. AppendMany
//     puts a \Seen given with NewMessage.SeenBy into that user's state
//     in the same transaction.
//   - Only UIDs of messages present when the bit was set are set; an
//     expunge clears the expunged UIDs from every user's blocks in its
//     transaction, a mailbox's purge drops them all, and PurgeAccount
//     drops the account's blocks in every mailbox. A block with no bit
//     set is deleted, so a user's state is at most a 128-byte value per
//     1,024 UIDs of the mailbox.
//   - Check reports blocks of mailboxes that no longer exist and bits of
//     UIDs the mailbox does not hold; Repair removes them.
const kindSeen byte = 0x1E // kindSeen|mailbox id|user|0|block number (uint32) -> bitmap of the UIDs user has seen

func seenPrefix(id MailboxID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindSeen}, uint64(id))
}

func seenUserPrefix(id MailboxID, user string) []byte {
	return append(append(seenPrefix(id), strings.ToLower(user)...), 0)
}

func seenKey(id MailboxID, user string, block uint32) []byte {
	return binary.BigEndian.AppendUint32(seenUserPrefix(id, user), block)
}

// seenKeyParts splits a kindSeen key; ok is false for a malformed one.
func seenKeyParts(k []byte) (id MailboxID, user string, block uint32, ok bool) {
	if len(k) < 1+8+1+4 || k[0] != kindSeen {
		return 0, "", 0, false
	}
	rest := k[9 : len(k)-4]
	if len(rest) == 0 || rest[len(rest)-1] != 0 || bytes.IndexByte(rest, 0) != len(rest)-1 {
		return 0, "", 0, false
	}
	return MailboxID(binary.BigEndian.Uint64(k[1:9])), string(rest[:len(rest)-1]), binary.BigEndian.Uint32(k[len(k)-4:]), true
}

// seenUsers returns the users with private \Seen state in mailbox id,
// read once per transaction.
func (tx *txn) seenUsers(id MailboxID) []string {
	if users, ok := tx.seenBy[id]; ok {
		return users
	}
	var users []string
	prefix := seenPrefix(id)
	it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix})
	for it.Rewind(); it.Valid(); {
		_, user, _, ok := seenKeyParts(it.Item().Key())
		if !ok {
			it.Next()
			continue
		}
		users = append(users, user)
		// Skip the user's other blocks.
		it.Seek(append(append(slices.Clone(prefix), user...), 1))
	}
	it.Close()
	if tx.seenBy == nil {
		tx.seenBy = map[MailboxID][]string{}
	}
	tx.seenBy[id] = users
	return users
}

// hasSeen reports whether user's private \Seen of uid is set.
func (tx *txn) hasSeen(id MailboxID, user string, uid UID) (bool, error) {
	b, err := tx.block(seenKey(id, user, uint32(uid)/blockUIDs))
	if err != nil {
		return false, err
	}
	i := uint32(uid) % blockUIDs
	return b[i/8]&(1<<(i%8)) != 0, nil
}

// markSeen sets or clears user's private \Seen of uid.
func (tx *txn) markSeen(id MailboxID, user string, uid UID, seen bool) error {
	if err := tx.mark(seenKey(id, user, uint32(uid)/blockUIDs), uid, seen); err != nil {
		return err
	}
	if seen {
		users := tx.seenUsers(id)
		for _, u := range users {
			if u == strings.ToLower(user) {
				return nil
			}
		}
		tx.seenBy[id] = append(users, strings.ToLower(user))
	}
	return nil
}

// forgetSeen clears an expunged uid from every user's private \Seen.
func (tx *txn) forgetSeen(id MailboxID, uid UID) error {
	for _, u := range tx.seenUsers(id) {
		if err := tx.mark(seenKey(id, u, uint32(uid)/blockUIDs), uid, false); err != nil {
			return err
		}
	}
	return nil
}

// SeenUIDs returns the UIDs of mailbox id that user has seen, in the
// private \Seen state, ascending, read in one snapshot.
func (s *Store) SeenUIDs(ctx context.Context, id MailboxID, user string) ([]UID, error) {
	var uids []UID
	err := s.view(func(tx *badger.Txn) error {
		return readBlocks(ctx, tx, seenUserPrefix(id, user), &uids)
	})
	return uids, err
}

// UnseenFor counts the messages of mailbox id that user has not seen in
// the private \Seen state (STATUS UNSEEN), from the UID blocks and the
// user's blocks, one snapshot.
func (s *Store) UnseenFor(ctx context.Context, id MailboxID, user string) (uint32, error) {
	var n uint32
	err := s.view(func(tx *badger.Txn) error {
		seen := map[uint32][]byte{}
		prefix := seenUserPrefix(id, user)
		it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return err
			}
			seen[binary.BigEndian.Uint32(it.Item().Key()[len(prefix):])] = v
		}
		it.Close()
		prefix = uidBlockPrefix(id)
		it = tx.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			mine := seen[binary.BigEndian.Uint32(it.Item().Key()[len(prefix):])]
			if err := it.Item().Value(func(v []byte) error {
				for i, x := range v {
					if i < len(mine) {
						x &^= mine[i]
					}
					n += uint32(bits.OnesCount8(x))
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// StoreFlagsAs is StoreFlagsIf for user on a mailbox whose \Seen user
// keeps privately: \Seen is read from and written to user's own state,
// every other flag to the message record; keep sees and returns flags as
// user sees them, and so are the returned messages' flags. A message
// whose \Seen or record flags change gets a new mod-sequence.
func (s *Store) StoreFlagsAs(ctx context.Context, id MailboxID, user string, uids []UID, op FlagOp, flags Flags, keep func(old, proposed Flags) Flags, unchangedSince *uint64) ([]Message, []UID, error) {
	var changed []Message
	var modified []UID
	err := inBatches(uids, flagBatch, func(batch []UID) error {
		c, m, err := s.storeFlagsBatch(ctx, id, user, batch, op, flags, keep, unchangedSince)
		if err == nil {
			changed, modified = append(changed, c...), append(modified, m...)
		}
		return err
	})
	return changed, modified, err
}

// dropSeenOf removes user's private \Seen state in every mailbox.
func (s *Store) dropSeenOf(ctx context.Context, user string) error {
	user = strings.ToLower(user)
	var keys [][]byte
	if err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindSeen}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, u, _, ok := seenKeyParts(it.Item().Key()); ok && u == user {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return inBatches(keys, purgeBatch, func(batch [][]byte) error {
		return s.update(ctx, nil, func(tx *txn) error {
			for _, k := range batch {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// checkSeenBlocks reports private \Seen blocks of mailboxes that are gone
// and bits of UIDs their mailbox does not hold (expunged), checked
// against the UID blocks (which checkUIDBlocks checks against the
// records).
func checkSeenBlocks(ctx context.Context, tx *badger.Txn, mailboxes map[MailboxID]*Mailbox, report func(string, ...any), add func(fix)) error {
	it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindSeen}})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := it.Item().KeyCopy(nil)
		id, user, block, ok := seenKeyParts(k)
		if !ok {
			report("malformed private \\Seen key %x", k)
			add(fix{key: k, delete: true})
			continue
		}
		if _, ok := mailboxes[id]; !ok {
			report("mailbox %d: private \\Seen of %s kept for a mailbox that is gone", id, user)
			add(fix{key: k, delete: true})
			continue
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		present, _, err := getValue(tx, uidBlockKey(id, block))
		if err != nil {
			return err
		}
		want := make([]byte, len(v))
		for i := range v {
			if i < len(present) {
				want[i] = v[i] & present[i]
			}
		}
		last := len(want)
		for last > 0 && want[last-1] == 0 {
			last--
		}
		want = want[:last]
		if !bytes.Equal(want, v) {
			report("mailbox %d: private \\Seen of %s holds UIDs the mailbox does not (block %d)", id, user, block)
			if last == 0 {
				add(fix{key: k, delete: true})
			} else {
				add(fix{key: k, value: want})
			}
		}
	}
	return nil
}
