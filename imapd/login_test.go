package imapd

import (
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/acl"
)

// TestLoginDelayNAT: an office behind one address. One phone keeps
// sending a wrong password for alice; bob's correct login from the same
// address is answered without delay, while alice's own attempts from there
// are slowed, and a success clears her record for that address.
func TestLoginDelayNAT(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	try := func(user, pass string) (time.Duration, error) {
		t.Helper()
		c, err := imapclient.DialInsecure(ts.plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Login(user, pass).Wait()
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.sleeps[len(ts.sleeps)-1], err
	}
	for range 10 {
		if _, err := try("alice@example.test", "stale"); respCode(err) != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if d, err := try("bob@example.test", "password"); err != nil || d != 0 {
		t.Fatalf("bob's correct login from the same address: delay %v, %v", d, err)
	}
	if d, err := try("alice@example.test", "password"); err != nil || d != 30*time.Second {
		t.Fatalf("alice's next attempt from the failing address: delay %v, %v", d, err)
	}
}

// TestLoginHashBound: many logins at once never run more password hashes
// at once than the directory's bound; the bound counts in the verifier.
func TestLoginHashBound(t *testing.T) {
	t.Parallel()
	const k, n = 2, 12
	live := acl.NewLiveWith(testDirectory(t), acl.LiveOptions{MaxHashes: k, CredentialTTL: -1})
	ts := newTestServer(t, func(o *Options) { o.Directory = live })
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		c, err := imapclient.DialInsecure(ts.plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pass := "password"
		if i%2 == 1 {
			pass = "wrong"
		}
		user := []string{"alice@example.test", "bob@example.test", "nobody@example.test"}[i%3]
		wg.Go(func() {
			<-start
			c.Login(user, pass).Wait()
		})
	}
	close(start)
	wg.Wait()
	running, peak := live.HashStats()
	if running != 0 || peak < 1 || peak > k {
		t.Fatalf("hashes at once: peak %d (bound %d), still running %d", peak, k, running)
	}
	t.Logf("%d concurrent logins, at most %d hashes at once", n, peak)
}

// BenchmarkLogin measures a whole IMAP connection with LOGIN over the
// socket, with the password hash computed every time (cold) and answered
// from the verified-credential cache (cached).
func BenchmarkLogin(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cold", -1}, {"cached", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			live := acl.NewLiveWith(testDirectory(b), acl.LiveOptions{CredentialTTL: tc.ttl})
			ts := newTestServer(b, func(o *Options) { o.Directory = live })
			b.ReportAllocs()
			for b.Loop() {
				c, err := imapclient.DialInsecure(ts.plain, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Login("alice@example.test", "password").Wait(); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
