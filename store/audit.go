package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The audit log: what someone other than the owner did in the owner's
// mailboxes (flag changes, APPEND, COPY/MOVE in and out, EXPUNGE,
// CREATE/RENAME/DELETE, ACL changes, send-as, and optionally reads),
// kept for a retention period. Records are keyed by time, so reading a
// period and pruning the old ones are range scans.
const kindAudit byte = 0x1D // kindAudit|unix nanoseconds|sequence (uint32) -> record

// DefaultAuditRetention is how long audit records are kept when
// Options.AuditRetention is zero.
const DefaultAuditRetention = 180 * 24 * time.Hour

// AuditRecord is one action.
type AuditRecord struct {
	Time    time.Time `json:"time"`
	Account string    `json:"account"` // whose mailbox
	Actor   string    `json:"actor"`   // who did it
	Action  string    `json:"action"`  // "store", "append", "copy-in", "move-out", "expunge", "create", "setacl", "send-as", "read", …
	Mailbox string    `json:"mailbox,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// AuditFilter selects records; empty fields select everything.
type AuditFilter struct {
	Account, Actor string
	Since          time.Time
}

// auditKey orders records by time, then by s.auditSeq among records of
// the same nanosecond.
func (s *Store) auditKey(t time.Time) []byte {
	k := binary.BigEndian.AppendUint64([]byte{kindAudit}, uint64(t.UnixNano()))
	return binary.BigEndian.AppendUint32(k, s.auditSeq.Add(1))
}

// AddAudit stores records, in one transaction.
func (s *Store) AddAudit(ctx context.Context, recs []AuditRecord) error {
	return s.update(ctx, nil, func(tx *txn) error {
		for _, r := range recs {
			var e enc
			e.str(r.Account)
			e.str(r.Actor)
			e.str(r.Action)
			e.str(r.Mailbox)
			e.str(r.Detail)
			if err := tx.Set(s.auditKey(r.Time), e.b); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditLog calls fn with the records f selects, oldest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter, fn func(AuditRecord) error) error {
	return s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindAudit}})
		defer it.Close()
		start := []byte{kindAudit}
		if !f.Since.IsZero() {
			start = binary.BigEndian.AppendUint64(start, uint64(f.Since.UnixNano()))
		}
		for it.Seek(start); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) != 13 {
				continue
			}
			var r AuditRecord
			if err := it.Item().Value(func(v []byte) error {
				d := dec{b: v}
				r = AuditRecord{Time: time.Unix(0, int64(binary.BigEndian.Uint64(k[1:9]))), Account: d.str(), Actor: d.str(), Action: d.str(), Mailbox: d.str(), Detail: d.str()}
				return d.err
			}); err != nil {
				return fmt.Errorf("audit record: %w", err)
			}
			if f.Account != "" && !strings.EqualFold(f.Account, r.Account) || f.Actor != "" && !strings.EqualFold(f.Actor, r.Actor) {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// PruneAudit removes the records made before the given time.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	var keys [][]byte
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindAudit}})
		defer it.Close()
		end := binary.BigEndian.AppendUint64([]byte{kindAudit}, uint64(before.UnixNano()))
		for it.Rewind(); it.Valid() && string(it.Item().Key()) < string(end); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	err = inBatches(keys, purgeBatch, func(batch [][]byte) error {
		return s.update(ctx, nil, func(tx *txn) error {
			for _, k := range batch {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return len(keys), err
}
