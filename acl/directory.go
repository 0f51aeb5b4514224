package acl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Sentinel errors of the directory and the rights engine.
var (
	// ErrAuthFailed is returned for any failed login, whether the account
	// exists or not, so callers cannot tell the two apart.
	ErrAuthFailed = errors.New("authentication failed")
	// ErrDenied is returned when an action is not allowed.
	ErrDenied = errors.New("permission denied")
	// ErrNoAccount is returned for an address that names no account.
	ErrNoAccount = errors.New("no such account")
)

// Plan is a subscription plan.
type Plan struct {
	Name        string
	Share       bool  // may grant others access
	MaxGrantees int   // 0: unlimited
	Quota       int64 // bytes; 0: unlimited
	MaxMessages int64 // messages; 0: unlimited
}

// AccountSpec declares an account, as the operator wrote it.
type AccountSpec struct {
	Address      string
	PasswordHash string // empty: cannot log in
	SCRAMSHA256  string // empty: no SCRAM-SHA-256 login (scram.go)
	Plan         string
	Groups       []string
	Aliases      []string
	Team         bool
}

// Account is a resolved account. Its address is canonical: as the operator
// wrote it, with the domain lower-cased.
type Account struct {
	Address string
	Aliases []string
	Plan    Plan
	Groups  []string // sorted
	Team    bool

	hash  hasher     // nil: cannot log in
	scram *SCRAMKeys // nil: no SCRAM-SHA-256
}

// CanLogin reports whether the account has a password.
func (a *Account) CanLogin() bool { return a.hash != nil }

// InGroup reports whether the account belongs to group g.
func (a *Account) InGroup(g string) bool {
	_, ok := slices.BinarySearch(a.Groups, g)
	return ok
}

// SharesGroupWith reports whether a and b have a group in common.
func (a *Account) SharesGroupWith(b *Account) bool {
	for _, g := range a.Groups {
		if b.InGroup(g) {
			return true
		}
	}
	return false
}

// Directory is an immutable view of the accounts, plans and groups of one
// configuration. A reload builds a new Directory and swaps it in whole.
type Directory struct {
	accounts []*Account          // in declaration order
	byAddr   map[string]*Account // folded address or alias -> account
	groups   map[string]bool
	shares   []Share
	dummy    hasher // verified against when no account matches
}

// Share is an operator-managed grant from the configuration.
type Share struct {
	Owner   string // account address
	Mailbox string // empty: every mailbox of Owner
	Grantee string // address, group:NAME, anyone; "-" prefix negates
	Rights  string
	// Send is how a grantee's mail as Owner's address shows: "as" (or
	// empty: nothing names the member) or "on-behalf" (a Sender: field
	// names the member, as Exchange's send-on-behalf does).
	Send string
	// Seen is how \Seen is kept on the shared mailboxes: SeenShared,
	// SeenPrivate or empty (the default; see PrivateSeen).
	Seen string
}

// NewDirectory builds a directory. It checks what it relies on (unique
// addresses, known plans, parsable hashes); the config package reports the
// operator-facing details first.
func NewDirectory(specs []AccountSpec, plans []Plan, groups []string, shares []Share) (*Directory, error) {
	d := &Directory{
		byAddr: map[string]*Account{},
		groups: map[string]bool{},
		shares: slices.Clone(shares),
	}
	for _, g := range groups {
		d.groups[g] = true
	}
	planByName := map[string]Plan{}
	for _, p := range plans {
		planByName[p.Name] = p
	}
	for _, s := range specs {
		addr, err := CanonicalAddress(s.Address)
		if err != nil {
			return nil, err
		}
		plan, ok := planByName[s.Plan]
		if !ok {
			return nil, fmt.Errorf("account %s: unknown plan %q", addr, s.Plan)
		}
		a := &Account{Address: addr, Plan: plan, Team: s.Team, Groups: slices.Clone(s.Groups)}
		slices.Sort(a.Groups)
		if s.PasswordHash != "" {
			if a.hash, err = parseHash(s.PasswordHash); err != nil {
				return nil, fmt.Errorf("account %s: %w", addr, err)
			}
		}
		if s.SCRAMSHA256 != "" {
			k, err := ParseSCRAMCredential(s.SCRAMSHA256)
			if err != nil {
				return nil, fmt.Errorf("account %s: %w", addr, err)
			}
			a.scram = &k
		}
		for _, g := range a.Groups {
			if !d.groups[g] {
				return nil, fmt.Errorf("account %s: unknown group %q", addr, g)
			}
		}
		names := []string{addr}
		for _, al := range s.Aliases {
			c, err := CanonicalAddress(al)
			if err != nil {
				return nil, fmt.Errorf("account %s: alias: %w", addr, err)
			}
			a.Aliases = append(a.Aliases, c)
			names = append(names, c)
		}
		for _, n := range names {
			f := Fold(n)
			if _, dup := d.byAddr[f]; dup {
				return nil, fmt.Errorf("address %s is used twice", n)
			}
			d.byAddr[f] = a
		}
		d.accounts = append(d.accounts, a)
	}
	// A fixed hash to verify against when the account is unknown, so that a
	// failed login takes the same time either way.
	dummy, err := HashPassword("mailroom-dummy")
	if err != nil {
		return nil, err
	}
	d.dummy, _ = parseHash(dummy)
	return d, nil
}

