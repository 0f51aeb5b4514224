package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options configures a Store.
type Options struct {
	// Dir is the data directory; the database lives in Dir itself.
	Dir string
	// Logger receives Badger's warnings and the store's own messages.
	Logger *slog.Logger
	// OnChange, if set, is called after every commit with what changed,
	// in commit order per mailbox, while that mailbox's write lock is
	// held: it must not block or call back into the store's writers.
	OnChange func(Change)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MinFreeBytes is the free space the data directory's filesystem must
	// keep: writes that add content are refused with ErrNoSpace below it.
	// Badger memory-maps its files, and a write into a full filesystem
	// kills the process (SIGBUS) instead of failing, so the reserve must
	// cover what Badger writes besides the message itself. 0: no check.
	MinFreeBytes int64
	// Derive, if set, computes data kept with each new message body (as
	// SetBodyInfo would), in the transaction that stores the body: what
	// every reader would otherwise compute at first use (IMAP's header
	// summary and ENVELOPE). It must be fast and must not call the store.
	Derive func(body []byte) []Derived
	// AuditRetention is how long audit records are kept; 0 means
	// DefaultAuditRetention.
	AuditRetention time.Duration
	// ExpungeRetention is how long a record of each expunge is kept for
	// clients resynchronising (QRESYNC); 0 means DefaultExpungeRetention.
	ExpungeRetention time.Duration
	// MappedBudget bounds the value log's pages resident in the process
	// (see resident.go); 0 means DefaultMappedBudget, negative no bound.
	MappedBudget int64
}

// Store is Mailroom's database. All methods are safe for concurrent use.
type Store struct {
	dir      string
	minFree  atomic.Int64
	db       *badger.DB
	log      *slog.Logger
	onChange func(Change)
	now      func() time.Time

	mu    sync.Mutex
	locks map[MailboxID]*mailboxLock

	gcStop chan struct{}
	gcDone chan struct{}
	// trimDone is closed when trimLoop has returned.
	trimDone chan struct{}

	expungeRetention time.Duration
	auditRetention   time.Duration
	derive           func(body []byte) []Derived
	bodyIDs          *badger.Sequence

	// bodyReads counts message contents read (BodyReads), streamed those
	// WriteContent wrote (Streamed).
	bodyReads atomic.Uint64
	streamed  atomic.Uint64

	// chunkSize is the size of body chunks, bodyChunk; tests set it
	// smaller to reach Badger's transaction limits with little data.
	chunkSize int

	// gate lets Close wait for operations in progress and refuse new ones.
	gate     sync.RWMutex
	closed   bool
	auditSeq atomic.Uint32 // orders audit records of the same nanosecond
}

// ErrClosed is returned by operations on a closed store.
var ErrClosed = errors.New("store is closed")

// enter admits an operation unless the store is closed; the caller must
// call the returned func when done.
func (s *Store) enter() (func(), error) {
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return nil, ErrClosed
	}
	return s.gate.RUnlock, nil
}

type mailboxLock struct {
	mu   sync.Mutex
	refs int
}

