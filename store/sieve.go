package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"
)

// Sieve scripts (RFC 5228) per account, at most one active, and the
// "already done" marks Sieve needs: vacation replies sent (RFC 5230
// §4.2), duplicate ids (RFC 7352), script-error notices.
//
// The key kinds live here, not in enc.go, so that this file is the whole
// feature; they are spaced away from enc.go's sequence so that new kinds
// there do not collide.
const (
	kindSieveScript byte = 0x20 // kindSieveScript|account|0|name -> script source
	kindSieveActive byte = 0x21 // kindSieveActive|account|0 -> name of the active script
	kindSieveMark   byte = 0x22 // kindSieveMark|account|0|key -> expiry (unix seconds, uint64)
	kindSRSSecret   byte = 0x23 // kindSRSSecret -> 32 random bytes (SRSSecret)
)

// Limits on what an account may store (RFC 5804 §2.3 HAVESPACE answers
// from these).
const (
	MaxSieveScripts    = 32
	MaxSieveScriptSize = 256 << 10
	MaxSieveNameLen    = 128
)

var (
	ErrNoScript       = errors.New("no such script")
	ErrScriptExists   = errors.New("script already exists")
	ErrScriptActive   = errors.New("script is active")
	ErrBadScriptName  = errors.New("invalid script name")
	ErrTooManyScripts = errors.New("too many scripts")
	ErrScriptTooLarge = errors.New("script too large")
)

// SieveScript names a stored script.
type SieveScript struct {
	Name   string
	Active bool
}

// ValidSieveName: RFC 5804 §1.6 forbids control characters (and any
// non-UTF-8) in names; we also bound the length and forbid "/".
func ValidSieveName(name string) bool {
	if name == "" || len(name) > MaxSieveNameLen || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || r == '/' {
			return false
		}
	}
	return true
}

func sieveActiveKey(account string) []byte { return accountKey(kindSieveActive, account) }

