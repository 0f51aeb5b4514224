package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Message record versions: 2 adds the save date (RFC 8514) at the end;
// version 1 records, written before, have none and are still read.
const (
	messageRecordV1 = 1
	messageRecordV2 = 2
)

func (m *Message) encode() []byte {
	e := enc{b: make([]byte, 0, 64+len(m.Prefix))}
	e.byte1(messageRecordV2)
	e.byte1(byte(m.Flags.Sys))
	e.uvarint(m.ModSeq)
	e.varint(m.InternalDate.Unix()) // IMAP's INTERNALDATE has seconds
	e.uvarint(uint64(m.Size))
	e.uvarint(uint64(m.Body))
	e.bytes(m.Prefix)
	e.uvarint(uint64(len(m.Flags.Keywords)))
	for _, k := range m.Flags.Keywords {
		e.str(k)
	}
	var saved int64
	if !m.SaveDate.IsZero() {
		saved = m.SaveDate.Unix()
	}
	e.varint(saved)
	return e.b
}

func decodeMessage(uid UID, b []byte) (*Message, error) {
	d := dec{b: b}
	v := d.byte1()
	if v != messageRecordV1 && v != messageRecordV2 {
		return nil, fmt.Errorf("message %d: %w (version %d)", uid, errCorrupt, v)
	}
	m := &Message{UID: uid}
	m.Flags.Sys = SysFlags(d.byte1())
	m.ModSeq = d.uvarint()
	m.InternalDate = time.Unix(d.varint(), 0)
	m.Size = int64(d.uvarint())
	m.Body = BodyID(d.uvarint())
	if p := d.bytes(); len(p) > 0 {
		m.Prefix = p
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.Flags.Keywords = append(m.Flags.Keywords, d.str())
	}
	if v == messageRecordV2 {
		if saved := d.varint(); saved != 0 {
			m.SaveDate = time.Unix(saved, 0)
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("message %d: %w", uid, d.err)
	}
	return m, nil
}

func getMessage(tx *badger.Txn, id MailboxID, uid UID) (*Message, error) {
	v, ok, err := getValue(tx, messageKey(id, uid))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoMessage
	}
	return decodeMessage(uid, v)
}

// Delivery is one copy of a message for one mailbox.
type Delivery struct {
	Mailbox MailboxID
	NewMessage
	// Quota is the owning account's byte limit; 0 means none.
	Quota int64
}

// Delivered says where a delivery landed.
type Delivered struct {
	Mailbox     MailboxID
	UID         UID
	UIDValidity uint32
}

// Deliver stores body once and adds a message referring to it to every
// delivery's mailbox, in one transaction: either every mailbox has the
// message when Deliver returns, or none has. Deliveries too many for one
// Badger transaction (a couple of thousand mailboxes: the memtable size
// sets it) are split in halves, each one transaction sharing the one
// body; the split is decided before anything is committed, so only a
// later half failing for another reason (the disk full) leaves some
// mailboxes with the message and the error returned.
func (s *Store) Deliver(ctx context.Context, body []byte, deliveries []Delivery) ([]Delivered, error) {
	if len(body) > maxBodySize {
		return nil, ErrTooLarge
	}
	if err := s.RoomFor(len(body) + 512*len(deliveries)); err != nil {
		return nil, err
	}
	hash := sha256.Sum256(body)
	var out []Delivered
	err := splitTooBig(deliveries, func(part []Delivery) error {
		d, err := s.deliverOnce(ctx, hash, body, part)
		if err == nil {
			out = append(out, d...)
		}
		return err
	})
	return out, err
}

