package acl

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2id parameters for new hashes: OWASP's recommended minimum
// (19 MiB, 2 passes, 1 lane), which keeps a burst of logins from eating
// the memory of a small server.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// ErrBadHash is returned for a password hash in no format we know.
var ErrBadHash = errors.New("not a bcrypt or argon2id hash")

// HashPassword returns an argon2id hash of password in the PHC string
// format, which Directory accepts as an account's password hash.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// hasher is a parsed password hash.
type hasher interface {
	verify(password string) bool
}

func parseHash(h string) (hasher, error) {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		return parseArgon2id(h)
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return nil, fmt.Errorf("bcrypt hash: %w", err)
		}
		return bcryptHash(h), nil
	}
	return nil, ErrBadHash
}

type bcryptHash string

func (h bcryptHash) verify(password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) == nil
}

type argon2idHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parseArgon2id(h string) (*argon2idHash, error) {
	// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
	parts := strings.Split(h, "$")
	if len(parts) != 6 {
		return nil, fmt.Errorf("argon2id hash: %w", ErrBadHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return nil, fmt.Errorf("argon2id hash: unsupported version %q", parts[2])
	}
	a := &argon2idHash{}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &a.memory, &a.time, &a.threads); err != nil {
		return nil, fmt.Errorf("argon2id hash: bad parameters %q", parts[3])
	}
	if a.memory == 0 || a.memory > 4<<20 || a.time == 0 || a.time > 100 || a.threads == 0 {
		return nil, fmt.Errorf("argon2id hash: parameters out of range %q", parts[3])
	}
	var err error
	b64 := base64.RawStdEncoding
	if a.salt, err = b64.DecodeString(parts[4]); err != nil || len(a.salt) < 8 {
		return nil, fmt.Errorf("argon2id hash: bad salt")
	}
	if a.key, err = b64.DecodeString(parts[5]); err != nil || len(a.key) < 16 {
		return nil, fmt.Errorf("argon2id hash: bad key")
	}
	return a, nil
}

func (a *argon2idHash) verify(password string) bool {
	key := argon2.IDKey([]byte(password), a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
	return subtle.ConstantTimeCompare(key, a.key) == 1
}

// hashGate bounds the password hashes computed at once. Each argon2id
// check takes its hash's memory (19 MiB for ours) and a core for tens of
// milliseconds, so a login storm unbounded would take gigabytes; past
// the bound, checks wait their turn, and give up when their context ends
// (the client went away).
type hashGate struct {
	slots chan struct{}

	mu      sync.Mutex
	running int
	peak    int
	total   int
}

func newHashGate(n int) *hashGate {
	return &hashGate{slots: make(chan struct{}, max(n, 1))}
}

// acquire takes a slot, waiting for one to be free, or returns ctx's
// error; release gives it back.
func (g *hashGate) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait to check a password: %w", ctx.Err())
	}
}

func (g *hashGate) release() { <-g.slots }

// measure runs verify (holding a slot) and counts it.
func (g *hashGate) measure(verify func()) {
	g.mu.Lock()
	g.running++
	g.total++
	g.peak = max(g.peak, g.running)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.running--
		g.mu.Unlock()
	}()
	verify()
}

// HashStats counts password hashes: running now, the most that ever ran
// at once, and computed in all.
type HashStats struct {
	Running, Peak, Total int
}

func (g *hashGate) stats() HashStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return HashStats{Running: g.running, Peak: g.peak, Total: g.total}
}