// Accounts returns every account in declaration order.
func (d *Directory) Accounts() []*Account { return d.accounts }

// Shares returns the operator's grants.
func (d *Directory) Shares() []Share { return d.shares }

// HasGroup reports whether group g is defined.
func (d *Directory) HasGroup(g string) bool { return d.groups[g] }

// Lookup finds the account an address or alias belongs to. The domain is
// matched case-insensitively and so is the local part; the account's
// canonical address keeps the case the operator wrote.
func (d *Directory) Lookup(addr string) (*Account, bool) {
	a, ok := d.byAddr[Fold(addr)]
	return a, ok
}

// Authenticate checks a login. It returns ErrAuthFailed for an unknown
// address, an account without a password and a wrong password alike, and
// spends the same hashing work in each case.
func (d *Directory) Authenticate(addr, password string) (*Account, error) {
	a, ok := d.Lookup(addr)
	if !ok || a.hash == nil {
		d.dummy.verify(password)
		return nil, ErrAuthFailed
	}
	if !a.hash.verify(password) {
		return nil, ErrAuthFailed
	}
	return a, nil
}

// CanonicalAddress checks that addr is local@domain and returns it with the
// domain lower-cased and the local part as written.
func CanonicalAddress(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", fmt.Errorf("%q is not an address", addr)
	}
	return addr[:at] + "@" + strings.ToLower(addr[at+1:]), nil
}

// Fold returns the comparison form of an address: lower-cased throughout.
func Fold(addr string) string { return strings.ToLower(addr) }

// Live holds the current Directory. cmd swaps in a new one on reload;
// sessions load it once per command, so each command sees one consistent
// configuration. It also owns what outlives one directory: the bound on
// concurrent password hashes and the cache of verified credentials.
type Live struct {
	p     atomic.Pointer[Directory]
	gate  *hashGate
	cache *credCache
	// scramSecret makes the SCRAM salts of unknown names (scram.go).
	scramSecret [32]byte
}

// LiveOptions tune the login checks of a Live; zero values take the
// defaults.
type LiveOptions struct {
	// MaxHashes bounds the password hashes computed at once; default
	// GOMAXPROCS (argon2id is CPU-bound: more at once would only add
	// memory, 19 MiB each).
	MaxHashes int
	// CredentialTTL is how long a verified password is remembered
	// (default DefaultCredentialTTL; negative: never), CredentialCache
	// how many are (default DefaultCredentialCache).
	CredentialTTL   time.Duration
	CredentialCache int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewLive returns a Live holding d, with the default login options.
func NewLive(d *Directory) *Live { return NewLiveWith(d, LiveOptions{}) }

// NewLiveWith returns a Live holding d.
func NewLiveWith(d *Directory, o LiveOptions) *Live {
	if o.MaxHashes <= 0 {
		o.MaxHashes = runtime.GOMAXPROCS(0)
	}
	if o.CredentialTTL == 0 {
		o.CredentialTTL = DefaultCredentialTTL
	}
	if o.CredentialCache == 0 {
		o.CredentialCache = DefaultCredentialCache
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Live{gate: newHashGate(o.MaxHashes), cache: newCredCache(o.CredentialTTL, o.CredentialCache, o.Now)}
	rand.Read(l.scramSecret[:])
	l.p.Store(d)
	return l
}

// Load returns the current directory.
func (l *Live) Load() *Directory { return l.p.Load() }

// Store swaps in a new directory and forgets every verified credential,
// so a changed or removed password stops working at once.
func (l *Live) Store(d *Directory) {
	l.p.Store(d)
	l.cache.clear()
}

// Authenticate checks a login against the current directory, as
// Directory.Authenticate does, but answers a login verified within the
// credential TTL from the cache, and otherwise waits for a free hashing
// slot (returning ctx's error if it ends first: the client went away).
func (l *Live) Authenticate(ctx context.Context, addr, password string) (*Account, error) {
	d := l.Load()
	known, ok := d.Lookup(addr)
	cached := func() bool { return ok && known.hash != nil && l.cache.has(known, password) }
	if cached() {
		return known, nil
	}
	if err := l.gate.acquire(ctx); err != nil {
		return nil, err
	}
	defer l.gate.release()
	// A login storm of one client's connections: the first to get a slot
	// verifies, the others find its result here.
	if cached() {
		return known, nil
	}
	var a *Account
	var err error
	l.gate.measure(func() { a, err = d.Authenticate(addr, password) })
	if err == nil {
		l.cache.add(a, password)
	}
	return a, err
}

// HashStats counts the password hashes computed through l.
func (l *Live) HashStats() HashStats { return l.gate.stats() }
