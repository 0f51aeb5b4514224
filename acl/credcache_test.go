package acl

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLiveCredentialCache(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLiveWith(testDirectory(t), LiveOptions{Now: func() time.Time { return now }})
	ctx := context.Background()
	if _, err := l.Authenticate(ctx, "alice@example.test", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if n := l.cache.len(); n != 1 {
		t.Fatalf("%d cached after one success", n)
	}
	// Neither a wrong password nor an unknown name is remembered, and a
	// cached entry does not let a wrong password through.
	for _, tc := range [][2]string{{"alice@example.test", "S3cret"}, {"nobody@example.test", "s3cret"}, {"alice@example.test", ""}} {
		if _, err := l.Authenticate(ctx, tc[0], tc[1]); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s/%q: %v", tc[0], tc[1], err)
		}
	}
	if n := l.cache.len(); n != 1 {
		t.Errorf("%d cached after failures", n)
	}
	// The cache holds no password, in any form but the keyed MAC.
	for k := range l.cache.entries {
		if strings.Contains(string(k.mac[:]), "s3cret") || reflect.TypeOf(k).NumField() != 2 {
			t.Error("cache key holds more than the account and a MAC")
		}
	}
	// A hit spends no hash.
	before := l.gate.total
	if a, err := l.Authenticate(ctx, "sales@example.test", "s3cret"); err != nil || a.Address != "Alice@example.test" {
		t.Fatalf("cached login by alias: %v %v", a, err)
	}
	if l.gate.total != before {
		t.Error("a cached login computed a hash")
	}
	// Expiry.
	now = now.Add(DefaultCredentialTTL + time.Second)
	if l.cache.has(mustLookup(t, l, "alice@example.test"), "s3cret") {
		t.Error("entry outlived its TTL")
	}
	// A reload forgets everything; the new password works, the old not.
	l.Authenticate(ctx, "alice@example.test", "s3cret")
	h, _ := HashPassword("n3w")
	d2, err := NewDirectory([]AccountSpec{{Address: "alice@example.test", PasswordHash: h, Plan: "p"}}, []Plan{{Name: "p"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Store(d2)
	if n := l.cache.len(); n != 0 {
		t.Errorf("%d cached after reload", n)
	}
	if _, err := l.Authenticate(ctx, "alice@example.test", "s3cret"); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("old password after reload: %v", err)
	}
	if _, err := l.Authenticate(ctx, "alice@example.test", "n3w"); err != nil {
		t.Errorf("new password after reload: %v", err)
	}
}

func mustLookup(t *testing.T, l *Live, addr string) *Account {
	t.Helper()
	a, ok := l.Load().Lookup(addr)
	if !ok {
		t.Fatalf("no %s", addr)
	}
	return a
}

func TestCredCacheBounded(t *testing.T) {
	now := time.Unix(0, 0)
	c := newCredCache(time.Minute, 3, func() time.Time { return now })
	a := &Account{Address: "a@x"}
	for _, pw := range []string{"1", "2", "3", "4"} {
		now = now.Add(time.Second)
		c.add(a, pw)
	}
	if c.len() != 3 || c.has(a, "1") || !c.has(a, "4") {
		t.Errorf("bound 3: len %d, oldest kept %v", c.len(), c.has(a, "1"))
	}
}

// TestHashGate: the gate never runs more than its size at once, and a
// waiter whose context ends gives up.
func TestHashGate(t *testing.T) {
	g := newHashGate(2)
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if g.acquire(context.Background()) == nil {
				defer g.release()
				g.measure(func() { started <- struct{}{}; <-release })
			}
		})
	}
	<-started
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.acquire(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("waiter: %v", err)
	}
	close(release)
	wg.Wait()
	if st := g.stats(); st.Peak != 2 || st.Running != 0 || st.Total != 2 {
		t.Errorf("stats %+v", st)
	}
}

// BenchmarkLogin compares a login that computes the argon2id hash with
// one answered from the verified-credential cache.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		l := NewLiveWith(testDirectory(b), LiveOptions{CredentialTTL: -1})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Authenticate(ctx, "alice@example.test", "s3cret"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		l := NewLive(testDirectory(b))
		l.Authenticate(ctx, "alice@example.test", "s3cret")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Authenticate(ctx, "alice@example.test", "s3cret"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLiveLoginStorm: many connections of one client log in at once with
// one password; the first verifies it and the others, having waited for a
// slot, find it in the cache.
func TestLiveLoginStorm(t *testing.T) {
	l := NewLiveWith(testDirectory(t), LiveOptions{MaxHashes: 1})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := l.Authenticate(context.Background(), "alice@example.test", "s3cret"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := l.HashStats(); st.Total != 1 {
		t.Errorf("20 simultaneous logins with one password computed %d hashes, want 1", st.Total)
	}
}
