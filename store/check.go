package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Check recomputes every derived value from the records (mailbox counters,
// account usage, body reference counts) and returns the discrepancies it
// finds, as sentences. A store after any crash must check clean.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	err := s.view(func(tx *badger.Txn) error {
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
				}
			}
		}
		it.Close()

		for id, m := range mailboxes {
			var count, unseen uint32
			var size int64
			var maxUID UID
			var maxModSeq uint64
			mit := tx.NewIterator(badger.IteratorOptions{Prefix: messagePrefix(id), PrefetchValues: true})
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
			if m.Messages != count || m.Unseen != unseen || m.Size != size {
				report("mailbox %d (%s %q): counters say %d messages, %d unseen, %d bytes; records say %d, %d, %d",
					id, m.Account, m.Name, m.Messages, m.Unseen, m.Size, count, unseen, size)
			}
			if count > 0 && (m.UIDNext <= maxUID || m.HighestModSeq < maxModSeq) {
				report("mailbox %d (%s %q): UIDNEXT %d / HIGHESTMODSEQ %d not above its messages' %d / %d",
					id, m.Account, m.Name, m.UIDNext, m.HighestModSeq, maxUID, maxModSeq)
			}
			if !m.deleted {
				usage[strings.ToLower(m.Account)] += size
			}
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

		uit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindUsage}, PrefetchValues: true})
		for uit.Rewind(); uit.Valid(); uit.Next() {
			k := uit.Item().Key()
			account := string(k[1 : len(k)-1])
			v, _ := uit.Item().ValueCopy(nil)
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) != usage[account] {
				report("account %s: usage says %d bytes, messages add up to %d", account, binary.BigEndian.Uint64(v), usage[account])
			}
			delete(usage, account)
		}
		uit.Close()
		for account, u := range usage {
			if u != 0 {
				report("account %s: no usage record for %d bytes", account, u)
			}
		}

		rit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindRef}, PrefetchValues: true})
		for rit.Rewind(); rit.Valid(); rit.Next() {
			var h BodyID
			copy(h[:], rit.Item().Key()[1:])
			v, _ := rit.Item().ValueCopy(nil)
			var count uint64
			if len(v) == 16 {
				count = binary.BigEndian.Uint64(v)
			}
			if count != refs[h] {
				report("body %x: reference count %d, referenced by %d messages and queue entries", h[:6], count, refs[h])
			}
			if _, ok, _ := getValue(tx, bodyKey(h)); !ok {
				report("body %x: reference count without a body", h[:6])
			}
			delete(refs, h)
		}
		rit.Close()
		for h, n := range refs {
			report("body %x: referenced by %d messages but has no reference count", h[:6], n)
		}

		bit := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindBody}})
		for bit.Rewind(); bit.Valid(); bit.Next() {
			var h BodyID
			copy(h[:], bit.Item().Key()[1:])
			if _, ok, _ := getValue(tx, refKey(h)); !ok {
				report("body %x: orphan, no reference count", h[:6])
			}
		}
		bit.Close()
		return nil
	})
	return problems, err
}
