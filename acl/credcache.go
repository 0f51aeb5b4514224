package acl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// Verified-credential cache defaults: how long a verified password is
// taken on trust, and how many are remembered.
const (
	DefaultCredentialTTL   = 5 * time.Minute
	DefaultCredentialCache = 10_000
)

// credCache remembers recently verified logins, so that a client that
// reconnects every few seconds (as IMAP clients do, several connections
// at a time) costs a map lookup rather than an argon2id computation.
//
// It never holds a password: an entry is keyed by the account (the
// *Account of the directory that verified it, so a reloaded directory
// with a new hash never matches an old entry) and an HMAC-SHA256 of the
// password under a key drawn at random per process, which is useless
// outside this process's memory. Only successes are remembered; entries
// expire after ttl and all go when the directory is replaced.
type credCache struct {
	key [32]byte
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[credKey]time.Time // expiry
}

type credKey struct {
	account *Account
	mac     [sha256.Size]byte
}

func newCredCache(ttl time.Duration, size int, now func() time.Time) *credCache {
	c := &credCache{ttl: ttl, max: size, now: now, entries: map[credKey]time.Time{}}
	rand.Read(c.key[:]) // never fails (crypto/rand panics rather)
	return c
}

func (c *credCache) keyFor(a *Account, password string) credKey {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(a.Address))
	m.Write([]byte{0})
	m.Write([]byte(password))
	k := credKey{account: a}
	m.Sum(k.mac[:0])
	return k
}

// has reports whether password was verified for a within the ttl.
func (c *credCache) has(a *Account, password string) bool {
	if c.ttl <= 0 || c.max <= 0 {
		return false
	}
	k := c.keyFor(a, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[k]
	if ok && c.now().After(exp) {
		delete(c.entries, k)
		return false
	}
	return ok
}

// add remembers that password was verified for a.
func (c *credCache) add(a *Account, password string) {
	if c.ttl <= 0 || c.max <= 0 {
		return
	}
	k := c.keyFor(a, password)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[k] = now.Add(c.ttl)
}

// evictLocked drops expired entries, or failing that the one closest to
// expiry, to make room for one more.
func (c *credCache) evictLocked(now time.Time) {
	var oldest credKey
	var oldestExp time.Time
	for k, exp := range c.entries {
		if now.After(exp) {
			delete(c.entries, k)
			continue
		}
		if oldestExp.IsZero() || exp.Before(oldestExp) {
			oldest, oldestExp = k, exp
		}
	}
	if len(c.entries) >= c.max {
		delete(c.entries, oldest)
	}
}

// clear forgets everything.
func (c *credCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

func (c *credCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
