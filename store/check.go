package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// fix is one correction Repair writes: set key to value, or delete it.
type fix struct {
	key    []byte
	value  []byte
	delete bool
}

// Check recomputes every derived value from the records (mailbox counters,
// account usage, body reference counts) and returns the discrepancies it
// finds, as sentences. A store after any crash must check clean.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	var problems []string
	err := s.view(func(tx *badger.Txn) error {
		var err error
		problems, _, err = scan(ctx, tx)
		return err
	})
	return problems, err
}

// Repair is Check followed by the corrections: counters, usage and
// reference counts are set to what the records say, orphan bodies and
// reference counts without a body are removed. A message whose body is
// missing cannot be repaired and is only reported. It returns what it
// found; run Check after it to confirm.
//
// Repair runs alone: it waits for the operations in progress and holds
// every new one until it is done, so it is safe while the server runs.
func (s *Store) Repair(ctx context.Context) ([]string, error) {
	s.gate.Lock()
	defer s.gate.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var problems []string
	var fixes []fix
	err := s.db.View(func(tx *badger.Txn) error {
		var err error
		problems, fixes, err = scan(ctx, tx)
		return err
	})
	if err != nil || len(fixes) == 0 {
		return problems, err
	}
	err = inBatches(fixes, purgeBatch, func(batch []fix) error {
		return s.db.Update(func(tx *badger.Txn) error {
			for _, f := range batch {
				var err error
				if f.delete {
					err = tx.Delete(f.key)
				} else {
					err = tx.Set(f.key, f.value)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return problems, fmt.Errorf("repair: %w", err)
	}
	return problems, nil
}

// scan reads everything in one transaction, a consistent snapshot, and
// returns the problems and their fixes.
func scan(ctx context.Context, tx *badger.Txn) ([]string, []fix, error) {
	var problems []string
	var fixes []fix
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	err := func() error {
		refs := map[BodyID]uint64{}
		usage := map[string]int64{}
		mailboxes := map[MailboxID]*Mailbox{}

		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindMailbox}, PrefetchValues: true})
		for it.Rewind(); it.Valid(); it.Next() {
			id := MailboxID(binary.BigEndian.Uint64(it.Item().Key()[1:]))
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return err
			}
			m, err := decodeMailbox(id, v)
			if err != nil {
				report("%v", err)
				continue
			}
			mailboxes[id] = m
			if !m.deleted {
				if cur, ok, _ := lookupName(tx, m.Account, m.Name); !ok || cur != id {
					report("mailbox %d (%s %q): name index does not point at it", id, m.Account, m.Name)
					if !ok {
						fixes = append(fixes, fix{key: nameKey(kindName, m.Account, m.Name), value: binary.BigEndian.AppendUint64(nil, uint64(id))})
					}
				}
			}
		}
		it.Close()

		for id, m := range mailboxes {
			var count, unseen uint32
			var size int64
			var maxUID UID
			var maxModSeq uint64
			mit := tx.NewIterator(badger.IteratorOptions{Prefix: messagePrefix(id)})
			for mit.Rewind(); mit.Valid(); mit.Next() {
				if err := ctx.Err(); err != nil {
					mit.Close()
					return err
				}
				uid := uidFromKey(mit.Item().Key())
				v, err := mit.Item().ValueCopy(nil)
				if err != nil {
					mit.Close()
					return err
				}
				msg, err := decodeMessage(uid, v)
				if err != nil {
					report("mailbox %d: %v", id, err)
					continue
				}
				count++
				if msg.Flags.Sys&FlagSeen == 0 {
					unseen++
				}
				size += msg.Size
				maxUID = max(maxUID, uid)
				maxModSeq = max(maxModSeq, msg.ModSeq)
				refs[msg.Body]++
			}
			mit.Close()
			fixed := *m
			if m.Messages != count || m.Unseen != unseen || m.Size != size {
				report("mailbox %d (%s %q): counters say %d messages, %d unseen, %d bytes; records say %d, %d, %d",
					id, m.Account, m.Name, m.Messages, m.Unseen, m.Size, count, unseen, size)
				fixed.Messages, fixed.Unseen, fixed.Size = count, unseen, size
			}
			if count > 0 && (m.UIDNext <= maxUID || m.HighestModSeq < maxModSeq) {
				report("mailbox %d (%s %q): UIDNEXT %d / HIGHESTMODSEQ %d not above its messages' %d / %d",
					id, m.Account, m.Name, m.UIDNext, m.HighestModSeq, maxUID, maxModSeq)
				fixed.UIDNext = max(m.UIDNext, maxUID+1)
				fixed.HighestModSeq = max(m.HighestModSeq, maxModSeq)
			}
			if fixed != *m {
				fixes = append(fixes, fix{key: mailboxKey(id), value: fixed.encode()})
			}
			if !m.deleted {
				usage[strings.ToLower(m.Account)] += size
			}
		}

		if err := checkModSeqIndex(ctx, tx, mailboxes, report, func(f fix) { fixes = append(fixes, f) }); err != nil {
			return err
		}
		if err := checkUIDBlocks(ctx, tx, report, func(f fix) { fixes = append(fixes, f) }); err != nil {
			return err
		}
		if err := checkSeenBlocks(ctx, tx, mailboxes, report, func(f fix) { fixes = append(fixes, f) }); err != nil {
			return err
		}

		qit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindQueue}})
		for qit.Rewind(); qit.Valid(); qit.Next() {
			id := QueueID(binary.BigEndian.Uint64(qit.Item().Key()[1:]))
			v, _ := qit.Item().ValueCopy(nil)
			e, err := decodeQueueEntry(id, v)
			if err != nil {
				report("%v", err)
				continue
			}
			refs[e.Body]++
		}
		qit.Close()

		uit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindUsage}})
		for uit.Rewind(); uit.Valid(); uit.Next() {
			k := uit.Item().KeyCopy(nil)
			account := string(k[1 : len(k)-1])
			v, _ := uit.Item().ValueCopy(nil)
			if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) != usage[account] {
				report("account %s: usage record disagrees with its messages (%d bytes)", account, usage[account])
				fixes = append(fixes, fix{key: k, value: binary.BigEndian.AppendUint64(nil, uint64(usage[account]))})
			}
			delete(usage, account)
		}
		uit.Close()
		for account, u := range usage {
			if u != 0 {
				report("account %s: no usage record for %d bytes", account, u)
				fixes = append(fixes, fix{key: usageKey(account), value: binary.BigEndian.AppendUint64(nil, uint64(u))})
			}
		}

		// Manifests hold one reference per occurrence of each part; a
		// chunked body needs all its chunks.
		chunked := map[BodyID]uint32{} // chunk counts of chunked bodies
		mit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindBody}})
		for mit.Rewind(); mit.Valid(); mit.Next() {
			id := bodyIDFromKey(mit.Item().Key())
			err := mit.Item().Value(func(v []byte) error {
				switch {
				case len(v) > 0 && v[0] == bodyManifest:
					return decodeManifest(v, func([]byte) {}, func(p manifestPart) { refs[p.id]++ })
				case len(v) > 0 && v[0] == bodyChunked:
					_, n, err := decodeChunked(v)
					if err != nil {
						return err
					}
					chunked[id] = n
					for i := range n {
						if _, err := tx.Get(chunkKey(id, i)); err != nil {
							report("body %d: chunk %d of %d cannot be read: %v", id, i, n, err)
						}
					}
				}
				return nil
			})
			if err != nil {
				report("body %d: unreadable record: %v", id, err)
			}
		}
		mit.Close()
		// deleteBody is the fixes that remove body id and its chunks.
		infos := map[BodyID][][]byte{} // BodyInfo keys of each body
		deleteBody := func(id BodyID) []fix {
			out := []fix{{key: bodyKey(id), delete: true}}
			for i := range chunked[id] {
				out = append(out, fix{key: chunkKey(id, i), delete: true})
			}
			for _, k := range infos[id] {
				out = append(out, fix{key: k, delete: true})
			}
			return out
		}
		cit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindChunk}})
		for cit.Rewind(); cit.Valid(); cit.Next() {
			k := cit.Item().KeyCopy(nil)
			if len(k) != 13 {
				report("chunk key %x: malformed", k)
				fixes = append(fixes, fix{key: k, delete: true})
				continue
			}
			id, i := bodyIDFromKey(k), binary.BigEndian.Uint32(k[9:])
			if n, ok := chunked[id]; !ok || i >= n {
				report("body %d: orphan chunk %d", id, i)
				fixes = append(fixes, fix{key: k, delete: true})
			}
		}
		cit.Close()

		// What BodyInfo keeps goes with its body.
		iit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindInfo}})
		for iit.Rewind(); iit.Valid(); iit.Next() {
			k := iit.Item().KeyCopy(nil)
			if len(k) != 10 {
				report("body info key %x: malformed", k)
				fixes = append(fixes, fix{key: k, delete: true})
				continue
			}
			if _, ok, _ := getValue(tx, refKey(bodyIDFromKey(k))); !ok {
				report("body %d: orphan derived data", bodyIDFromKey(k))
				fixes = append(fixes, fix{key: k, delete: true})
				continue
			}
			infos[bodyIDFromKey(k)] = append(infos[bodyIDFromKey(k)], k)
		}
		iit.Close()

		hashes := map[[32]byte]BodyID{} // from the reference records
		rit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindRef}})
		for rit.Rewind(); rit.Valid(); rit.Next() {
			id := bodyIDFromKey(rit.Item().Key())
			v, _ := rit.Item().ValueCopy(nil)
			r, ok := decodeRef(v)
			if !ok {
				report("body %d: unreadable reference record", id)
				continue
			}
			hashes[r.hash] = id
			_, hasBody, _ := getValue(tx, bodyKey(id))
			want := refs[id]
			switch {
			case !hasBody:
				report("body %d: reference count without a body", id)
				fixes = append(fixes, fix{key: refKey(id), delete: true}, fix{key: hashKey(r.hash), delete: true})
			case want == 0:
				report("body %d: orphan, referenced by nothing (count says %d)", id, r.count)
				fixes = append(fixes, fix{key: refKey(id), delete: true}, fix{key: hashKey(r.hash), delete: true})
				fixes = append(fixes, deleteBody(id)...)
			case r.count != want:
				report("body %d: reference count %d, referenced %d times", id, r.count, want)
				r.count = want
				fixes = append(fixes, fix{key: refKey(id), value: r.encode()})
			}
			if hasBody && want > 0 {
				if iv, ok, _ := getValue(tx, hashKey(r.hash)); !ok || len(iv) != 8 || BodyID(binary.BigEndian.Uint64(iv)) != id {
					report("body %d: content index does not point at it", id)
					fixes = append(fixes, fix{key: hashKey(r.hash), value: binary.BigEndian.AppendUint64(nil, uint64(id))})
				}
			}
			delete(refs, id)
		}
		rit.Close()
		for id, n := range refs {
			if v, ok, _ := getValue(tx, bodyKey(id)); ok && len(v) > 0 {
				report("body %d: referenced %d times but has no reference count", id, n)
				h := sha256.Sum256(bodyContentForHash(tx, id, v))
				fixes = append(fixes, fix{key: refKey(id), value: refRecord{count: n, size: recordSize(v), hash: h}.encode()},
					fix{key: hashKey(h), value: binary.BigEndian.AppendUint64(nil, uint64(id))})
			} else {
				report("body %d: missing; referenced %d times and cannot be read", id, n)
			}
		}

		bit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindBody}})
		for bit.Rewind(); bit.Valid(); bit.Next() {
			id := bodyIDFromKey(bit.Item().Key())
			if _, ok, _ := getValue(tx, refKey(id)); !ok {
				if _, referenced := refs[id]; !referenced {
					report("body %d: orphan, no reference count", id)
					fixes = append(fixes, deleteBody(id)...)
				}
			}
		}
		bit.Close()

		hit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindHash}})
		for hit.Rewind(); hit.Valid(); hit.Next() {
			var h [32]byte
			copy(h[:], hit.Item().Key()[1:])
			if _, ok := hashes[h]; !ok {
				report("content index entry %x: points at no body", h[:6])
				fixes = append(fixes, fix{key: hashKey(h), delete: true})
			}
		}
		hit.Close()
		return nil
	}()
	return problems, fixes, err
}

// bodyContentForHash returns the content of body id whose record is v,
// assembling a manifest, to recompute a lost hash.
func bodyContentForHash(tx *badger.Txn, id BodyID, v []byte) []byte {
	if len(v) > 0 && v[0] == bodyRaw {
		return v[1:]
	}
	b, _ := appendBody(tx, id, nil)
	return b
}