// Open opens (creating if needed) the database in opts.Dir. A second
// process opening the same directory gets ErrLocked.
func Open(ctx context.Context, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	bopts := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log}).
		WithValueThreshold(4 << 10).
		// Memtables of 8 MiB: Badger builds a memtable's arena and, when
		// flushing it, the table from it in Go memory, so a flush holds
		// about three times this at once; 16 MiB put the live heap
		// past 60 MB under load. It also sets the largest transaction
		// (about an eighth of it): COPY, MOVE and expunge split theirs
		// (inBatches).
		WithMemTableSize(8 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(16 << 20).
		WithValueLogFileSize(valueLogFileSize).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithCompression(options.Snappy) // ZSTD saves ~1% on disk but slows SELECT by a third
	db, err := badger.Open(bopts)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("open %s: %w", opts.Dir, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", opts.Dir, err)
	}
	s := &Store{
		dir:      opts.Dir,
		db:       db,
		log:      log,
		onChange: opts.OnChange,
		now:      opts.Now,
		locks:    map[MailboxID]*mailboxLock{},
		gcStop:   make(chan struct{}),
		gcDone:   make(chan struct{}),
		trimDone: make(chan struct{}),

		chunkSize: bodyChunk,

		expungeRetention: opts.ExpungeRetention,
		derive:           opts.Derive,
	}
	if s.expungeRetention <= 0 {
		s.expungeRetention = DefaultExpungeRetention
	}
	if s.auditRetention = opts.AuditRetention; s.auditRetention <= 0 {
		s.auditRetention = DefaultAuditRetention
	}
	s.minFree.Store(opts.MinFreeBytes)
	if s.now == nil {
		s.now = time.Now
	}
	if s.onChange == nil {
		s.onChange = func(Change) {}
	}
	// Finish purging mailboxes whose deletion a crash interrupted.
	if err := s.purgeDeleted(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("resume mailbox purge: %w", err)
	}
	if err := s.buildModSeqIndex(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if s.bodyIDs, err = openBodySequence(db); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.buildUIDBlocks(ctx); err != nil {
		db.Close()
		return nil, err
	}
	go s.gcLoop()
	switch budget := opts.MappedBudget; {
	case budget == 0:
		go s.trimLoop(DefaultMappedBudget)
	case budget > 0:
		go s.trimLoop(budget)
	default:
		close(s.trimDone)
	}
	return s, nil
}

// openBodySequence starts the body ID sequence after the last ID the
// older counter handed out (a store written before the sequence).
func openBodySequence(db *badger.DB) (*badger.Sequence, error) {
	err := db.Update(func(tx *badger.Txn) error {
		if _, ok, err := getValue(tx, bodySequence); err != nil || ok {
			return err
		}
		v, _, err := getValue(tx, metaNextBody)
		if err != nil {
			return err
		}
		var last uint64
		if len(v) == 8 {
			last = binary.BigEndian.Uint64(v)
		}
		return tx.Set(bodySequence, binary.BigEndian.AppendUint64(nil, last+1))
	})
	if err != nil {
		return nil, fmt.Errorf("body sequence: %w", err)
	}
	seq, err := db.GetSequence(bodySequence, 100)
	if err != nil {
		return nil, fmt.Errorf("body sequence: %w", err)
	}
	return seq, nil
}

// Close waits for operations in progress and background work to finish,
// then closes the database. Later operations get ErrClosed.
func (s *Store) Close() error {
	s.gate.Lock()
	if s.closed {
		s.gate.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.gate.Unlock()
	close(s.gcStop)
	<-s.gcDone
	<-s.trimDone
	if s.bodyIDs != nil {
		s.bodyIDs.Release() // the unused rest of the lease is not lost
	}
	return s.db.Close()
}

// gcLoop reclaims value-log space freed by deleted bodies.
func (s *Store) gcLoop() {
	defer close(s.gcDone)
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-s.gcStop:
			return
		case <-t.C:
			s.RunGC()
			if now := s.now(); now.Sub(pruned) >= 24*time.Hour {
				pruned = now
				if n, err := s.PruneExpunged(context.Background(), now.Add(-s.expungeRetention)); err != nil {
					s.log.Warn("pruning expunge records", "err", err)
				} else if n > 0 {
					s.log.Info("pruned expunge records", "records", n)
				}
				if n, err := s.PruneAudit(context.Background(), now.Add(-s.auditRetention)); err != nil {
					s.log.Warn("pruning the audit log", "err", err)
				} else if n > 0 {
					s.log.Info("pruned the audit log", "records", n)
				}
			}
		}
	}
}

// RunGC rewrites value-log files until no file is at least half garbage.
func (s *Store) RunGC() {
	leave, err := s.enter()
	if err != nil {
		return
	}
	defer leave()
	for s.db.RunValueLogGC(0.5) == nil {
	}
}

// Compact rewrites the LSM tree into one level, dropping superseded
// versions of records, and reclaims value-log space freed by deleted
// bodies. It runs alongside normal operation.
func (s *Store) Compact() error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	if err := s.db.Flatten(2); err != nil {
		return err
	}
	for s.db.RunValueLogGC(0.5) == nil {
	}
	return nil
}

// SetMinFreeBytes changes the free-space reserve (Options.MinFreeBytes)
// of a running store, as a configuration reload does.
func (s *Store) SetMinFreeBytes(n int64) { s.minFree.Store(n) }

