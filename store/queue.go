package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The outbound queue: one record per queued message, its content kept as a
// reference-counted body like any stored message.

// ErrNoQueueEntry is returned for a queue ID that does not exist.
var ErrNoQueueEntry = errors.New("no such queue entry")

// QueueID identifies a queued message.
type QueueID uint64

// RcptState is where one recipient of a queued message stands.
type RcptState uint8

const (
	RcptPending   RcptState = iota // still to be delivered
	RcptDelivered                  // accepted by the remote host
	RcptFailed                     // failed permanently or expired; the sender has been told
	// RcptBounceDue failed like RcptFailed, but the bounce telling the
	// sender is not stored yet (the disk was full, say). The outcome is
	// saved first so that the recipient is never tried again; the bounce
	// is retried on its own.
	RcptBounceDue
)

// String names the state for the queue listing.
func (s RcptState) String() string {
	switch s {
	case RcptPending:
		return "waiting"
	case RcptDelivered:
		return "delivered"
	case RcptFailed:
		return "failed"
	case RcptBounceDue:
		return "failed, bounce not yet sent"
	}
	return fmt.Sprintf("state %d", uint8(s))
}

// Notify is a recipient's DSN NOTIFY parameter (RFC 3461 §4.1); zero
// means the client gave none (failures are reported, as by default).
type Notify uint8

const (
	NotifySuccess Notify = 1 << iota
	NotifyFailure
	NotifyDelay
	NotifyNever
)

// Wants reports whether the sender asked to hear of what (a failure
// when nothing was asked).
func (n Notify) Wants(what Notify) bool {
	if n == 0 {
		return what == NotifyFailure
	}
	return n&NotifyNever == 0 && n&what != 0
}

// QueueRcpt is one recipient of a queued message.
type QueueRcpt struct {
	Addr  string
	State RcptState
	// LastError is the last reply or error, as text, for the queue
	// listing and the bounce.
	LastError string
	// Status is the enhanced status code of the failure, e.g. "5.1.1".
	Status string
	// Notify and ORcpt are the DSN parameters the submitter gave for the
	// recipient (RFC 3461): which reports to send, and the original
	// recipient to name in them ("rfc822;addr"). Relayed says the
	// recipient was handed to a host that does not pass DSNs on.
	Notify  Notify
	ORcpt   string
	Relayed bool
}

// QueueEntry is a queued message.
type QueueEntry struct {
	ID       QueueID
	From     string // "" for the null sender (bounces)
	Rcpts    []QueueRcpt
	Created  time.Time
	Next     time.Time // next attempt
	Attempts int
	Size     int64 // of Prefix and the body together
	Body     BodyID
	// Prefix is sent in front of the body (the DKIM-Signature). It is kept
	// outside the body so that the body is the very one the message's
	// local recipients got, stored once.
	Prefix []byte
	// Bounced is set once the sender has been told of the failures.
	Bounced bool
	// Ret and EnvID are the submitter's DSN parameters (RFC 3461): "HDRS"
	// returns only the header in a report, "FULL" the whole message; the
	// envelope ID is quoted in every report. RequireTLS (RFC 8689): the
	// message goes only over verified TLS to hosts that take REQUIRETLS.
	Ret        string
	EnvID      string
	RequireTLS bool
}

// Pending returns the recipients still to be delivered.
func (e *QueueEntry) Pending() []string {
	var out []string
	for _, r := range e.Rcpts {
		if r.State == RcptPending {
			out = append(out, r.Addr)
		}
	}
	return out
}

// BounceDue returns the failed recipients whose sender is still to be told.
func (e *QueueEntry) BounceDue() []QueueRcpt {
	var out []QueueRcpt
	for _, r := range e.Rcpts {
		if r.State == RcptBounceDue {
			out = append(out, r)
		}
	}
	return out
}

// Done reports whether nothing is left to do for the entry: every
// recipient delivered, or failed with the sender told.
func (e *QueueEntry) Done() bool {
	for _, r := range e.Rcpts {
		if r.State == RcptPending || r.State == RcptBounceDue {
			return false
		}
	}
	return true
}

// Queue record versions: v2 adds the prefix at the end, v3 the DSN and
// REQUIRETLS parameters after it.
const (
	queueRecordV1 = 1
	queueRecordV2 = 2
	queueRecordV3 = 3
)

func (e *QueueEntry) encode() []byte {
	var x enc
	x.byte1(queueRecordV3)
	x.str(e.From)
	x.varint(e.Created.UnixNano())
	x.varint(e.Next.UnixNano())
	x.uvarint(uint64(e.Attempts))
	x.uvarint(uint64(e.Size))
	x.uvarint(uint64(e.Body))
	if e.Bounced {
		x.byte1(1)
	} else {
		x.byte1(0)
	}
	x.uvarint(uint64(len(e.Rcpts)))
	for _, r := range e.Rcpts {
		x.str(r.Addr)
		x.byte1(byte(r.State))
		x.str(r.LastError)
		x.str(r.Status)
	}
	x.bytes(e.Prefix)
	x.str(e.Ret)
	x.str(e.EnvID)
	if e.RequireTLS {
		x.byte1(1)
	} else {
		x.byte1(0)
	}
	for _, r := range e.Rcpts {
		x.byte1(byte(r.Notify))
		x.str(r.ORcpt)
		if r.Relayed {
			x.byte1(1)
		} else {
			x.byte1(0)
		}
	}
	return x.b
}