// deliverOnce is Deliver in one transaction.
func (s *Store) deliverOnce(ctx context.Context, hash [32]byte, body []byte, deliveries []Delivery) ([]Delivered, error) {
	ids := make([]MailboxID, len(deliveries))
	for i, d := range deliveries {
		ids[i] = d.Mailbox
	}
	var out []Delivered
	err := s.update(ctx, ids, func(tx *txn) error {
		out = out[:0]
		bodyID, err := tx.refContent(hash, body, len(deliveries), true)
		if err != nil {
			return err
		}
		for _, d := range deliveries {
			m, err := getMailbox(tx.Txn, d.Mailbox)
			if err != nil {
				return err
			}
			date := d.InternalDate
			if date.IsZero() {
				date = tx.s.now()
			}
			msg := &Message{
				Flags:        Flags{Sys: d.Flags.Sys, Keywords: slices.Clone(d.Flags.Keywords)},
				InternalDate: date,
				Size:         int64(len(d.Prefix) + len(body)),
				Body:         bodyID,
				Prefix:       d.Prefix,
			}
			if err := tx.addMessage(m, msg, d.Quota); err != nil {
				return err
			}
			out = append(out, Delivered{Mailbox: m.ID, UID: msg.UID, UIDValidity: m.UIDValidity})
		}
		return nil
	})
	return out, err
}

// Append adds one message to one mailbox (IMAP APPEND).
func (s *Store) Append(ctx context.Context, id MailboxID, body []byte, msg NewMessage, quota int64) (Delivered, error) {
	d, err := s.Deliver(ctx, body, []Delivery{{Mailbox: id, NewMessage: msg, Quota: quota}})
	if err != nil {
		return Delivered{}, err
	}
	return d[0], nil
}

// addMessage assigns msg the mailbox's next UID and modseq, stores it,
// updates the mailbox's counters and the account's usage, and queues the
// change. The body reference is the caller's to take.
func (tx *txn) addMessage(m *Mailbox, msg *Message, quota int64) error {
	if quota > 0 {
		used, err := tx.usage(m.Account)
		if err != nil {
			return err
		}
		if used+msg.Size > quota {
			return ErrOverQuota
		}
	}
	if m.UIDNext == 0 || uint64(m.UIDNext) >= 1<<32-1 {
		return fmt.Errorf("mailbox %q: UID space exhausted", m.Name)
	}
	msg.UID = m.UIDNext
	msg.SaveDate = tx.s.now() // RFC 8514: when it came into this mailbox
	m.UIDNext++
	m.HighestModSeq++
	msg.ModSeq = m.HighestModSeq
	m.Messages++
	if msg.Flags.Sys&FlagSeen == 0 {
		m.Unseen++
	}
	m.Size += msg.Size
	if err := tx.Set(messageKey(m.ID, msg.UID), msg.encode()); err != nil {
		return err
	}
	if err := tx.indexMessage(m.ID, msg.UID, 0, msg.ModSeq); err != nil {
		return err
	}
	if err := tx.markUID(m.ID, msg.UID, true); err != nil {
		return err
	}
	if err := tx.markFlags(m.ID, msg.UID, nil, &msg.Flags); err != nil {
		return err
	}
	if err := tx.noteKeywords(m.ID, msg.Flags); err != nil {
		return err
	}
	if err := tx.putMailbox(m); err != nil {
		return err
	}
	if err := tx.addUsage(m.Account, msg.Size); err != nil {
		return err
	}
	tx.publish(Change{Mailbox: m.ID, ModSeq: msg.ModSeq, Kind: ChangeAppend, Messages: []Message{*msg}})
	return nil
}