// RoomFor checks that adding n bytes keeps the free-space reserve; it
// returns ErrNoSpace when it would not.
func (s *Store) RoomFor(n int) error {
	minFree := s.minFree.Load()
	if minFree <= 0 {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return fmt.Errorf("free space of %s: %w", s.dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < minFree+int64(n) {
		s.log.Warn("refusing a write: storage is full", "free_bytes", free, "reserve_bytes", minFree)
		return ErrNoSpace
	}
	return nil
}

// lock takes the write locks of the given mailboxes in ID order, so that
// writers touching several never deadlock, and returns the unlock func.
func (s *Store) lock(ids []MailboxID) func() {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	held := make([]*mailboxLock, len(ids))
	s.mu.Lock()
	for i, id := range ids {
		l := s.locks[id]
		if l == nil {
			l = &mailboxLock{}
			s.locks[id] = l
		}
		l.refs++
		held[i] = l
	}
	s.mu.Unlock()
	for _, l := range held {
		l.mu.Lock()
	}
	return func() {
		for _, l := range held {
			l.mu.Unlock()
		}
		s.mu.Lock()
		for i, id := range ids {
			if held[i].refs--; held[i].refs == 0 {
				delete(s.locks, id)
			}
		}
		s.mu.Unlock()
	}
}

// txn is a write transaction plus the changes to publish once it commits.
type txn struct {
	*badger.Txn
	s       *Store
	origin  any
	changes []Change
	idx     pendingIndex // UID blocks and keyword lists, written at commit
	// seenBy caches, per mailbox, the users with private \Seen state.
	seenBy map[MailboxID][]string
}

// update runs fn in a write transaction holding the given mailboxes' locks,
// retrying on conflicts, and publishes the changes after a durable commit.
func (s *Store) update(ctx context.Context, mailboxes []MailboxID, fn func(tx *txn) error) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	unlock := s.lock(mailboxes)
	defer unlock()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		tx := &txn{Txn: s.db.NewTransaction(true), s: s, origin: ctx.Value(originKey{})}
		err := fn(tx)
		if err == nil {
			err = tx.flushIndex()
		}
		if err == nil {
			err = tx.Commit()
		}
		tx.Discard()
		if errors.Is(err, badger.ErrConflict) && attempt < 100 {
			// Another transaction changed what this one read (an
			// account's usage, a shared body's reference count): retry,
			// after a short random pause once it keeps happening, so
			// writers that keep colliding stop doing it in step.
			if attempt >= 2 {
				time.Sleep(time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(100*time.Microsecond))))
			}
			continue
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			return fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		if err != nil {
			return err
		}
		for _, c := range tx.changes {
			s.onChange(c)
		}
		return nil
	}
}

// inBatches calls do with consecutive batches of at most max items, each
// to be one transaction. A batch Badger finds too large for one
// (ErrTxnTooBig: its messages' bodies had many chunks to write or delete)
// is split in two and retried, down to single items; do must start from
// scratch each time it is called.
func inBatches[T any](items []T, max int, do func([]T) error) error {
	for len(items) > 0 {
		n := min(len(items), max)
		if err := splitTooBig(items[:n], do); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

func splitTooBig[T any](batch []T, do func([]T) error) error {
	err := do(batch)
	if len(batch) > 1 && errors.Is(err, badger.ErrTxnTooBig) {
		half := len(batch) / 2
		if err := splitTooBig(batch[:half], do); err != nil {
			return err
		}
		return splitTooBig(batch[half:], do)
	}
	return err
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(tx *badger.Txn) error) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	return s.db.View(fn)
}

func (tx *txn) publish(c Change) {
	c.Origin = tx.origin
	tx.changes = append(tx.changes, c)
}

type originKey struct{}

// WithOrigin tags the changes a write makes with v, so that a subscriber
// can tell its own changes from others'.
func WithOrigin(ctx context.Context, v any) context.Context {
	return context.WithValue(ctx, originKey{}, v)
}

// getValue returns the value of key, or nil and false if it is absent.
func getValue(tx *badger.Txn, key []byte) ([]byte, bool, error) {
	item, err := tx.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := item.ValueCopy(nil)
	return v, true, err
}

// badgerLogger bridges Badger's logger to slog; Badger's info chatter is
// logged at debug level.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (l badgerLogger) Infof(f string, a ...any) {
	l.log.Log(context.Background(), slog.LevelDebug-4, strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (l badgerLogger) Debugf(f string, a ...any) {
	l.log.Log(context.Background(), slog.LevelDebug-4, strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