func decodeQueueEntry(id QueueID, b []byte) (*QueueEntry, error) {
	d := dec{b: b}
	v := d.byte1()
	if v != queueRecordV1 && v != queueRecordV2 && v != queueRecordV3 {
		return nil, fmt.Errorf("queue entry %d: %w (version %d)", id, errCorrupt, v)
	}
	e := &QueueEntry{ID: id}
	e.From = d.str()
	e.Created = time.Unix(0, d.varint())
	e.Next = time.Unix(0, d.varint())
	e.Attempts = int(d.uvarint())
	e.Size = int64(d.uvarint())
	e.Body = BodyID(d.uvarint())
	e.Bounced = d.byte1() == 1
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r := QueueRcpt{Addr: d.str()}
		r.State = RcptState(d.byte1())
		r.LastError = d.str()
		r.Status = d.str()
		e.Rcpts = append(e.Rcpts, r)
	}
	if v >= queueRecordV2 && d.err == nil {
		if p := d.bytes(); len(p) > 0 {
			e.Prefix = append([]byte(nil), p...)
		}
	}
	if v >= queueRecordV3 && d.err == nil {
		e.Ret, e.EnvID, e.RequireTLS = d.str(), d.str(), d.byte1() == 1
		for i := range e.Rcpts {
			if d.err != nil {
				break
			}
			e.Rcpts[i].Notify = Notify(d.byte1())
			e.Rcpts[i].ORcpt = d.str()
			e.Rcpts[i].Relayed = d.byte1() == 1
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("queue entry %d: %w", id, d.err)
	}
	return e, nil
}

func queueKey(id QueueID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindQueue}, uint64(id))
}

// Enqueue stores a message for remote delivery, durably, and returns its
// entry. The message is due at once.
func (s *Store) Enqueue(ctx context.Context, from string, rcpts []string, msg []byte) (*QueueEntry, error) {
	return s.EnqueuePrefixed(ctx, from, rcpts, nil, msg)
}

// EnqueuePrefixed is Enqueue of prefix followed by msg, with msg stored as
// a body of its own: when it was just delivered to local recipients too,
// it is stored once.
func (s *Store) EnqueuePrefixed(ctx context.Context, from string, rcpts []string, prefix, msg []byte) (*QueueEntry, error) {
	tmpl := QueueEntry{From: from}
	for _, r := range rcpts {
		tmpl.Rcpts = append(tmpl.Rcpts, QueueRcpt{Addr: r})
	}
	return s.EnqueueEntry(ctx, &tmpl, prefix, msg)
}

// EnqueueEntry is EnqueuePrefixed with the envelope given as an entry:
// From, the recipients with their DSN parameters, Ret, EnvID and
// RequireTLS are taken from tmpl; the rest is set here.
func (s *Store) EnqueueEntry(ctx context.Context, tmpl *QueueEntry, prefix, msg []byte) (*QueueEntry, error) {
	if len(msg) > maxBodySize || len(prefix) > 1<<20 {
		return nil, ErrTooLarge
	}
	if err := s.RoomFor(len(prefix) + len(msg) + 512); err != nil {
		return nil, err
	}
	hash := sha256.Sum256(msg)
	var e *QueueEntry
	err := s.update(ctx, nil, func(tx *txn) error {
		id, err := tx.nextCounter(metaNextQueue, 1)
		if err != nil {
			return err
		}
		now := tx.s.now()
		body, err := tx.refContent(hash, msg, 1, true)
		if err != nil {
			return err
		}
		e = &QueueEntry{ID: QueueID(id), From: tmpl.From, Created: now, Next: now, Size: int64(len(prefix) + len(msg)), Body: body, Prefix: prefix,
			Ret: tmpl.Ret, EnvID: tmpl.EnvID, RequireTLS: tmpl.RequireTLS}
		for _, r := range tmpl.Rcpts {
			e.Rcpts = append(e.Rcpts, QueueRcpt{Addr: r.Addr, Notify: r.Notify, ORcpt: r.ORcpt})
		}
		return tx.Set(queueKey(e.ID), e.encode())
	})
	return e, err
}

// QueueEntries returns every queued message, oldest first.
func (s *Store) QueueEntries(ctx context.Context) ([]*QueueEntry, error) {
	var out []*QueueEntry
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindQueue}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := QueueID(binary.BigEndian.Uint64(it.Item().Key()[1:]))
			err := it.Item().Value(func(v []byte) error {
				e, err := decodeQueueEntry(id, v)
				if err == nil {
					out = append(out, e)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// UpdateQueueEntry saves an entry's progress. An entry with nothing left
// to do (see Done) is removed with its body reference. It adds no content,
// so it is not refused when the disk is below the free-space reserve:
// recording that recipients were delivered must never wait for space.
func (s *Store) UpdateQueueEntry(ctx context.Context, e *QueueEntry) error {
	return s.update(ctx, nil, func(tx *txn) error {
		v, ok, err := getValue(tx.Txn, queueKey(e.ID))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoQueueEntry
		}
		if e.Done() {
			old, err := decodeQueueEntry(e.ID, v)
			if err != nil {
				return err
			}
			if err := tx.unrefBody(old.Body); err != nil {
				return err
			}
			return tx.Delete(queueKey(e.ID))
		}
		return tx.Set(queueKey(e.ID), e.encode())
	})
}

// QueueContent returns a queued message's bytes, its prefix included.
func (s *Store) QueueContent(ctx context.Context, e *QueueEntry) ([]byte, error) {
	return s.AppendQueueContent(ctx, make([]byte, 0, e.Size), e)
}

// AppendQueueContent is QueueContent appended to dst, for a caller that
// reuses its buffers.
func (s *Store) AppendQueueContent(ctx context.Context, dst []byte, e *QueueEntry) ([]byte, error) {
	return s.AppendContent(ctx, dst, &Message{Body: e.Body, Prefix: e.Prefix, Size: e.Size})
}