// ListSieveScripts returns the account's scripts sorted by name.
func (s *Store) ListSieveScripts(ctx context.Context, account string) ([]SieveScript, error) {
	var out []SieveScript
	err := s.view(func(tx *badger.Txn) error {
		active, _, err := getValue(tx, sieveActiveKey(account))
		if err != nil {
			return err
		}
		prefix := accountKey(kindSieveScript, account)
		it := tx.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			name := string(it.Item().Key()[len(prefix):])
			out = append(out, SieveScript{Name: name, Active: name == string(active)})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// GetSieveScript returns a script's source.
func (s *Store) GetSieveScript(ctx context.Context, account, name string) (string, error) {
	var src string
	err := s.view(func(tx *badger.Txn) error {
		v, ok, err := getValue(tx, nameKey(kindSieveScript, account, name))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoScript
		}
		src = string(v)
		return nil
	})
	return src, err
}

// ActiveSieveScript returns the active script's name and source, or
// ok=false when the account has none.
func (s *Store) ActiveSieveScript(ctx context.Context, account string) (name, src string, ok bool, err error) {
	err = s.view(func(tx *badger.Txn) error {
		n, found, err := getValue(tx, sieveActiveKey(account))
		if err != nil || !found {
			return err
		}
		v, found, err := getValue(tx, nameKey(kindSieveScript, account, string(n)))
		if err != nil || !found {
			return err
		}
		name, src, ok = string(n), string(v), true
		return nil
	})
	return name, src, ok, err
}

// CheckSieveSpace reports whether a script of size bytes named name
// would fit (RFC 5804 §2.3).
func (s *Store) CheckSieveSpace(ctx context.Context, account, name string, size int64) error {
	if size > MaxSieveScriptSize {
		return ErrScriptTooLarge
	}
	return s.view(func(tx *badger.Txn) error {
		_, exists, err := getValue(tx, nameKey(kindSieveScript, account, name))
		if err != nil || exists {
			return err
		}
		return checkScriptCount(tx, account)
	})
}

func checkScriptCount(tx *badger.Txn, account string) error {
	n := 0
	it := tx.NewIterator(badger.IteratorOptions{Prefix: accountKey(kindSieveScript, account)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	if n >= MaxSieveScripts {
		return ErrTooManyScripts
	}
	return nil
}

// PutSieveScript stores (creates or replaces) a script. The caller has
// compiled it: the store does not judge the source.
func (s *Store) PutSieveScript(ctx context.Context, account, name, src string) error {
	if !ValidSieveName(name) {
		return ErrBadScriptName
	}
	if len(src) > MaxSieveScriptSize {
		return ErrScriptTooLarge
	}
	return s.update(ctx, nil, func(tx *txn) error {
		key := nameKey(kindSieveScript, account, name)
		_, exists, err := getValue(tx.Txn, key)
		if err != nil {
			return err
		}
		if !exists {
			if err := checkScriptCount(tx.Txn, account); err != nil {
				return err
			}
		}
		return tx.Set(key, []byte(src))
	})
}

// DeleteSieveScript removes a script; the active one cannot be deleted
// (RFC 5804 §2.10).
func (s *Store) DeleteSieveScript(ctx context.Context, account, name string) error {
	return s.update(ctx, nil, func(tx *txn) error {
		key := nameKey(kindSieveScript, account, name)
		if _, ok, err := getValue(tx.Txn, key); err != nil || !ok {
			if err == nil {
				err = ErrNoScript
			}
			return err
		}
		active, _, err := getValue(tx.Txn, sieveActiveKey(account))
		if err != nil {
			return err
		}
		if string(active) == name {
			return ErrScriptActive
		}
		return tx.Delete(key)
	})
}

// RenameSieveScript renames a script, keeping it active if it was
// (RFC 5804 §2.11.1).
func (s *Store) RenameSieveScript(ctx context.Context, account, from, to string) error {
	if !ValidSieveName(to) {
		return ErrBadScriptName
	}
	return s.update(ctx, nil, func(tx *txn) error {
		src, ok, err := getValue(tx.Txn, nameKey(kindSieveScript, account, from))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoScript
		}
		if _, exists, err := getValue(tx.Txn, nameKey(kindSieveScript, account, to)); err != nil || exists {
			if err == nil {
				err = ErrScriptExists
			}
			return err
		}
		if err := tx.Delete(nameKey(kindSieveScript, account, from)); err != nil {
			return err
		}
		if err := tx.Set(nameKey(kindSieveScript, account, to), src); err != nil {
			return err
		}
		active, _, err := getValue(tx.Txn, sieveActiveKey(account))
		if err != nil {
			return err
		}
		if string(active) == from {
			return tx.Set(sieveActiveKey(account), []byte(to))
		}
		return nil
	})
}

// SetActiveSieveScript makes name the active script; "" deactivates
// all (RFC 5804 §2.8).
func (s *Store) SetActiveSieveScript(ctx context.Context, account, name string) error {
	return s.update(ctx, nil, func(tx *txn) error {
		if name == "" {
			return tx.Delete(sieveActiveKey(account))
		}
		if _, ok, err := getValue(tx.Txn, nameKey(kindSieveScript, account, name)); err != nil || !ok {
			if err == nil {
				err = ErrNoScript
			}
			return err
		}
		return tx.Set(sieveActiveKey(account), []byte(name))
	})
}

// SieveMarked reports whether key is marked for the account and not
// expired.
func (s *Store) SieveMarked(ctx context.Context, account, key string) (bool, error) {
	var marked bool
	err := s.view(func(tx *badger.Txn) error {
		v, ok, err := getValue(tx, nameKey(kindSieveMark, account, key))
		if err != nil || !ok || len(v) != 8 {
			return err
		}
		marked = time.Unix(int64(binary.BigEndian.Uint64(v)), 0).After(s.now())
		return nil
	})
	return marked, err
}

// SieveMark marks key for period unless it is already marked (then it
// returns false), atomically: two deliveries racing for one vacation
// reply send one. renew extends an existing mark (duplicate :last).
func (s *Store) SieveMark(ctx context.Context, account, key string, period time.Duration, renew bool) (bool, error) {
	if len(key) > 1024 {
		return false, fmt.Errorf("sieve mark: key too long")
	}
	var fresh bool
	err := s.update(ctx, nil, func(tx *txn) error {
		fresh = false
		k := nameKey(kindSieveMark, account, key)
		now := s.now()
		v, ok, err := getValue(tx.Txn, k)
		if err != nil {
			return err
		}
		if ok && len(v) == 8 && time.Unix(int64(binary.BigEndian.Uint64(v)), 0).After(now) && !renew {
			return nil
		}
		fresh = !ok || len(v) != 8 || !time.Unix(int64(binary.BigEndian.Uint64(v)), 0).After(now)
		exp := binary.BigEndian.AppendUint64(nil, uint64(now.Add(period).Unix()))
		// Badger's TTL removes the mark for us some time after it expires.
		return tx.SetEntry(badger.NewEntry(k, exp).WithTTL(period + time.Hour))
	})
	return fresh, err
}

// SRSSecret returns the server's key for the Sender Rewriting Scheme of
// redirected mail, made on first use and kept, so that a bounce arriving
// after a restart is still recognised.
func (s *Store) SRSSecret(ctx context.Context) ([]byte, error) {
	var secret []byte
	err := s.update(ctx, nil, func(tx *txn) error {
		v, ok, err := getValue(tx.Txn, []byte{kindSRSSecret})
		if err != nil {
			return err
		}
		if ok && len(v) == 32 {
			secret = v
			return nil
		}
		secret = make([]byte, 32)
		rand.Read(secret)
		return tx.Set([]byte{kindSRSSecret}, secret)
	})
	return secret, err
}