// removeMessage deletes one message record, releases its body and updates
// the mailbox counters. The caller publishes.
func (tx *txn) removeMessage(id MailboxID, uid UID) (*Mailbox, error) {
	msg, err := getMessage(tx.Txn, id, uid)
	if err != nil {
		return nil, err
	}
	v, ok, err := getValue(tx.Txn, mailboxKey(id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoMailbox
	}
	m, err := decodeMailbox(id, v)
	if err != nil {
		return nil, err
	}
	m.Messages--
	if msg.Flags.Sys&FlagSeen == 0 {
		m.Unseen--
	}
	m.Size -= msg.Size
	if !m.deleted {
		m.HighestModSeq++
		if err := tx.addUsage(m.Account, -msg.Size); err != nil {
			return nil, err
		}
		if err := tx.indexExpunge(id, uid, msg.ModSeq, m.HighestModSeq); err != nil {
			return nil, err
		}
		if err := tx.forgetSeen(id, uid); err != nil {
			return nil, err
		}
	} else if err := tx.Delete(modseqKey(id, msg.ModSeq, uid)); err != nil {
		return nil, err
	}
	if err := tx.putMailbox(m); err != nil {
		return nil, err
	}
	if err := tx.unrefBody(msg.Body); err != nil {
		return nil, err
	}
	if err := tx.markUID(id, uid, false); err != nil {
		return nil, err
	}
	if err := tx.markFlags(id, uid, &msg.Flags, nil); err != nil {
		return nil, err
	}
	return m, tx.Delete(messageKey(id, uid))
}

func (tx *txn) usage(account string) (int64, error) {
	v, _, err := getValue(tx.Txn, usageKey(account))
	if err != nil || len(v) != 8 {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func (tx *txn) addUsage(account string, delta int64) error {
	if delta == 0 {
		return nil
	}
	u, err := tx.usage(account)
	if err != nil {
		return err
	}
	return tx.Set(usageKey(account), binary.BigEndian.AppendUint64(nil, uint64(max(u+delta, 0))))
}

// Usage returns the bytes the account's messages take, as clients see them.
func (s *Store) Usage(ctx context.Context, account string) (int64, error) {
	var u int64
	err := s.view(func(tx *badger.Txn) error {
		var err error
		u, err = (&txn{Txn: tx}).usage(account)
		return err
	})
	return u, err
}

// UIDs returns the mailbox's UIDs in ascending order. It reads keys only.
func (s *Store) UIDs(ctx context.Context, id MailboxID) ([]UID, error) {
	var uids []UID
	err := s.view(func(tx *badger.Txn) error {
		uids = scanUIDs(tx, id, 0)
		return nil
	})
	return uids, err
}

// Messages calls fn for each message of the mailbox whose UID is in
// [from, to], in UID order; to = 0 means no upper bound. fn must not keep
// the *Message past the call.
func (s *Store) Messages(ctx context.Context, id MailboxID, from, to UID, fn func(*Message) error) error {
	return s.view(func(tx *badger.Txn) error {
		prefix := messagePrefix(id)
		// Records are small and stored inline in the LSM tree: prefetching
		// would start a goroutine per item for nothing.
		it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(messageKey(id, from)); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			uid := uidFromKey(item.Key())
			if to != 0 && uid > to {
				break
			}
			var msg *Message
			err := item.Value(func(v []byte) error {
				var err error
				msg, err = decodeMessage(uid, v)
				return err
			})
			if err != nil {
				return err
			}
			if err := fn(msg); err != nil {
				return err
			}
		}
		return nil
	})
}

// Message returns one message's record.
func (s *Store) Message(ctx context.Context, id MailboxID, uid UID) (*Message, error) {
	var m *Message
	err := s.view(func(tx *badger.Txn) error {
		var err error
		m, err = getMessage(tx, id, uid)
		return err
	})
	return m, err
}

// StoreFlags changes the flags of the given messages (missing UIDs are
// skipped) and returns the messages whose flags changed, with their new
// flags and modseqs. keep, if not nil, may veto a change per message (the
// caller's rights check); it sees the old and proposed flags and returns
// the flags to write.
func (s *Store) StoreFlags(ctx context.Context, id MailboxID, uids []UID, op FlagOp, flags Flags, keep func(old, proposed Flags) Flags) ([]Message, error) {
	changed, _, err := s.StoreFlagsIf(ctx, id, uids, op, flags, keep, nil)
	return changed, err
}

// StoreFlagsIf is StoreFlags that changes only the messages whose
// mod-sequence is at most *unchangedSince (RFC 7162 UNCHANGEDSINCE),
// checked in the same transaction; it returns the UIDs of the others
// (modified since) ascending. A nil unchangedSince checks nothing.
func (s *Store) StoreFlagsIf(ctx context.Context, id MailboxID, uids []UID, op FlagOp, flags Flags, keep func(old, proposed Flags) Flags, unchangedSince *uint64) ([]Message, []UID, error) {
	// A large set (\Seen on a whole mailbox) is changed in transactions
	// of flagBatch messages, or fewer if Badger finds one too large: each
	// message's change is whole, and each batch is published.
	var changed []Message
	var modified []UID
	err := inBatches(uids, flagBatch, func(batch []UID) error {
		c, m, err := s.storeFlagsBatch(ctx, id, "", batch, op, flags, keep, unchangedSince)
		if err == nil {
			changed, modified = append(changed, c...), append(modified, m...)
		}
		return err
	})
	return changed, modified, err
}

// flagBatch is the most messages StoreFlagsIf changes in one transaction.
const flagBatch = 5000

func (s *Store) storeFlagsBatch(ctx context.Context, id MailboxID, user string, uids []UID, op FlagOp, flags Flags, keep func(old, proposed Flags) Flags, unchangedSince *uint64) ([]Message, []UID, error) {
	var changed, recordChanged, oldRecords, seenChanged []Message
	var modified []UID
	err := s.update(ctx, []MailboxID{id}, func(tx *txn) error {
		changed, recordChanged, oldRecords, seenChanged, modified = changed[:0], recordChanged[:0], oldRecords[:0], seenChanged[:0], modified[:0]
		m, err := getMailbox(tx.Txn, id)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			msg, err := getMessage(tx.Txn, id, uid)
			if err == ErrNoMessage {
				continue
			}
			if err != nil {
				return err
			}
			if unchangedSince != nil && msg.ModSeq > *unchangedSince {
				modified = append(modified, uid)
				continue
			}
			// seen is the \Seen the user sees: the record's, or with
			// private \Seen the user's own.
			seen := msg.Flags.Sys&FlagSeen != 0
			if user != "" {
				if seen, err = tx.hasSeen(id, user, uid); err != nil {
					return err
				}
			}
			old := Flags{Sys: msg.Flags.Sys&^FlagSeen | seenBit(seen), Keywords: msg.Flags.Keywords}
			nf := old.apply(op, flags)
			if keep != nil {
				nf = keep(old, nf)
			}
			if nf.equal(old) {
				continue
			}
			isSeen := nf.Sys&FlagSeen != 0
			record := nf
			if user != "" {
				record.Sys = nf.Sys&^FlagSeen | msg.Flags.Sys&FlagSeen
			}
			m.HighestModSeq++
			oldFlags, oldModSeq := msg.Flags, msg.ModSeq
			msg.Flags, msg.ModSeq = record, m.HighestModSeq
			if err := tx.Set(messageKey(id, uid), msg.encode()); err != nil {
				return err
			}
			if err := tx.indexMessage(id, uid, oldModSeq, msg.ModSeq); err != nil {
				return err
			}
			if !record.equal(oldFlags) {
				if wasSeen, isSeen := oldFlags.Sys&FlagSeen != 0, record.Sys&FlagSeen != 0; wasSeen && !isSeen {
					m.Unseen++
				} else if !wasSeen && isSeen {
					m.Unseen--
				}
				if err := tx.noteKeywords(id, record); err != nil {
					return err
				}
				if err := tx.markFlags(id, uid, &oldFlags, &record); err != nil {
					return err
				}
				recordChanged = append(recordChanged, *msg)
				oldRecords = append(oldRecords, Message{UID: uid, Flags: oldFlags})
			}
			mine := *msg
			if user != "" {
				mine.Flags = nf
				if isSeen != seen {
					if err := tx.markSeen(id, user, uid, isSeen); err != nil {
						return err
					}
					seenChanged = append(seenChanged, mine)
				}
			}
			changed = append(changed, mine)
		}
		if len(changed) == 0 {
			return nil
		}
		// Record changes of \Seen alone are told apart, for the readers
		// who keep their own \Seen.
		var seenOnly, others []Message
		for i, msg := range recordChanged {
			if old := oldRecords[i].Flags; msg.Flags.Sys&^FlagSeen == old.Sys&^FlagSeen && slices.Equal(msg.Flags.Keywords, old.Keywords) {
				seenOnly = append(seenOnly, msg)
			} else {
				others = append(others, msg)
			}
		}
		if len(others) > 0 {
			tx.publish(Change{Mailbox: id, ModSeq: m.HighestModSeq, Kind: ChangeFlags, Messages: others})
		}
		if len(seenOnly) > 0 {
			tx.publish(Change{Mailbox: id, ModSeq: m.HighestModSeq, Kind: ChangeFlags, Messages: seenOnly, SeenOnly: true})
		}
		if len(seenChanged) > 0 {
			tx.publish(Change{Mailbox: id, ModSeq: m.HighestModSeq, Kind: ChangeSeen, User: strings.ToLower(user), Messages: slices.Clone(seenChanged)})
		}
		return tx.putMailbox(m)
	})
	return changed, modified, err
}

func seenBit(seen bool) SysFlags {
	if seen {
		return FlagSeen
	}
	return 0
}

// Expunge removes the given messages (nil: every message flagged
// \Deleted) that are flagged \Deleted, and returns their UIDs ascending.
// Large expunges are split into transactions of purgeBatch messages, or
// fewer when their bodies have many chunks to delete.
func (s *Store) Expunge(ctx context.Context, id MailboxID, uids []UID) ([]UID, error) {
	var targets []UID
	err := s.Messages(ctx, id, 1, 0, func(m *Message) error {
		if m.Flags.Sys&FlagDeleted != 0 {
			targets = append(targets, m.UID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if uids != nil {
		targets = slices.DeleteFunc(targets, func(u UID) bool { _, ok := slices.BinarySearch(uids, u); return !ok })
	}
	var done []UID
	err = inBatches(targets, purgeBatch, func(chunk []UID) error {
		var removed []UID
		err := s.update(ctx, []MailboxID{id}, func(tx *txn) error {
			removed = removed[:0]
			var m *Mailbox
			for _, uid := range chunk {
				msg, err := getMessage(tx.Txn, id, uid)
				if err == ErrNoMessage || (err == nil && msg.Flags.Sys&FlagDeleted == 0) {
					continue // already gone, or undeleted since we looked
				}
				if err != nil {
					return err
				}
				if m, err = tx.removeMessage(id, uid); err != nil {
					return err
				}
				removed = append(removed, uid)
			}
			if len(removed) > 0 {
				tx.publish(Change{Mailbox: id, ModSeq: m.HighestModSeq, Kind: ChangeExpunge, UIDs: slices.Clone(removed)})
			}
			return nil
		})
		if err == nil {
			done = append(done, removed...)
		}
		return err
	})
	return done, err
}

// Copied maps source UIDs to the UIDs of their copies.
type Copied struct {
	UIDValidity uint32
	Source      []UID
	Dest        []UID
}

// Copy copies messages into dst, sharing their bodies, keeping flags and
// internal dates. Missing source UIDs are skipped.
func (s *Store) Copy(ctx context.Context, src MailboxID, uids []UID, dst MailboxID, quota int64) (*Copied, error) {
	return s.copyMove(ctx, src, uids, dst, quota, false)
}

// Move moves messages into dst in one transaction: the copies appear and
// the originals are expunged together (RFC 6851). quota, the destination
// owner's, applies only when dst belongs to another account: a move
// within one account does not change its usage.
func (s *Store) Move(ctx context.Context, src MailboxID, uids []UID, dst MailboxID, quota int64) (*Copied, error) {
	return s.copyMove(ctx, src, uids, dst, quota, true)
}

// copyChunk bounds the messages one COPY or MOVE transaction handles; a
// chunk Badger finds too large for one transaction is split (inBatches).
const copyChunk = 2000

// copyMove copies or moves in transactions of at most copyChunk messages. COPY is
// all or nothing (RFC 9051 §6.4.7): if a later chunk fails, the copies
// already made are removed again. MOVE keeps the chunks already moved;
// each is complete and announced, and the client is told of the failure.
func (s *Store) copyMove(ctx context.Context, src MailboxID, uids []UID, dst MailboxID, quota int64, move bool) (*Copied, error) {
	all := &Copied{}
	err := inBatches(uids, copyChunk, func(chunk []UID) error {
		cp, err := s.copyMoveChunk(ctx, src, chunk, dst, quota, move)
		if err != nil {
			return err
		}
		all.UIDValidity = cp.UIDValidity
		all.Source = append(all.Source, cp.Source...)
		all.Dest = append(all.Dest, cp.Dest...)
		return nil
	})
	if err != nil {
		if !move && len(all.Dest) > 0 {
			if rerr := s.removeCopies(ctx, dst, all.Dest); rerr != nil {
				return nil, fmt.Errorf("%w (and undoing the partial copy: %v)", err, rerr)
			}
		}
		if move && len(all.Source) > 0 {
			return all, err
		}
		return nil, err
	}
	if all.UIDValidity == 0 {
		dm, err := s.Mailbox(ctx, dst)
		if err != nil {
			return nil, err
		}
		all.UIDValidity = dm.UIDValidity
	}
	return all, nil
}

// removeCopies deletes messages a failed COPY added to dst.
func (s *Store) removeCopies(ctx context.Context, dst MailboxID, uids []UID) error {
	return inBatches(uids, purgeBatch, func(chunk []UID) error {
		return s.update(ctx, []MailboxID{dst}, func(tx *txn) error {
			var m *Mailbox
			for _, uid := range chunk {
				var err error
				if m, err = tx.removeMessage(dst, uid); err != nil && err != ErrNoMessage {
					return err
				}
			}
			if m != nil {
				tx.publish(Change{Mailbox: dst, ModSeq: m.HighestModSeq, Kind: ChangeExpunge, UIDs: slices.Clone(chunk)})
			}
			return nil
		})
	})
}

func (s *Store) copyMoveChunk(ctx context.Context, src MailboxID, uids []UID, dst MailboxID, quota int64, move bool) (*Copied, error) {
	var out *Copied
	err := s.update(ctx, []MailboxID{src, dst}, func(tx *txn) error {
		out = &Copied{}
		sm, err := getMailbox(tx.Txn, src)
		if err != nil {
			return err
		}
		dm, err := getMailbox(tx.Txn, dst)
		if err != nil {
			return err
		}
		out.UIDValidity = dm.UIDValidity
		// A MOVE between mailboxes of one account leaves its usage as it
		// was, so it never fails on quota; across accounts only the
		// destination's owner is charged (quota is theirs).
		if move && sm.Account == dm.Account {
			quota = 0
		}
		var appended []Message
		for _, uid := range uids {
			msg, err := getMessage(tx.Txn, src, uid)
			if err == ErrNoMessage {
				continue
			}
			if err != nil {
				return err
			}
			if err := tx.addRef(msg.Body, 1); err != nil {
				return err
			}
			cp := *msg
			if src == dst && move {
				return fmt.Errorf("move into the same mailbox")
			}
			if err := tx.addMessage(dm, &cp, quota); err != nil {
				return err
			}
			appended = append(appended, cp)
			out.Source = append(out.Source, uid)
			out.Dest = append(out.Dest, cp.UID)
		}
		// addMessage queued one change per message; fold them into one.
		tx.changes = slices.DeleteFunc(tx.changes, func(c Change) bool { return c.Mailbox == dst && c.Kind == ChangeAppend })
		if len(appended) > 0 {
			tx.publish(Change{Mailbox: dst, ModSeq: dm.HighestModSeq, Kind: ChangeAppend, Messages: appended})
		}
		if !move || len(out.Source) == 0 {
			return nil
		}
		for _, uid := range out.Source {
			if sm, err = tx.removeMessage(src, uid); err != nil {
				return err
			}
		}
		tx.publish(Change{Mailbox: src, ModSeq: sm.HighestModSeq, Kind: ChangeExpunge, UIDs: slices.Clone(out.Source)})
		return nil
	})
	return out, err
}

// MaxAppendMany bounds the messages of one AppendMany (one transaction).
const MaxAppendMany = 500

// AppendMany appends messages to one mailbox in one transaction: all of
// them or none (IMAP MULTIAPPEND, RFC 3502), each within quota.
func (s *Store) AppendMany(ctx context.Context, id MailboxID, bodies [][]byte, msgs []NewMessage, quota int64) ([]Delivered, error) {
	if len(bodies) != len(msgs) || len(bodies) == 0 {
		return nil, fmt.Errorf("append many: %d bodies for %d messages", len(bodies), len(msgs))
	}
	if len(bodies) > MaxAppendMany {
		return nil, ErrTooLarge
	}
	size := 0
	for _, b := range bodies {
		if len(b) > maxBodySize {
			return nil, ErrTooLarge
		}
		size += len(b) + 512
	}
	if err := s.RoomFor(size); err != nil {
		return nil, err
	}
	var out []Delivered
	err := s.update(ctx, []MailboxID{id}, func(tx *txn) error {
		out = out[:0]
		m, err := getMailbox(tx.Txn, id)
		if err != nil {
			return err
		}
		for i, body := range bodies {
			hash, err := tx.refContent(sha256.Sum256(body), body, 1, true)
			if err != nil {
				return err
			}
			date := msgs[i].InternalDate
			if date.IsZero() {
				date = tx.s.now()
			}
			flags, seenBy := msgs[i].Flags, ""
			if msgs[i].SeenBy != "" && flags.Sys&FlagSeen != 0 {
				flags.Sys &^= FlagSeen
				seenBy = strings.ToLower(msgs[i].SeenBy)
			}
			msg := &Message{Flags: flags, InternalDate: date, Size: int64(len(msgs[i].Prefix) + len(body)), Body: hash, Prefix: msgs[i].Prefix}
			if err := tx.addMessage(m, msg, quota); err != nil {
				return err
			}
			out = append(out, Delivered{Mailbox: id, UID: msg.UID, UIDValidity: m.UIDValidity})
			if seenBy != "" {
				if err := tx.markSeen(id, seenBy, msg.UID, true); err != nil {
					return err
				}
				mine := *msg
				mine.Flags.Sys |= FlagSeen
				tx.publish(Change{Mailbox: id, ModSeq: msg.ModSeq, Kind: ChangeSeen, User: seenBy, Messages: []Message{mine}})
			}
		}
		return nil
	})
	return out, err
}

// AppendBatch appends many messages to one mailbox, several hundred per
// transaction (fewer when their bodies have many chunks to write): the
// path for imports and bulk loads. Each chunk lands whole
// or not at all; on error the earlier chunks stay.
func (s *Store) AppendBatch(ctx context.Context, id MailboxID, bodies [][]byte, msgs []NewMessage) error {
	if len(bodies) != len(msgs) {
		return fmt.Errorf("append batch: %d bodies for %d messages", len(bodies), len(msgs))
	}
	const chunk = 500
	idx := make([]int, len(bodies))
	for i := range idx {
		idx[i] = i
	}
	return inBatches(idx, chunk, func(batch []int) error {
		size := 0
		for _, i := range batch {
			size += len(bodies[i]) + 512
		}
		if err := s.RoomFor(size); err != nil {
			return err
		}
		return s.update(ctx, []MailboxID{id}, func(tx *txn) error {
			m, err := getMailbox(tx.Txn, id)
			if err != nil {
				return err
			}
			for _, i := range batch {
				if len(bodies[i]) > maxBodySize {
					return ErrTooLarge
				}
				hash, err := tx.refContent(sha256.Sum256(bodies[i]), bodies[i], 1, true)
				if err != nil {
					return err
				}
				date := msgs[i].InternalDate
				if date.IsZero() {
					date = tx.s.now()
				}
				msg := &Message{Flags: msgs[i].Flags, InternalDate: date, Size: int64(len(msgs[i].Prefix) + len(bodies[i])), Body: hash, Prefix: msgs[i].Prefix}
				if err := tx.addMessage(m, msg, 0); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// MessageCount returns how many messages the account's mailboxes hold
// (the MESSAGE quota resource), from their counters.
func (s *Store) MessageCount(ctx context.Context, account string) (int64, error) {
	boxes, err := s.Mailboxes(ctx, account)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, m := range boxes {
		n += int64(m.Messages)
	}
	return n, nil
}
