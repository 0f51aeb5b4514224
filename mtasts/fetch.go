package mtasts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// fetchTimeout bounds a policy fetch (RFC 8461 §3.3 suggests a minute at
// most).
const fetchTimeout = time.Minute

// TXTResolver looks up TXT records.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Fetcher finds the policy of a domain: the _mta-sts TXT record, then the
// policy over HTTPS when its id changed, kept for its max_age. It is safe
// for concurrent use.
type Fetcher struct {
	Resolver TXTResolver
	// Client fetches policies; nil means one with a one-minute timeout.
	// Redirects are never followed (RFC 8461 §3.3).
	Client *http.Client
	Now    func() time.Time
	Logger *slog.Logger

	mu    sync.Mutex
	cache map[string]*entry
}

type entry struct {
	policy  *Policy
	id      string
	expires time.Time
}

// Lookup returns the policy in force for domain, nil when there is none.
// A failed lookup or fetch falls back to the cached policy while it is
// fresh (RFC 8461 §5.1), else to none: delivery then goes on as without
// MTA-STS.
func (f *Fetcher) Lookup(ctx context.Context, domain string) *Policy {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := f.now()
	f.mu.Lock()
	cached := f.cache[domain]
	f.mu.Unlock()
	if cached != nil && !now.Before(cached.expires) {
		cached = nil
	}
	txts, err := f.Resolver.LookupTXT(ctx, "_mta-sts."+domain+".")
	id, ok := "", false
	if err == nil {
		id, ok = recordID(txts)
	}
	if !ok || (cached != nil && cached.id == id) {
		return cached.get()
	}
	p, err := f.fetch(ctx, domain)
	if err != nil {
		f.logger().Warn("mta-sts policy fetch failed", "domain", domain, "err", err)
		return cached.get()
	}
	f.mu.Lock()
	if f.cache == nil {
		f.cache = map[string]*entry{}
	}
	f.cache[domain] = &entry{policy: p, id: id, expires: now.Add(time.Duration(p.MaxAge) * time.Second)}
	f.mu.Unlock()
	return p
}

func (e *entry) get() *Policy {
	if e == nil {
		return nil
	}
	return e.policy
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

// recordID is the id of the one STS record among txts (RFC 8461 §3.1).
func recordID(txts []string) (string, bool) {
	id, n := "", 0
	for _, t := range txts {
		fields := strings.Split(t, ";")
		if strings.TrimSpace(fields[0]) != "v=STSv1" {
			continue
		}
		n++
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(strings.TrimSpace(f), "id="); ok {
				id = v
			}
		}
	}
	if n != 1 || id == "" || len(id) > 32 {
		return "", false
	}
	return id, true
}

// fetch gets https://mta-sts.<domain>/.well-known/mta-sts.txt.
func (f *Fetcher) fetch(ctx context.Context, domain string) (*Policy, error) {
	client := f.Client
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("redirects are not followed") }
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("content type %q, not text/plain", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicyBytes+1))
	if err != nil {
		return nil, err
	}
	return Parse(body)
}
