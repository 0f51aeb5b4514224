package netlimit

import (
	"container/list"
	"net"
	"sync"
	"time"
)

// Failed-login thresholds: how many failures each kind of record absorbs
// before it slows anyone down. A login is delayed by the worst of its
// three records.
const (
	// PairFree: failures of one account name from one client address
	// before that pair is slowed (none: the first failure counts). This is
	// the record that stops one client guessing one password.
	PairFree = 0
	// AccountFree: failures of one account name from all addresses before
	// the name is slowed everywhere, to stop a guess spread over many
	// addresses. High enough that one device with a stale password does
	// not lock its owner's other devices out at once.
	AccountFree = 5
	// AddressFree: failures from one address over all account names before
	// the address itself is slowed. Many people share an address behind
	// NAT, so this only caps guessing across many accounts; it is far
	// above what a few mistyped passwords in an office produce.
	AddressFree = 50
)

// DefaultThrottleSize bounds a throttle's table: past it, the records
// whose last failure is oldest are dropped first.
const DefaultThrottleSize = 100_000

// Throttle slows down repeated failed logins. It keeps three records per
// attempt: the account name with the client's address, the name alone and
// the address alone (IPv6 addresses by their /64, see Client), whether or
// not the account exists. Each failure past a record's free allowance
// doubles its delay, from base up to max; a record is forgotten after 15
// minutes without failures. So a wrong password from one phone behind an
// office NAT slows that phone's account, not a colleague's login from the
// same address.
type Throttle struct {
	mu     sync.Mutex
	fails  map[string]*list.Element // of *failRecord
	order  *list.List               // least recently failed first
	size   int
	base   time.Duration
	max    time.Duration
	forget time.Duration
	now    func() time.Time
}

type failRecord struct {
	key   string
	count int
	last  time.Time
}

// NewThrottle returns a throttle; now nil means time.Now.
func NewThrottle(base, max time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{fails: map[string]*list.Element{}, order: list.New(), size: DefaultThrottleSize,
		base: base, max: max, forget: 15 * time.Minute, now: now}
}

// SetSize changes the bound on the number of records (at least 3).
func (t *Throttle) SetSize(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.size = max(n, 3)
	t.trimLocked()
}

// Len returns the number of records held.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.fails)
}

type throttleKey struct {
	key  string
	free int
}

// keys returns the records an attempt for account from client touches.
func keys(account string, from net.Addr) [3]throttleKey {
	c := Client(from)
	return [3]throttleKey{
		{"p\x00" + account + "\x00" + c, PairFree},
		{"a\x00" + account, AccountFree},
		{"i\x00" + c, AddressFree},
	}
}

// Delay is how long to wait before answering a login attempt for account
// (the folded name as given) from the address from.
func (t *Throttle) Delay(account string, from net.Addr) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, k := range keys(account, from) {
		e := t.fails[k.key]
		if e == nil {
			continue
		}
		r := e.Value.(*failRecord)
		if t.now().Sub(r.last) > t.forget {
			t.order.Remove(e)
			delete(t.fails, k.key)
			continue
		}
		if n := r.count - k.free; n > 0 {
			d = max(d, min(t.base<<min(n-1, 20), t.max))
		}
	}
	return d
}

// Fail records a failed attempt for account from the address from.
func (t *Throttle) Fail(account string, from net.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys(account, from) {
		e := t.fails[k.key]
		if e == nil {
			e = t.order.PushBack(&failRecord{key: k.key})
			t.fails[k.key] = e
		} else {
			t.order.MoveToBack(e)
		}
		r := e.Value.(*failRecord)
		if now.Sub(r.last) > t.forget {
			r.count = 0
		}
		r.count++
		r.last = now
	}
	t.trimLocked()
}

// trimLocked drops forgotten records and, past the size bound, those
// whose last failure is oldest.
func (t *Throttle) trimLocked() {
	now := t.now()
	for e := t.order.Front(); e != nil; e = t.order.Front() {
		r := e.Value.(*failRecord)
		if len(t.fails) <= t.size && now.Sub(r.last) <= t.forget {
			return
		}
		t.order.Remove(e)
		delete(t.fails, r.key)
	}
}

// Succeed clears the record of account from this address. The name's and
// the address's own records stay until they are forgotten: a success
// proves only that this client knows the password.
func (t *Throttle) Succeed(account string, from net.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := keys(account, from)[0].key
	if e := t.fails[k]; e != nil {
		t.order.Remove(e)
		delete(t.fails, k)
	}
}

// Client returns the key of a client address for limits: an IPv4 address
// as text, an IPv6 address by its /64 prefix (one subscriber's usual
// allocation, so a client cannot escape a limit by hopping addresses
// within it), anything else as its text.
func Client(a net.Addr) string {
	if a == nil {
		return ""
	}
	var ip net.IP
	if t, ok := a.(*net.TCPAddr); ok {
		ip = t.IP
	} else if h, _, err := net.SplitHostPort(a.String()); err == nil {
		ip = net.ParseIP(h)
	}
	if ip == nil {
		return a.String()
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}
